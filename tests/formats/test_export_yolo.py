"""YOLO export: one file per labelled frame, one line per label (parts and holes joined), data.yaml."""

import numpy as np
import pytest

from engine.formats.dataset import Dataset
from engine.formats.writers import export_dataset
from engine.formats.yolo import to_yolo
from engine.geometry import mask_to_box
from engine.types import Box
from tests.formats.test_export_samples import FOLDER_FRAMES, H, VIDEO, W, gt_mask, sample_dataset


@pytest.fixture(scope="module")
def dataset():
    return sample_dataset()


@pytest.fixture(scope="module")
def files(dataset):
    return to_yolo(dataset)


def _rows(text):
    return [line.split() for line in text.splitlines()]


def test_one_file_per_labelled_frame(files, dataset):
    video_frames = sorted({l.frame_index for l in dataset.labels if l.media == VIDEO})
    expected = {f"labels/train/video/{k:06d}.txt" for k in video_frames}
    expected |= {f"labels/train/frames/frame_{k}.txt" for k in FOLDER_FRAMES}  # image stems for image folders
    assert set(files) == expected | {"data.yaml"}


def test_one_line_per_label(files):
    rows = _rows(files["labels/train/video/000000.txt"])
    # frame 0: ball (1 part), frame (1 part with a hole: one line), leaf box
    assert [r[0] for r in rows] == ["0", "1", "2"]
    rows20 = _rows(files["labels/train/video/000020.txt"])
    assert [r[0] for r in rows20] == ["0"]  # the two-part object: one line, as Ultralytics' converter writes


def test_detection_lines_are_normalised_centre_and_size(dataset):
    boxes_only = Dataset(dataset.ontology, dataset.media, [l for l in dataset.labels if isinstance(l.shape, Box)])
    cls, cx, cy, w, h = _rows(to_yolo(boxes_only)["labels/train/video/000003.txt"])[-1]
    box = mask_to_box(gt_mask(3) == 3)
    assert cls == "2"
    expected = [(box.x0 + box.x1) / 2 / W, (box.y0 + box.y1) / 2 / H, (box.x1 - box.x0) / W, (box.y1 - box.y0) / H]
    assert [float(v) for v in (cx, cy, w, h)] == pytest.approx(expected, abs=1e-6)


def test_boxes_of_a_segment_dataset_are_corner_polygons(files):
    # Ultralytics reads a whole file as segments once one line is; a 5-column box line
    # would then become two points. So next to polygons, boxes are their four corners.
    cls, *values = _rows(files["labels/train/video/000003.txt"])[-1]
    box = mask_to_box(gt_mask(3) == 3)
    x0, y0, x1, y1 = box.x0 / W, box.y0 / H, box.x1 / W, box.y1 / H
    assert cls == "2"
    assert [float(v) for v in values] == pytest.approx([x0, y0, x1, y0, x1, y1, x0, y1], abs=1e-6)
    assert all(len(row) >= 7 for text in files.values() if text and not text.startswith("#") for row in _rows(text))


def test_a_segment_line_holds_the_exterior_and_the_hole_joined_by_a_bridge(files, dataset):
    label = next(l for l in dataset.labels if (l.media, l.object_id, l.frame_index) == (VIDEO, 2, 0))
    row = _rows(files["labels/train/video/000000.txt"])[1]
    points = np.array([float(v) for v in row[1:]]).reshape(-1, 2) * [W, H]
    exterior, hole = label.shape.parts[0]
    assert len(points) == len(exterior) + len(hole) + 2  # both rings closed: the bridge's two ends repeat
    vertices = {tuple(p) for p in np.round(points, 2)}
    assert vertices == {tuple(p) for p in np.round(exterior, 2)} | {tuple(p) for p in np.round(hole, 2)}
    values = np.array([float(v) for v in row[1:]])
    assert values.min() >= 0 and values.max() <= 1


def test_data_yaml_lists_the_classes(files, tmp_path, dataset):
    text = files["data.yaml"]
    assert "nc: 4" in text and "\npath:" not in text  # no path: the yaml's folder is the dataset root
    assert "train: images/train\nval: images/train\n" in text
    assert '  0: "ball"\n  1: "frame"\n  2: "leaf"\n  3: "spot"\n' in text
    written = export_dataset(dataset, "yolo", tmp_path)
    assert (tmp_path / "labels" / "train" / "video" / "000020.txt").read_text() == files["labels/train/video/000020.txt"]
    assert len(written) == len(files)
