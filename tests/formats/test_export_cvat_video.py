"""CVAT for video 1.1: tracks, keyframes, outside markers, polygons, and export -> import -> export."""

import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

from engine.errors import ExportError
from engine.formats.cvat_import import import_cvat_video
from engine.formats.cvat_video import to_cvat_video
from engine.formats.dataset import Dataset
from engine.formats.writers import export_dataset
from engine.geometry import mask_to_box
from engine.types import Box, Polygon
from tests.formats.test_export_samples import FOLDER, VIDEO, gt_mask, sample_dataset


@pytest.fixture(scope="module")
def dataset():
    return sample_dataset()


@pytest.fixture(scope="module")
def root(dataset):
    return ET.fromstring(to_cvat_video(dataset, VIDEO))


def _tracks(root):
    return {int(t.get("id")): t for t in root.findall("track")}


def _points(text):
    return np.array([[float(v) for v in pair.split(",")] for pair in text.split(";")])


def test_meta_describes_the_task_and_the_labels(root, dataset):
    assert root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert task.findtext("size") == "48"
    assert task.findtext("mode") == "interpolation"
    assert (task.findtext("original_size/width"), task.findtext("original_size/height")) == ("640", "360")
    assert task.findtext("source") == VIDEO
    labels = {l.findtext("name"): l for l in task.findall("labels/label")}
    assert list(labels) == ["ball", "frame", "leaf", "spot"]
    assert [labels[n].findtext("type") for n in labels] == ["polygon", "polygon", "bbox", "points"]  # CVAT LabelType names
    assert labels["ball"].findtext("color") == "#e6194b"
    declared = {a.findtext("name") for a in labels["frame"].findall("attributes/attribute")}
    assert declared == {"source", "score", "confirmed", "review", "note"}


def test_one_track_per_object_with_keyframes_and_outside_markers(root, dataset):
    tracks = _tracks(root)
    assert sorted(tracks) == [0, 1, 2, 3]  # objects 1..4, counted from 0 as CVAT does
    expected_outside = {1: [4, 13], 2: [3, 7], 3: [1, 4, 7, 10], 4: [22]}  # after each run of frames
    for object_id, outside in expected_outside.items():
        track = tracks[object_id - 1]
        shown = [int(e.get("frame")) for e in track if e.get("outside") == "0"]
        labelled = sorted(l.frame_index for l in dataset.labels if l.media == VIDEO and l.object_id == object_id)
        assert shown == labelled
        assert [int(e.get("frame")) for e in track if e.get("outside") == "1"] == outside
        assert all(e.get("keyframe") == "1" for e in track)
        frames = [int(e.get("frame")) for e in track]
        assert frames == sorted(frames)
    assert tracks[2].get("label") == "leaf" and {e.tag for e in tracks[2]} == {"box"}
    assert tracks[0].get("label") == "ball" and {e.tag for e in tracks[0]} == {"polygon"}


def test_shapes_attributes_and_dropped_holes(root, dataset):
    tracks = _tracks(root)
    shapes = {(l.object_id, l.frame_index): l for l in dataset.labels if l.media == VIDEO}
    ball = next(e for e in tracks[0] if e.get("frame") == "2")
    np.testing.assert_allclose(_points(ball.get("points")), shapes[(1, 2)].shape.parts[0][0], atol=0.005)
    frame = next(e for e in tracks[1] if e.get("frame") == "5")
    exterior = shapes[(2, 5)].shape.parts[0][0]
    assert len(shapes[(2, 5)].shape.parts[0]) == 2  # it had a hole ...
    np.testing.assert_allclose(_points(frame.get("points")), exterior, atol=0.005)  # ... CVAT gets the exterior
    attributes = {a.get("name"): a.text for a in frame.findall("attribute")}
    assert attributes == {"source": "manual", "score": "1.0", "confirmed": "true", "review": "false", "note": "striped"}
    leaf = next(e for e in tracks[2] if e.get("frame") == "3")
    box = mask_to_box(gt_mask(3) == 3)
    assert [float(leaf.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")] == [box.x0, box.y0, box.x1, box.y1]
    flagged = next(e for e in tracks[0] if e.get("frame") == "12")
    attributes = {a.get("name"): a.text for a in flagged.findall("attribute")}
    assert (attributes["source"], attributes["confirmed"], attributes["review"]) == ("propagated", "false", "true")


def test_several_parts_keep_the_largest(root, dataset):
    element = next(e for e in _tracks(root)[3] if e.get("frame") == "20")
    points = _points(element.get("points"))
    ball_box = mask_to_box(gt_mask(20) == 1)  # the ball is far larger than the added disc
    assert points[:, 0].min() == pytest.approx(ball_box.x0, abs=1) and points[:, 0].max() == pytest.approx(ball_box.x1, abs=1)
    assert points[:, 0].max() < 560 - 20


def test_export_import_export_gives_identical_files(tmp_path, dataset):
    paths = export_dataset(dataset, "cvat-video", tmp_path / "out")
    assert sorted(p.name for p in paths) == ["frames.xml", "video.xml"]
    for path in paths:
        imported = import_cvat_video(path)
        assert len(imported.media) == 1
        again = to_cvat_video(imported, imported.media[0].name)
        assert again == path.read_text(encoding="utf-8")
    imported = import_cvat_video(tmp_path / "out" / "video.xml")
    assert imported.media[0].name == VIDEO and imported.media[0].frames == 48
    before = {(l.frame_index, l.object_id): l for l in dataset.labels if l.media == VIDEO}
    after = {(l.frame_index, l.object_id): l for l in imported.labels}
    assert before.keys() == after.keys()
    for key, old in before.items():
        new = after[key]
        assert (new.class_name, new.source, new.score, new.confirmed, new.review, dict(new.attributes)) == (
            old.class_name, old.source, old.score, old.confirmed, old.review, dict(old.attributes)
        )
        if isinstance(old.shape, Box):
            assert new.shape == old.shape
        else:  # one ring: the largest part's exterior
            assert len(new.shape.parts) == 1 and len(new.shape.parts[0]) == 1


def test_an_object_that_changes_class_cannot_be_one_track(dataset):
    labels = [replace(l, class_name="frame") if (l.object_id, l.frame_index) == (1, 3) else l for l in dataset.labels]
    with pytest.raises(ExportError, match="object 1 .* has classes"):
        to_cvat_video(Dataset(dataset.ontology, dataset.media, labels), VIDEO)
    labels = [replace(l, attributes={"source": "x"}) if l.object_id == 7 else l for l in dataset.labels]
    with pytest.raises(ExportError, match="clashes"):
        to_cvat_video(Dataset(dataset.ontology, dataset.media, labels), FOLDER)


def test_empty_polygons_are_skipped(dataset):
    labels = list(dataset.labels) + [replace(dataset.labels[0], frame_index=30, shape=Polygon(()))]
    root = ET.fromstring(to_cvat_video(Dataset(dataset.ontology, dataset.media, labels), VIDEO))
    assert "30" not in [e.get("frame") for e in _tracks(root)[0]]
