"""Exports read by the standard readers, or checked against the rules of the published specs.

- COCO: pycocotools (`COCO`, `annToMask`, `maskUtils.area`, `COCOeval`).
- YOLO: the Ultralytics label rules (`ultralytics.data.utils.verify_image_label` and the
  dataset-level "box and segment counts" check), mimicked line for line.
- MOTChallenge: gt.txt as in the MOT16/17 paper (9 values, 1-based frames and ids,
  conf flag 0/1, visibility in [0, 1]) and seqinfo.ini.
- DAVIS: 8-bit palette PNGs (mode "P") per labelled frame, <frame:05d>.png, values = object ids.
- CVAT for video 1.1: element and attribute names and order as CVAT writes and its loader
  reads them (cvat/apps/dataset_manager/formats/cvat.py, bindings.py).
"""

from __future__ import annotations

import configparser
import contextlib
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.formats.davis import davis_palette
from engine.formats.dataset import Dataset
from engine.formats.shapes import full_mask, outer_bounds, quantise
from engine.formats.writers import export_dataset
from engine.geometry import polygon_to_shapely
from engine.types import Box
from tests.formats.test_export_samples import H, VIDEO, W, sample_dataset

# pycocotools (the test extra) still passes copy=False to numpy 2's __array__.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def simplified():
    """The shared sample dataset: simplified polygons (one with a hole, one with two parts), boxes."""
    return sample_dataset()


@pytest.fixture(scope="module")
def exact():
    """The same with exact (unsimplified) outlines."""
    return sample_dataset(tolerance=0)


def _labels_by_key(dataset: Dataset) -> dict:
    return {(label.media, label.frame_index, label.object_id): label for label in dataset.labels}


# -- COCO through pycocotools --------------------------------------------------------------


def _load_coco(dataset: Dataset, folder: Path):
    from pycocotools.coco import COCO

    (path,) = export_dataset(dataset, "coco", folder)
    with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints its progress
        return COCO(str(path)), json.loads(path.read_text())


def _geometry_kind(annotation: dict, categories: dict) -> str:
    segmentation = annotation["segmentation"]
    if categories[annotation["category_id"]]["shape"] == "bounding_box":
        return "box"
    return "rle" if isinstance(segmentation, dict) else "polygon"


@pytest.mark.parametrize("which", ["exact", "simplified"])
def test_pycocotools_decodes_every_annotation_to_our_mask(tmp_path, request, which):
    from pycocotools import mask as mask_utils

    dataset = request.getfixturevalue(which)
    coco, data = _load_coco(dataset, tmp_path)
    assert sorted(coco.imgs) == [image["id"] for image in data["images"]]
    assert [coco.cats[k]["name"] for k in sorted(coco.cats)] == dataset.ontology.names
    labels = _labels_by_key(dataset)
    kinds = {"box": 0, "rle": 0, "polygon": 0}
    for annotation in coco.loadAnns(coco.getAnnIds()):
        image = coco.imgs[annotation["image_id"]]
        label = labels[(image["video"], image["frame_index"], annotation["track_id"])]
        height, width = image["height"], image["width"]
        ours = full_mask(quantise(label.shape), height, width)  # our rasterisation of what the file holds
        kind = _geometry_kind(annotation, coco.cats)
        kinds[kind] += 1
        rle = coco.annToRLE(annotation)
        if kind == "box":  # the box's four corners: what pycocotools' own bbox rasteriser gives
            assert isinstance(label.shape, Box)
            by_bbox = mask_utils.frPyObjects(np.array([annotation["bbox"]], np.float64), height, width)[0]
            assert np.array_equal(mask_utils.decode(by_bbox), mask_utils.decode(rle))
        assert np.array_equal(coco.annToMask(annotation).astype(bool), mask_utils.decode(rle).astype(bool))
        theirs = mask_utils.decode(rle).astype(bool)
        assert theirs.shape == (height, width)
        area = float(mask_utils.area(rle))
        if kind == "polygon" and which == "simplified":
            # pycocotools rasterises on a 5x grid (vertices rounded to 1/5 px), we sample
            # pixel centres exactly: they may disagree only on pixels whose centre lies
            # within one grid step of the outline.
            ys, xs = np.nonzero(theirs != ours)
            if len(xs):
                import shapely

                outline = polygon_to_shapely(quantise(label.shape)).boundary
                assert shapely.distance(outline, shapely.points(xs + 0.5, ys + 0.5)).max() < 0.2
            assert abs(area - annotation["area"]) <= max(len(xs), 0) and abs(area - annotation["area"]) < 0.005 * area
        else:
            assert np.array_equal(theirs, ours), (kind, label.object_id, label.frame_index)
            assert area == annotation["area"]
    assert all(kinds.values()), kinds  # every geometry kind was checked
    assert kinds["rle"] == sum(1 for label in dataset.labels if label.object_id == 2)  # the frame has a hole


