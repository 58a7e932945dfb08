"""Timeline marks without a window: which frames an event touches, and a tracker that
re-reads only those."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.editing.editor import Editor
from engine.editing.events import Event
from engine.segment.classic.segmenter import ClassicSegmenter
from tests.ui.gui import BALL_CLICK, SAMPLES, ontology
from ui.marks import MARK_CONFIRMED, MARK_FLAGGED, MARK_PROPAGATED, MarkTracker, frame_runs, touched_frames


def test_touched_frames_per_event_kind():
    media = "clip.mp4"
    assert touched_frames(Event("goto", 4), media) == []
    assert touched_frames(Event("relabel", 4, {"object_id": 1, "class_name": "x"}), media) == []
    assert touched_frames(Event("apply", 4, {"object_id": 1}), media) == [4]
    assert touched_frames(Event("delete", 9, {"object_id": 1}), media) == [9]
    undo = Event("undo", 0, {"labels": [[media, 3, 1], ["other.mp4", 5, 1], [media, 7, 2]]})
    assert touched_frames(undo, media) == [3, 7]
    assert touched_frames(Event("propagate", 10, {"until": 6}), media) == [6, 7, 8, 9, 10]
    assert touched_frames(Event("interpolate", 2, {"frame_a": 2, "frame_b": 5}), media) == [2, 3, 4, 5]
    assert touched_frames(Event("open", None, {"media": media}), media) is None


def test_frame_runs_merge_neighbours_and_cap_the_number_of_queries():
    assert frame_runs([5, 3, 4, 9, 9, 1]) == [(1, 1), (3, 5), (9, 9)]
    assert frame_runs(range(0, 200, 2)) == [(0, 198)]  # 100 separate frames: one query


def test_the_tracker_rereads_only_the_frames_an_editor_call_changed():
    with Editor(ClassicSegmenter(), ontology()) as editor:
        editor.open(SAMPLES / "video.mp4")
        tracker = MarkTracker(editor)
        first = tracker.marks()
        assert first.shape == (48,) and not first.any() and not first.flags.writeable
        assert tracker.frames_read == 48  # the first read covers the media
        editor.goto(5)
        assert tracker.marks() is first and tracker.frames_read == 48  # nothing to re-read
        editor.toggle_sam()
        editor.click(*BALL_CLICK)
        label = editor.apply()
        marks = tracker.marks()
        assert marks is not first and tracker.frames_read == 49
        assert np.flatnonzero(marks).tolist() == [5] and marks[5] == MARK_CONFIRMED
        editor.store.put(replace(label, frame_index=6, source="propagated", confirmed=False))
        editor.store.put(replace(label, frame_index=7, source="propagated", confirmed=False, review=True))
        assert tracker.marks() is marks  # behind the Editor's back: no event, no re-read
        tracker.touch([6, 7])
        marks = tracker.marks()
        assert marks[5:8].tolist() == [MARK_CONFIRMED, MARK_PROPAGATED, MARK_FLAGGED]
        assert tracker.frames_read == 51
        editor.undo()  # the last put (frame 7)
        assert tracker.marks()[5:8].tolist() == [MARK_CONFIRMED, MARK_PROPAGATED, 0]
        assert tracker.frames_read == 52


def test_a_project_answers_the_timeline_and_history_queries_without_shapes(tmp_path):
    from engine.project import Project

    with Project.create(tmp_path / "project", ontology()) as project:
        editor = Editor(ClassicSegmenter(), project.ontology, store=project)
        with editor:
            editor.open(SAMPLES / "video.mp4")
            assert project.history_state() == (False, False)
            editor.toggle_sam()
            editor.click(*BALL_CLICK)
            label = editor.apply()
            for frame_index, review in ((3, False), (4, True)):
                project.put(replace(label, frame_index=frame_index, source="propagated", confirmed=False, review=review))
            media = editor.media_name
            assert project.label_flags(media) == [(0, "sam", False), (3, "propagated", False), (4, "propagated", True)]
            assert project.label_flags(media, 1, 3) == [(3, "propagated", False)]
            assert project.label_flags("other.mp4") == []
            assert project.history_state() == (True, False)
            editor.undo()
            assert project.history_state() == (True, True)
            tracker = MarkTracker(editor)
            assert tracker.marks()[:5].tolist() == [MARK_CONFIRMED, 0, 0, MARK_PROPAGATED, 0]
