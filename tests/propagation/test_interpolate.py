"""Keyframe interpolation: the pure shape functions and `Editor.interpolate`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.editing.editor import Editor
from engine.errors import EditorStateError
from engine.fileio import write_image
from engine.geometry import mask_iou, mask_to_polygon, polygon_to_mask
from engine.propagation.interpolate import interpolate_box, interpolate_labels, interpolate_polygon
from engine.ontology import default_ontology
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Box, Label

H, W = 80, 160
YY, XX = np.mgrid[:H, :W]


def square(x0: int, y0: int = 30, side: int = 20) -> np.ndarray:
    return (XX >= x0) & (XX < x0 + side) & (YY >= y0) & (YY < y0 + side)


def disc(cx: float, cy: float, r: float) -> np.ndarray:
    return (XX - cx) ** 2 + (YY - cy) ** 2 <= r * r


# -- pure functions ---------------------------------------------------------------------
def test_box_interpolation_is_exact():
    a, b = Box(10, 20, 50, 60), Box(30, 0, 90, 40)
    assert interpolate_box(a, b, 0.5) == Box(20, 10, 70, 50)
    assert interpolate_box(a, b, 0.25) == Box(15, 15, 60, 55)
    assert interpolate_box(a, b, 0.0) == a and interpolate_box(a, b, 1.0) == b


@pytest.mark.parametrize("t, x0", [(0.5, 50), (0.25, 30), (0.75, 70)])
def test_a_square_moving_right_is_exactly_in_between(t, x0):
    a, b = mask_to_polygon(square(10)), mask_to_polygon(square(90))  # moves 80 px: far apart
    mid = polygon_to_mask(interpolate_polygon(a, b, t), H, W)
    assert np.array_equal(mid, square(x0))


def test_a_growing_disc_has_the_in_between_radius_and_centre():
    a, b = mask_to_polygon(disc(30, 40, 10)), mask_to_polygon(disc(110, 40, 30))
    mid = polygon_to_mask(interpolate_polygon(a, b, 0.5), H, W)
    assert mask_iou(mid, disc(70, 40, 20)) > 0.93
    ys, xs = np.nonzero(mid)
    assert abs(xs.mean() + 0.5 - 70.5) < 1.0 and abs(ys.mean() + 0.5 - 40.5) < 1.0


def test_holes_survive_interpolation():
    ring = disc(30, 40, 18) & ~disc(30, 40, 7)
    a, b = mask_to_polygon(ring), mask_to_polygon(np.roll(ring, 60, axis=1))
    mid = polygon_to_mask(interpolate_polygon(a, b, 0.5), H, W)
    assert not mid[40, 60]  # the hole's centre, moved 30 px
    assert mask_iou(mid, np.roll(ring, 30, axis=1)) > 0.95


def test_interpolate_labels_marks_source_and_keeps_the_object():
    a = Label(3, 2, "object", Box(0, 0, 10, 10), source="manual", score=1.0)
    b = Label(3, 6, "object", Box(40, 0, 50, 10), source="sam", score=0.5)
    label = interpolate_labels(a, b, 3)
    assert (label.object_id, label.frame_index, label.source, label.confirmed) == (3, 3, "interpolated", False)
    assert label.shape == Box(10, 0, 20, 10) and label.score == pytest.approx(0.875)
    with pytest.raises(ValueError, match="strictly between"):
        interpolate_labels(a, b, 6)


# -- the Editor -------------------------------------------------------------------------
@pytest.fixture()
def editor(tmp_path):
    folder = tmp_path / "clip"
    for frame_index in range(9):
        write_image(folder / f"{frame_index:03d}.png", np.full((H, W, 3), 90 + frame_index, np.uint8))
    editor = Editor(ClassicSegmenter(), default_ontology(), frame_server_options={"window": (0, 0)})
    editor.open(folder)
    yield editor
    editor.close()


def put(editor, frame_index: int, mask: np.ndarray, **fields) -> Label:
    fields = {"source": "manual", **fields}
    label = Label(7, frame_index, "object", mask_to_polygon(mask), media=editor.media_name, **fields)
    editor.store.put(label)
    return label


def test_editor_interpolates_between_keyframes_in_one_undo_step(editor):
    put(editor, 0, square(10))
    put(editor, 8, square(90))
    put(editor, 4, square(10, y0=50))  # a confirmed label in between: kept
    put(editor, 6, square(0), confirmed=False, source="propagated")  # unconfirmed: replaced
    written = editor.interpolate(7, 8, 0)  # either order
    assert [label.frame_index for label in written] == [1, 2, 3, 5, 6, 7]
    for frame_index in (1, 2, 3, 5, 6, 7):
        label = editor.store.get(editor.media_name, frame_index, 7)
        assert label.source == "interpolated" and not label.confirmed
        assert np.array_equal(polygon_to_mask(label.shape, H, W), square(10 + 10 * frame_index))
    assert editor.store.get(editor.media_name, 4, 7).source == "manual"
    event = editor.log.events[-1]
    assert event.kind == "interpolate" and event.data == {"object_id": 7, "frame_a": 0, "frame_b": 8, "changes": 1}
    editor.undo()
    assert editor.store.get(editor.media_name, 1, 7) is None
    assert editor.store.get(editor.media_name, 6, 7).source == "propagated"


def test_editor_refuses_unconfirmed_or_missing_keyframes(editor):
    put(editor, 0, square(10))
    put(editor, 5, square(60), confirmed=False, source="propagated")
    with pytest.raises(EditorStateError, match="not confirmed"):
        editor.interpolate(7, 0, 5)
    with pytest.raises(EditorStateError, match="no label of object 7 on frame 8"):
        editor.interpolate(7, 0, 8)
    assert editor.store.get(editor.media_name, 2, 7) is None


def test_an_interpolate_event_exports_validates_and_replays(editor, tmp_path):
    import json

    import jsonschema

    from engine.media.fingerprint import media_info
    from engine.sessions.replay import replay_session
    from engine.sessions.record import SCHEMA_PATH, SegmenterInfo, parse_session, session_from_log

    keyframes = [put(editor, 0, square(10)), put(editor, 8, square(90))]
    editor.interpolate(7, 0, 8)
    info = media_info(editor.source, editor.media_name)
    data = session_from_log(editor.log.events, info, editor.ontology, SegmenterInfo.of(editor.segmenter, 0.6))
    jsonschema.validate(data, json.loads(Path(SCHEMA_PATH).read_text()))
    session = parse_session(data)
    with Editor(ClassicSegmenter(), default_ontology(), frame_server_options={"window": (0, 0)}) as other:
        for label in keyframes:
            other.store.put(label)
        report = replay_session(session, editor.source, other)
        assert not report.skipped
        assert [label.frame_index for label in report.labels] == list(range(1, 8))
        for label in report.labels:
            original = editor.store.get(editor.media_name, label.frame_index, 7)
            assert label.source == "interpolated" and label.shape.to_json() == original.shape.to_json()
        other.undo()
        assert other.store.labels(other.media_name) == keyframes
