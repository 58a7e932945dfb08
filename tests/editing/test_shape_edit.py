"""Editing applied labels by hand: the pure geometry, the Editor's draw/unclick/edit, replay
and exports of point labels."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from engine.editing import shape_edit
from engine.editing.editor import Editor
from engine.editing.events import denormalise_shape, normalise_shape
from engine.errors import EditorStateError, FormatWarning
from engine.ontology import Ontology
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Box, LabelClass, LabelSource, Point, Polygon, shape_from_json, shape_to_json

SAMPLES = Path(__file__).parents[2] / "sample_media"
SQUARE = Polygon(((np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 30.0], [10.0, 30.0]]),),))


def ontology() -> Ontology:
    return Ontology([LabelClass("ball", "polygon", "#ff7f0e", "1"), LabelClass("leaf", "bounding_box", "#2ca02c", "2"),
                     LabelClass("marker", "point", "#9467bd", "3")])


def test_vertex_move_insert_delete_and_hits():
    ref = shape_edit.nearest_vertex(SQUARE, 29.0, 31.0, 3.0)
    assert ref == shape_edit.VertexRef(0, 0, 2)
    moved = shape_edit.move_vertex(SQUARE, ref, 40.0, 35.0)
    assert moved.parts[0][0][2].tolist() == [40.0, 35.0] and SQUARE.parts[0][0][2].tolist() == [30.0, 30.0]
    edge, foot = shape_edit.nearest_edge(SQUARE, 20.0, 11.0, 2.0)
    assert edge.index == 0 and foot == (20.0, 10.0)
    inserted = shape_edit.insert_vertex(SQUARE, edge, *foot)
    assert inserted.parts[0][0].tolist()[:3] == [[10.0, 10.0], [20.0, 10.0], [30.0, 10.0]]
    assert shape_edit.delete_vertex(inserted, shape_edit.VertexRef(0, 0, 1)).parts[0][0].tolist() == SQUARE.parts[0][0].tolist()
    triangle = shape_edit.delete_vertex(SQUARE, shape_edit.VertexRef(0, 0, 0))
    with pytest.raises(EditorStateError, match="at least 3"):
        shape_edit.delete_vertex(triangle, shape_edit.VertexRef(0, 0, 0))
    assert shape_edit.shape_contains(SQUARE, 20, 20) and not shape_edit.shape_contains(SQUARE, 5, 20)
    assert shape_edit.nearest_vertex(SQUARE, 20, 20, 3.0) is None


def test_box_resize_move_and_clip():
    box = Box(10, 10, 30, 20)
    assert shape_edit.nearest_corner(box, 29, 21, 2) == 2
    assert shape_edit.resize_box(box, 2, 40, 25) == Box(10, 10, 40, 25)
    assert shape_edit.resize_box(box, 0, 35, 25) == Box(30, 20, 35, 25)  # dragged past the opposite corner
    assert shape_edit.move_box(box, 5, -3, 100, 100) == Box(15, 7, 35, 17)
    assert shape_edit.move_box(box, 500, 0, 100, 100) == Box(80, 10, 100, 20)  # kept inside
    assert shape_edit.clip_shape(Box(-5, 2, 50, 8), 40, 40) == Box(0, 2, 40, 8)
    with pytest.raises(EditorStateError):
        shape_edit.clip_shape(Box(50, 2, 60, 8), 40, 40)


def test_point_shape_round_trips_json_and_events():
    point = Point(12.5, 7.0)
    assert shape_from_json(shape_to_json(point, decimals=None)) == point
    assert denormalise_shape(normalise_shape(point, 640, 360), 640, 360) == point
    assert normalise_shape(point, 640, 360)["point"] == [(12.5 + 0.5) / 640, 7.5 / 360]


@pytest.fixture
def editor():
    with Editor(ClassicSegmenter(), ontology()) as ed:
        ed.open(SAMPLES / "video.mp4")
        yield ed


def test_draw_edit_and_undo_are_manual_and_confirmed(editor):
    label = editor.draw(SQUARE)
    assert (label.source, label.confirmed, label.class_name) == (LabelSource.MANUAL, True, "ball")
    editor.set_class("marker")
    point = editor.draw(Point(100, 50))
    assert isinstance(point.shape, Point) and point.object_id == label.object_id + 1
    with pytest.raises(EditorStateError, match="cannot give it a Box"):
        editor.draw(Box(0, 0, 5, 5))
    edited = editor.edit_label(label.object_id, shape_edit.move_vertex(SQUARE, shape_edit.VertexRef(0, 0, 0), 5, 5))
    assert edited.source == LabelSource.MANUAL and edited.confirmed
    editor.undo()
    assert editor.store.get(editor.media_name, 0, label.object_id).shape.parts[0][0][0].tolist() == [10.0, 10.0]
    assert editor.log.kinds()[-5:] == ["draw", "class", "draw", "edit", "undo"]


def test_unclick_removes_the_last_prompt_and_restores_the_mask(editor):
    editor.toggle_sam()
    editor.click(102, 180)
    first = editor.selection_mask().copy()
    editor.click(420, 128)
    assert editor.unclick()
    assert editor.selection.points == [(102.0, 180.0)]
    assert np.array_equal(editor.selection_mask(), first)
    assert editor.unclick() and editor.selection.empty and editor.selection_mask() is None
    assert not editor.unclick()
    assert editor.log.kinds().count("unclick") == 2


def test_a_session_with_draws_edits_and_unclicks_replays(editor, tmp_path):
    from engine.media.fingerprint import media_info
    from engine.project import Project
    from engine.sessions.record import SegmenterInfo, parse_session, session_from_log
    from engine.sessions.replay import replay_session

    editor.draw(SQUARE)
    editor.set_class("leaf")
    editor.draw(Box(100, 100, 150, 160))
    editor.edit_label(2, Box(100, 100, 170, 160))
    editor.set_class("marker")
    editor.draw(Point(300, 200))
    editor.set_class("ball")
    editor.toggle_sam()
    editor.click(102, 180)
    editor.click(420, 128)
    editor.unclick()
    editor.apply()
    recorded = sorted((label.object_id, shape_to_json(label.shape, None)) for label in editor.labels())
    info = media_info(editor.source, editor.media_name)
    data = session_from_log(editor.log.events, info, ontology(), SegmenterInfo.of(editor.segmenter, editor.quality))
    session = parse_session(data)
    with Project.create(tmp_path / "p", ontology()) as project:
        with Editor(ClassicSegmenter(), ontology(), project) as again:
            report = replay_session(session, SAMPLES / "video.mp4", again)
            assert not report.skipped
            assert sorted((label.object_id, shape_to_json(label.shape, None)) for label in again.labels()) == recorded


def test_exports_keep_point_labels_or_leave_them_out_with_a_count(tmp_path):
    from engine.formats import dataset_from_project, export_dataset
    from engine.project import Project

    with Project.create(tmp_path / "p", ontology()) as project:
        with Editor(ClassicSegmenter(), ontology(), project) as ed:
            ed.open(SAMPLES / "video.mp4")
            ed.draw(SQUARE)
            ed.set_class("marker")
            ed.draw(Point(5, 5))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = dataset_from_project(project)
            export_dataset(dataset, "coco", tmp_path / "coco")  # COCO keypoints hold the point
        assert not [w for w in caught if issubclass(w.category, FormatWarning)]
        assert len(dataset.labels) == 2
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            export_dataset(dataset, "yolo", tmp_path / "yolo")
        assert [str(w.message) for w in caught if issubclass(w.category, FormatWarning)] == [
            "yolo: 1 point label(s) left out: yolo has no single keypoint "
            "(point labels travel in coco, cvat-video, cvat-images, labelme, label-studio)"]
