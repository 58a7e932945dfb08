"""The YOLO export read by Ultralytics itself (check_det_dataset, YOLODataset, verify_image_label,
polygon2mask) and by Datumaro, with the frames written beside it (--with-frames).

Ultralytics runs offline: YOLO_OFFLINE=1 and YOLO_CONFIG_DIR in a temporary folder (set before
it is imported), so it never touches the network or ~/.config; nothing here downloads fonts.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from engine.formats.dataset import Dataset
from engine.formats.shapes import full_mask, quantise
from engine.formats.writers import ExportOptions, export_dataset
from engine.formats.yolo import segment_of
from engine.formats.yolo_rings import SCALE
from engine.geometry import polygon_to_mask
from engine.types import Box, Polygon
from tests.formats.test_export_samples import ROOT, VIDEO, sample_dataset

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module", autouse=True)
def offline_ultralytics(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("YOLO_OFFLINE", "YOLO_CONFIG_DIR")}
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(tmp_path_factory.mktemp("ultralytics-config"))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _locate(info):
    return ROOT / info.name  # the sample media (its fingerprint in the sample dataset is made up)


def _export(dataset: Dataset, folder: Path) -> list[Path]:
    return export_dataset(dataset, "yolo", folder, ExportOptions(with_frames=True, locate=_locate))


@pytest.fixture(scope="module")
def dataset():
    return sample_dataset()


@pytest.mark.parametrize("task", ["segment", "detect"])
def test_ultralytics_reads_the_export_from_another_working_folder(tmp_path, monkeypatch, dataset, task):
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    if task == "detect":
        dataset = Dataset(dataset.ontology, dataset.media, [l for l in dataset.labels if isinstance(l.shape, Box)])
    export = tmp_path / "export"
    written = _export(dataset, export)
    images = sorted(p.relative_to(export).as_posix() for p in written if p.suffix == ".jpg")
    assert images and all(p.startswith("images/train/") for p in images)  # images/<split>/<media>/<frame>
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for yaml_path in (export / "data.yaml", Path("..") / "export" / "data.yaml"):  # absolute and relative
        data = check_det_dataset(str(yaml_path), autodownload=False)
        assert Path(data["train"]) == Path(data["val"]) == (export / "images" / "train").resolve()
        assert data["names"] == dict(enumerate(dataset.ontology.names))
    built = YOLODataset(img_path=data["train"], data=data, task=task, augment=False, imgsz=640, cache=False,
                        rect=False, batch_size=1, stride=32, pad=0.0, single_cls=False, classes=None, fraction=1.0)
    found = {Path(label["im_file"]).relative_to(export).as_posix(): label for label in built.labels}
    assert sorted(found) == images  # every image paired with its label file, none corrupt or missing
    assert sum(len(label["cls"]) for label in built.labels) == len(dataset.labels)  # one instance per label
    segments = sum(len(label["segments"]) for label in built.labels)
    assert segments == (len(dataset.labels) if task == "segment" else 0)


def test_verify_image_label_accepts_every_file(tmp_path, dataset):
    from ultralytics.data.utils import verify_image_label

    _export(dataset, tmp_path)
    for image in sorted((tmp_path / "images").rglob("*.jpg")):
        label = Path(str(image).replace("/images/", "/labels/")).with_suffix(".txt")
        # (im_file, lb_file, prefix, keypoint, num_cls, nkpt, ndim, single_cls)
        result = verify_image_label((str(image), str(label), "", False, 4, 0, 0, False))
        nm, nf, ne, nc, message = result[-5:]
        assert (nm, nf, ne, nc) == (0, 1, 0, 0), message
        assert len(result[1]) == len(label.read_text().splitlines())  # no duplicate row dropped


@pytest.mark.parametrize("tolerance", [1.0, 0.0])
def test_one_line_per_label_rasterises_to_the_mask(tolerance):
    """The joined line of each polygon label, read back at 6 decimals, against the label's mask."""
    from ultralytics.data.utils import polygon2mask

    dataset = sample_dataset(tolerance=tolerance)
    media = {info.name: info for info in dataset.media}
    ious = []
    for label in dataset.labels:
        if isinstance(label.shape, Box):
            continue
        info = media[label.media]
        height, width = info.height, info.width
        shape = quantise(label.shape)
        line = segment_of(shape, width, height) / SCALE
        line = np.round(line / [width, height], 6) * [width, height]  # what the file holds
        ours = full_mask(shape, height, width)
        # even-odd at pixel centres (framewise's rasteriser): the zero-width bridges add nothing; exact
        # at the 0.01 px an import reads back (at 6 decimals a vertex on a pixel centre may flip it)
        assert np.array_equal(polygon_to_mask(Polygon(((np.round(line, 2),),)), height, width), ours)
        raw = polygon_to_mask(Polygon(((line,),)), height, width)
        assert (raw & ours).sum() / (raw | ours).sum() >= 0.99
        # Ultralytics' own rasteriser (cv2.fillPoly on integer vertices, paints edge pixels) on the
        # line, against the same rasteriser on the true shape (exteriors minus holes)
        theirs = polygon2mask((height, width), [line.astype(np.float32)], color=1, downsample_ratio=1).astype(bool)
        true = np.zeros((height, width), bool)
        for part in shape.parts:
            filled = polygon2mask((height, width), [np.asarray(part[0], np.float32)], color=1, downsample_ratio=1)
            for hole in part[1:]:
                filled &= 1 - polygon2mask((height, width), [np.asarray(hole, np.float32)], color=1, downsample_ratio=1)
            true |= filled.astype(bool)
        ious.append(((theirs & true).sum() / (theirs | true).sum(), label.object_id))
    # single parts with or without holes: >= 0.98; the two-part object's 1-px bridge line costs ~2.5 %
    assert min(iou for iou, object_id in ious if object_id != 4) >= 0.98
    assert min(iou for iou, object_id in ious if object_id == 4) >= 0.97
    assert np.mean([iou for iou, _ in ious]) >= 0.99