def test_cocoeval_scores_the_export_against_itself_perfectly(tmp_path, simplified):
    from pycocotools.cocoeval import COCOeval

    coco, data = _load_coco(simplified, tmp_path)
    annotations = coco.loadAnns(coco.getAnnIds())
    boxes = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
             for a in annotations]
    segmented = sorted({a["category_id"] for a in annotations if a["segmentation"]})
    masks = [{"image_id": a["image_id"], "category_id": a["category_id"], "segmentation": coco.annToRLE(a),
              "score": 1.0} for a in annotations if a["category_id"] in segmented]
    for kind, results, categories in (("bbox", boxes, None), ("segm", masks, segmented)):
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation = COCOeval(coco, coco.loadRes(results), kind)
            if categories is not None:  # box classes have no mask to compare
                evaluation.params.catIds = categories
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        assert evaluation.stats[0] == pytest.approx(1.0), kind  # AP@[.5:.95]
        assert evaluation.stats[8] == pytest.approx(1.0), kind  # AR@100


# -- YOLO: the Ultralytics label rules -----------------------------------------------------


def _ultralytics_rows(text: str) -> tuple[np.ndarray, bool]:
    """(N×5 class + normalised xywh, whether read as segments), as verify_image_label reads a file."""
    rows = [line.split() for line in text.strip().splitlines() if line]
    segments = any(len(row) > 6 for row in rows)
    if segments:
        out = []
        for row in rows:
            xy = np.array(row[1:], np.float32).reshape(-1, 2)
            (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
            out.append([float(row[0]), (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0])
        return np.array(out, np.float32), True
    return np.array(rows, np.float32), False


def _data_yaml(text: str) -> dict:
    """The flat keys and the names mapping of our data.yaml (no YAML library needed)."""
    keys, names = {}, {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("  "):
            index, name = line.strip().split(": ", 1)
            names[int(index)] = json.loads(name)  # double-quoted YAML scalars are JSON strings
        else:
            key, _, value = line.partition(":")
            keys[key] = value.strip()
    return {**keys, "names": names}


def _expected_boxes(labels, width: int, height: int) -> list[list[float]]:
    """Per label in (object id) order: its normalised, clipped xyxy box (one line per label)."""
    boxes = []
    for label in sorted(labels, key=lambda label: label.object_id):
        shape = quantise(label.shape)
        x0, y0, x1, y1 = (shape.x0, shape.y0, shape.x1, shape.y1) if isinstance(shape, Box) else (
            *outer_bounds(shape).as_list(),)
        boxes.append([min(max(x0 / width, 0), 1), min(max(y0 / height, 0), 1),
                      min(max(x1 / width, 0), 1), min(max(y1 / height, 0), 1)])
    return boxes


@pytest.mark.parametrize("boxes_only", [False, True], ids=["segment dataset", "detect dataset"])
def test_yolo_files_follow_the_ultralytics_label_rules(tmp_path, simplified, boxes_only):
    dataset = simplified
    if boxes_only:
        dataset = Dataset(simplified.ontology, simplified.media, [l for l in simplified.labels if isinstance(l.shape, Box)])
    export_dataset(dataset, "yolo", tmp_path)
    spec = _data_yaml((tmp_path / "data.yaml").read_text())
    assert spec["names"] == dict(enumerate(dataset.ontology.names)) and int(spec["nc"]) == len(spec["names"])
    assert "path" not in spec and spec["train"] == spec["val"] == "images/train"  # the yaml's folder is the root
    media = {info.name: info for info in dataset.media}
    stems = dataset.stems()
    by_file: dict[str, list] = {}
    for label in dataset.labels:
        info = media[label.media]
        name = info.frame_names[label.frame_index] if info.frame_names else f"{label.frame_index:06d}.jpg"
        # Ultralytics finds labels by replacing /images/ with /labels/ and the suffix with .txt
        image = f"images/train/{stems[info.name]}/{name}"
        by_file.setdefault(re.sub(r"\.[^.]+$", ".txt", image.replace("images/", "labels/", 1)), []).append(label)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "labels").rglob("*.txt"))
    assert written == sorted(by_file)
    read_as_segments = set()
    for relative, labels in by_file.items():
        rows, segments = _ultralytics_rows((tmp_path / relative).read_text())
        read_as_segments.add(segments)
        assert rows.shape[1] == 5  # "labels require 5 columns"
        assert (rows >= 0).all() and (rows[:, 1:] <= 1).all()  # normalised, in bounds
        assert (rows[:, 0] == rows[:, 0].round()).all() and rows[:, 0].max() < len(spec["names"])
        assert (rows[:, 3:] > 0).all()
        assert len(np.unique(rows, axis=0)) == len(rows)  # no duplicate rows to be dropped
        info = media[labels[0].media]
        got = np.column_stack([rows[:, 1] - rows[:, 3] / 2, rows[:, 2] - rows[:, 4] / 2,
                               rows[:, 1] + rows[:, 3] / 2, rows[:, 2] + rows[:, 4] / 2])
        np.testing.assert_allclose(got, _expected_boxes(labels, info.width, info.height), atol=2e-6)
        classes = [dataset.ontology.names.index(l.class_name) for l in sorted(labels, key=lambda l: l.object_id)]
        assert rows[:, 0].astype(int).tolist() == classes
    # The dataset-level rule: all files segments, or none ("box and segment counts should be equal").
    assert read_as_segments == {not boxes_only}


# -- MOTChallenge ---------------------------------------------------------------------------

# The MOT16/17 ground-truth classes (Milan et al., "MOT16: A Benchmark for Multi-Object Tracking", table).
MOT16 = ["pedestrian", "person_on_vehicle", "car", "bicycle", "motorbike", "non_motorized_vehicle", "static_person",
         "distractor", "occluder", "occluder_on_the_ground", "occluder_full", "reflection"]


def test_mot_ground_truth_follows_the_motchallenge_layout(tmp_path, simplified):
    export_dataset(simplified, "mot", tmp_path)
    for info in simplified.media:
        stem = simplified.stems()[info.name]
        seq = configparser.ConfigParser()
        seq.read(tmp_path / stem / "seqinfo.ini")
        assert dict(seq["Sequence"]) == {
            "name": stem, "imdir": "img1", "framerate": f"{info.fps:g}", "seqlength": str(info.frames),
            "imwidth": str(info.width), "imheight": str(info.height), "imext": ".jpg",
        }
        classes = (tmp_path / stem / "gt" / "labels.txt").read_text().splitlines()
        # the MOT16/17 table on lines 1..12 (none of the sample's classes is in it), then the ontology
        assert classes[:12] == [c.replace("_", " ") for c in MOT16] and classes[12:] == simplified.ontology.names
        rows = [line.split(",") for line in (tmp_path / stem / "gt" / "gt.txt").read_text().splitlines()]
        labels = _labels_by_key(simplified)
        assert len(rows) == sum(1 for label in simplified.labels if label.media == info.name)
        seen = set()
        for row in rows:
            assert len(row) == 9  # frame, id, left, top, width, height, conf, class, visibility
            frame, object_id, conf, class_id = int(row[0]), int(row[1]), int(row[6]), int(row[7])
            left, top, width, height, visibility = map(float, (row[2], row[3], row[4], row[5], row[8]))
            assert 1 <= frame <= info.frames and object_id >= 1  # 1-based frames and ids
            assert (frame, object_id) not in seen
            seen.add((frame, object_id))
            assert width > 0 and height > 0 and conf in (0, 1) and 0 <= visibility <= 1
            label = labels[(info.name, frame - 1, object_id)]
            assert classes[class_id - 1] == label.class_name  # class: 1-based line of labels.txt
            shape = quantise(label.shape)
            box = shape if isinstance(shape, Box) else outer_bounds(shape)
            assert (left, top, left + width, top + height) == pytest.approx((box.x0, box.y0, box.x1, box.y1), abs=0.011)


# -- DAVIS ----------------------------------------------------------------------------------


def test_davis_masks_are_indexed_pngs_with_object_ids(tmp_path, exact):
    export_dataset(exact, "davis", tmp_path)
    palette = davis_palette().reshape(-1).tolist()
    for info in exact.media:
        folder = tmp_path / exact.stems()[info.name]
        names = sorted(p.name for p in folder.iterdir())
        labelled = sorted({label.frame_index for label in exact.labels if label.media == info.name})
        assert names == [f"{k:05d}.png" for k in labelled]  # every labelled frame, <frame:05d>.png
        ids = {label.object_id for label in exact.labels if label.media == info.name}
        for frame_index, name in zip(labelled, names):
            image = Image.open(folder / name)
            assert image.format == "PNG" and image.mode == "P" and image.size == (info.width, info.height)
            assert image.getpalette() == palette
            values = set(np.unique(np.array(image)).tolist())
            on_frame = {l.object_id for l in exact.labels if l.media == info.name and l.frame_index == frame_index}
            assert values - {0} <= on_frame <= ids and 255 not in values  # 255 is DAVIS' void
    # the ground truth comes back exactly for the exact outlines
    frame5 = np.array(Image.open(tmp_path / "video" / "00005.png"))
    expected = np.zeros((H, W), np.uint8)
    for label in exact.labels:
        if (label.media, label.frame_index) == (VIDEO, 5):
            expected[full_mask(quantise(label.shape), H, W)] = label.object_id
    assert np.array_equal(frame5, expected) and frame5.any()


# -- CVAT for video 1.1 ---------------------------------------------------------------------

# The order CVAT writes meta/task (bindings.py meta_for_task; `flipped` from the 1.1 spec).
TASK_ORDER = ["id", "name", "size", "mode", "overlap", "bugtracker", "flipped", "created", "updated", "subset",
              "start_frame", "stop_frame", "frame_filter", "segments", "owner", "assignee", "labels",
              "original_size", "source"]
LABEL_TYPES = {"bbox", "ellipse", "polygon", "polyline", "points", "cuboid", "cuboid_3d", "skeleton", "tag", "any"}
INPUT_TYPES = {"select", "checkbox", "radio", "number", "text"}
TRACK_SOURCES = {"manual", "auto", "semi-auto", "file", "consensus"}
NUMBER = r"-?\d+(?:\.\d+)?"
POINTS = re.compile(rf"^{NUMBER},{NUMBER}(?:;{NUMBER},{NUMBER})*$")


def _children(element) -> list[str]:
    return [child.tag for child in element]


def test_cvat_files_follow_the_cvat_for_video_layout(tmp_path, simplified):
    paths = export_dataset(simplified, "cvat-video", tmp_path)
    assert len(paths) == len(simplified.media)
    for path, info in zip(paths, simplified.media):
        text = path.read_text(encoding="utf-8")
        assert text.startswith('<?xml version="1.0" encoding="utf-8"?>\n<annotations>')
        root = ET.fromstring(text)
        tags = _children(root)
        assert tags[:2] == ["version", "meta"] and set(tags[2:]) <= {"track"} and root.findtext("version") == "1.1"
        assert _children(root.find("meta")) in (["task"], ["task", "dumped"])
        task = root.find("meta/task")
        order = _children(task)
        assert set(order) <= set(TASK_ORDER) and order == sorted(order, key=TASK_ORDER.index)
        assert task.findtext("mode") == "interpolation" and int(task.findtext("size")) == info.frames
        assert (int(task.findtext("start_frame")), int(task.findtext("stop_frame"))) == (0, info.frames - 1)
        assert (task.findtext("original_size/width"), task.findtext("original_size/height")) == (
            str(info.width), str(info.height))
        declared = {}
        for label in task.findall("labels/label"):
            assert _children(label) == ["name", "color", "type", "attributes"]
            assert label.findtext("type") in LABEL_TYPES and re.fullmatch(r"#[0-9a-f]{6}", label.findtext("color"))
            attributes = {}
            for attribute in label.findall("attributes/attribute"):
                assert _children(attribute) == ["name", "mutable", "input_type", "default_value", "values"]
                assert attribute.findtext("mutable") in ("True", "False")
                kind, values = attribute.findtext("input_type"), (attribute.findtext("values") or "").split("\n")
                assert kind in INPUT_TYPES
                if kind in ("select", "checkbox", "radio"):
                    assert attribute.findtext("default_value") in values
                attributes[attribute.findtext("name")] = (kind, values)
            declared[label.findtext("name")] = (label.findtext("type"), attributes)
        assert list(declared) == simplified.ontology.names
        frames_seen = 0
        for track in root.findall("track"):
            assert int(track.get("id")) >= 0 and track.get("source") in TRACK_SOURCES
            label_type, attributes = declared[track.get("label")]
            frames = []
            for shape in track:
                # what CVAT's loader reads from every tracked shape
                assert {"frame", "outside", "occluded", "keyframe", "z_order"} <= set(shape.attrib)
                assert all(shape.get(flag) in ("0", "1") for flag in ("outside", "occluded", "keyframe"))
                if shape.tag == "box":
                    assert label_type in ("bbox", "any")
                    x0, y0, x1, y1 = (float(shape.get(k)) for k in ("xtl", "ytl", "xbr", "ybr"))
                    assert x0 < x1 and y0 < y1
                elif shape.tag == "mask":  # CVAT 2.x: runs over the crop, row by row, from a background run
                    assert label_type == "any"
                    runs = [int(v) for v in shape.get("rle").split(", ")]
                    assert sum(runs) == int(shape.get("width")) * int(shape.get("height")) and min(runs) >= 0
                    assert all(int(shape.get(k)) >= 0 for k in ("left", "top"))
                else:
                    assert shape.tag == "polygon" and label_type in ("polygon", "any")
                    assert POINTS.match(shape.get("points")) and shape.get("points").count(";") >= 2
                for attribute in shape.findall("attribute"):
                    kind, values = attributes[attribute.get("name")]  # declared for the label
                    if kind in ("select", "checkbox", "radio"):
                        assert attribute.text in values
                frames.append(int(shape.get("frame")))
                frames_seen += shape.get("outside") == "0"
            assert frames == sorted(set(frames)) and 0 <= frames[0] and frames[-1] < info.frames
            assert track[0].get("keyframe") == "1" and track[0].get("outside") == "0"
        assert frames_seen == sum(1 for label in simplified.labels if label.media == info.name)
