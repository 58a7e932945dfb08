"""Deleting an object on every frame, accepting a flagged label, marking an object outside:
each one undoable step, logged, and replayable from a session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.editing.editor import Editor
from engine.errors import EditorStateError
from engine.ontology import default_ontology
from engine.project.store import Project
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.sessions.record import session_from_log
from engine.types import Box, Label, LabelSource

SAMPLES = Path(__file__).parents[2] / "sample_media"


@pytest.fixture(params=["memory", "project"])
def editor(request, tmp_path):
    folder = tmp_path / "clip"
    folder.mkdir()
    for k in range(8):
        shutil.copy(SAMPLES / "frames" / f"frame_{k}.jpg", folder / f"frame_{k}.jpg")
    store = Project.create(tmp_path / "project", default_ontology()) if request.param == "project" else None
    editor = Editor(ClassicSegmenter(), default_ontology(), store)
    editor.open(folder)
    media = editor.media_name
    box = "box"
    for frame in range(8):  # object 1: confirmed on 0 and 6, propagated between; object 2 on 0..2
        confirmed = frame in (0, 6)
        editor.store.put(Label(1, frame, box, Box(10, 10, 50, 50), LabelSource.SAM if confirmed else LabelSource.PROPAGATED,
                               confirmed=confirmed, review=frame == 3, media=media))
    for frame in range(3):
        editor.store.put(Label(2, frame, box, Box(60, 60, 90, 90), media=media))
    yield editor
    editor.close()
    if store is not None:
        store.close()


def frames_of(editor, object_id):
    return sorted(label.frame_index for label in editor.labels() if label.object_id == object_id)


def test_delete_object_removes_every_frame_in_one_undo_step(editor):
    deleted = editor.delete_object(1)
    assert len(deleted) == 8 and frames_of(editor, 1) == [] and frames_of(editor, 2) == [0, 1, 2]
    assert editor.log.events[-1].kind == "delete_object"
    editor.undo()
    assert frames_of(editor, 1) == list(range(8))
    editor.redo()
    assert frames_of(editor, 1) == []
    with pytest.raises(EditorStateError):
        editor.delete_object(1)


def test_accept_clears_the_flag(editor):
    label = editor.accept_label(1, 3)
    assert not label.review and not editor.store.get(editor.media_name, 3, 1).review
    assert label.source == LabelSource.PROPAGATED
    editor.undo()
    assert editor.store.get(editor.media_name, 3, 1).review


def test_mark_outside_deletes_until_the_next_confirmed_label(editor):
    deleted = editor.mark_outside(1, 3, "occluded")
    assert [label.frame_index for label in deleted] == [3, 4, 5]
    assert frames_of(editor, 1) == [0, 1, 2, 6, 7]
    event = editor.log.events[-1]
    assert (event.kind, event.frame_index, event.data["action"]) == ("review", 3, "occluded")
    editor.undo()
    assert frames_of(editor, 1) == list(range(8))
    with pytest.raises(EditorStateError):
        editor.mark_outside(1, 3, "gone")


def test_the_new_events_export_validate_and_replay(editor):
    import json

    import jsonschema

    from engine.media.fingerprint import media_info
    from engine.sessions.record import SCHEMA_PATH, SegmenterInfo, parse_session
    from engine.sessions.replay import replay_session

    before = editor.labels()
    editor.accept_label(1, 3)
    editor.mark_outside(1, 4)
    editor.delete_object(2)
    info = media_info(editor.source, editor.media_name)
    data = session_from_log(editor.log.events, info, editor.ontology, SegmenterInfo.of(editor.segmenter, 0.6))
    jsonschema.validate(data, json.loads(Path(SCHEMA_PATH).read_text()))
    assert [event["kind"] for event in data["events"]][-3:] == ["review", "review", "delete_object"]
    with Editor(ClassicSegmenter(), default_ontology(), frame_server_options={"window": (0, 0)}) as other:
        for label in before:
            other.store.put(label)
        report = replay_session(parse_session(data), editor.source, other)
        assert not report.skipped
        assert frames_of(other, 1) == frames_of(editor, 1) == [0, 1, 2, 3, 6, 7]
        assert frames_of(other, 2) == [] and not other.store.get(other.media_name, 3, 1).review