def test_ultralytics_merge_multi_segment_lines_import_as_their_parts(tmp_path):
    """A line joined by Ultralytics' converter (COCO -> YOLO, use_segments) splits back into its parts."""
    from ultralytics.data.converter import merge_multi_segment

    from engine.formats.yolo_import import import_yolo

    dataset = sample_dataset(tolerance=0)
    label = next(l for l in dataset.labels if (l.media, l.object_id, l.frame_index) == (VIDEO, 4, 20))
    assert len(label.shape.parts) == 2
    height, width = 360, 640
    merged = np.concatenate(merge_multi_segment([part[0].reshape(-1).tolist() for part in label.shape.parts]))
    values = (merged / [width, height]).reshape(-1)
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text("0 " + " ".join(f"{v:.6f}" for v in values) + "\n")
    import cv2

    cv2.imwrite(str(tmp_path / "images" / "train" / "a.png"), np.zeros((height, width, 3), np.uint8))
    (tmp_path / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\nnames:\n  0: ball\n")
    (imported,) = import_yolo(tmp_path / "data.yaml").labels
    assert len(imported.shape.parts) == 2 and all(len(part) == 1 for part in imported.shape.parts)
    expected = full_mask(quantise(label.shape), height, width)
    got = full_mask(imported.shape, height, width)
    assert (got & expected).sum() / (got | expected).sum() > 0.999


def test_datumaro_reads_a_single_media_detect_export(tmp_path, dataset):
    import datumaro as dm

    boxes = Dataset(dataset.ontology, [dataset.media[0]], [l for l in dataset.labels
                                                          if isinstance(l.shape, Box) and l.media == VIDEO])
    _export(boxes, tmp_path)
    assert (tmp_path / "labels" / "train" / "000000.txt").is_file()  # one media: no media folder
    read = dm.Dataset.import_from(str(tmp_path), "yolo")
    annotations = [a for item in read for a in item.annotations]
    assert len(read) == len({l.frame_index for l in boxes.labels}) and len(annotations) == len(boxes.labels)
    names = [c.name for c in read.categories()[dm.AnnotationType.label]]
    assert names == dataset.ontology.names
    for item in read:
        (label,) = [l for l in boxes.labels if l.frame_index == int(item.id)]
        (box,) = item.annotations
        assert names[box.label] == label.class_name
        assert box.get_bbox() == pytest.approx(
            [label.shape.x0, label.shape.y0, label.shape.x1 - label.shape.x0, label.shape.y1 - label.shape.y0], abs=0.01)
