"""COCO export: layout, polygons vs RLE, areas from masks, and export -> import -> export."""

import json

import numpy as np
import pytest

from engine.errors import ExportError
from engine.formats.coco import to_coco
from engine.formats.coco_import import from_coco, import_coco
from engine.formats.dataset import Dataset
from engine.formats.rle import decode_counts, encode_counts, mask_to_rle, rle_to_mask
from engine.formats.writers import export_dataset
from engine.geometry import mask_iou, mask_to_box, polygon_to_mask
from engine.types import Box, Label, Polygon, shape_to_json
from tests.formats.test_export_samples import FOLDER, H, VIDEO, W, gt_mask, sample_dataset


@pytest.fixture(scope="module")
def dataset():
    return sample_dataset()


@pytest.fixture(scope="module")
def coco(dataset):
    return to_coco(dataset)


def _annotation(coco, object_id, frame_index, media=VIDEO):
    image_ids = {(i["video"], i["frame_index"]): i["id"] for i in coco["images"]}
    image_id = image_ids[(media, frame_index)]
    (found,) = [a for a in coco["annotations"] if a["image_id"] == image_id and a["track_id"] == object_id]
    return found


def _column_major_runs(mask):
    """Reference RLE: run lengths over the transposed, flattened mask, starting with zeros."""
    flat = np.asarray(mask, bool).T.reshape(-1)
    runs, current, length = [], False, 0
    for value in flat:
        if value == current:
            length += 1
        else:
            runs.append(length)
            current, length = value, 1
    runs.append(length)
    return runs


def test_categories_images_and_file_names(coco, dataset):
    assert [(c["id"], c["name"], c["shape"]) for c in coco["categories"]] == [
        (1, "ball", "polygon"), (2, "frame", "polygon"), (3, "leaf", "bounding_box"), (4, "spot", "point"),
    ]
    # the video: an image per labelled frame only; the image folder: every image, labelled or not
    video_frames = sorted({label.frame_index for label in dataset.labels if label.media == VIDEO})
    assert [(i["video"], i["frame_index"]) for i in coco["images"]] == [(VIDEO, k) for k in video_frames] + [
        (FOLDER, k) for k in range(24)
    ]
    assert [i["id"] for i in coco["images"]] == list(range(1, len(video_frames) + 25))
    by_key = {(i["video"], i["frame_index"]): i for i in coco["images"]}
    assert by_key[(VIDEO, 10)]["file_name"] == "video/000010.jpg"
    assert by_key[(FOLDER, 7)]["file_name"] == "frames/frame_7.jpg"  # the real file name
    assert (by_key[(VIDEO, 0)]["width"], by_key[(VIDEO, 0)]["height"]) == (W, H)
    assert len(coco["annotations"]) == len(dataset.labels)
    assert {o["name"] for o in coco["objects"]} == {"the ball", "frame «blue»"}


def test_polygons_without_holes_are_lists_with_the_mask_area(coco, dataset):
    label = next(l for l in dataset.labels if (l.object_id, l.frame_index) == (1, 2))
    ann = _annotation(coco, 1, 2)
    assert ann["category_id"] == 1 and ann["iscrowd"] == 0
    (flat,) = ann["segmentation"]
    ring = np.asarray(flat).reshape(-1, 2)
    np.testing.assert_allclose(ring, label.shape.parts[0][0], atol=0.005)
    mask = polygon_to_mask(Polygon(((ring,),)), H, W)
    assert ann["area"] == mask.sum()  # pixels of the rasterised polygon, not the box
    x, y, w, h = ann["bbox"]
    assert (x, y, x + w, y + h) == pytest.approx((ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max()))
    assert ann["area"] < w * h
    # the polygon is a faithful outline of the ground truth
    assert mask_iou(mask, gt_mask(2) == 1) > 0.97


def test_two_parts_are_two_lists(coco):
    ann = _annotation(coco, 4, 20)
    assert len(ann["segmentation"]) == 2
    mask = np.zeros((H, W), bool)
    for flat in ann["segmentation"]:
        mask |= polygon_to_mask(Polygon(((np.asarray(flat).reshape(-1, 2),),)), H, W)
    assert ann["area"] == mask.sum()


def test_a_polygon_with_a_hole_is_column_major_rle_of_its_mask(coco, dataset):
    label = next(l for l in dataset.labels if (l.object_id, l.frame_index) == (2, 5))
    ann = _annotation(coco, 2, 5)
    rle = ann["segmentation"]
    assert rle["size"] == [H, W]
    expected = polygon_to_mask(label.shape, H, W)
    assert rle["counts"] == _column_major_runs(expected)
    assert sum(rle["counts"]) == H * W
    assert ann["area"] == expected.sum()
    box = mask_to_box(expected)
    assert ann["bbox"] == [box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0]
    hole_pixels = ~expected & polygon_to_mask(Polygon(((label.shape.parts[0][0],),)), H, W)
    assert hole_pixels.sum() > 500  # the hole is really left out


def test_boxes_give_bbox_and_box_area(coco):
    ann = _annotation(coco, 3, 3)
    box = mask_to_box(gt_mask(3) == 3)
    # the four corners as one polygon, as CVAT writes a box (pycocotools needs a segmentation)
    assert ann["segmentation"] == [[box.x0, box.y0, box.x1, box.y0, box.x1, box.y1, box.x0, box.y1]]
    assert ann["bbox"] == [box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0]
    assert ann["area"] == box.area
    assert ann["source"] == "interpolated" and ann["score"] == 0.5


def test_label_fields_are_carried(coco):
    ann = _annotation(coco, 1, 12)
    assert (ann["source"], ann["score"], ann["confirmed"], ann["review"]) == ("propagated", 0.875, False, True)
    assert _annotation(coco, 2, 5)["attributes"] == {"note": "striped", "track_id": 2}  # where CVAT puts it


def test_export_import_export_gives_the_same_json(tmp_path, dataset, coco):
    paths = export_dataset(dataset, "coco", tmp_path / "out")
    assert [p.relative_to(tmp_path / "out").as_posix() for p in paths] == ["annotations/instances_default.json"]
    written = json.loads(paths[0].read_text(encoding="utf-8"))
    assert written == coco
    imported = import_coco(paths[0])
    assert to_coco(imported) == coco
    # media and ontology come back exactly
    assert imported.media == dataset.media
    assert [(c.name, c.shape, c.colour, c.hotkey) for c in imported.ontology] == [
        (c.name, c.shape, c.colour, c.hotkey) for c in dataset.ontology
    ]
    assert imported.object_names == dataset.object_names


def test_imported_labels_match_the_originals(dataset, coco):
    imported = from_coco(json.loads(json.dumps(coco)))
    before = {(l.media, l.frame_index, l.object_id): l for l in dataset.labels}
    after = {(l.media, l.frame_index, l.object_id): l for l in imported.labels}
    assert before.keys() == after.keys()
    for key, old in before.items():
        new = after[key]
        assert (new.class_name, new.source, new.score, new.confirmed, new.review, dict(new.attributes)) == (
            old.class_name, old.source, old.score, old.confirmed, old.review, dict(old.attributes)
        )
        if isinstance(old.shape, Polygon) and any(len(p) > 1 for p in old.shape.parts):
            # RLE: the same pixels come back (as the exact traced outline)
            assert np.array_equal(polygon_to_mask(new.shape, H, W), polygon_to_mask(old.shape, H, W))
        else:
            assert shape_to_json(new.shape) == shape_to_json(old.shape)  # exact to 0.01 px


def test_rle_round_trip_and_compressed_counts():
    rng = np.random.default_rng(3)
    for _ in range(20):
        mask = rng.random((7, 5)) > 0.6
        rle = mask_to_rle(mask)
        assert rle["counts"] == _column_major_runs(mask)
        assert np.array_equal(rle_to_mask(rle), mask)
        assert decode_counts(encode_counts(rle["counts"])) == rle["counts"]
    # pycocotools' string form, worked by hand: 6-bit chunks from '0', counts after the
    # second coded as the difference to the count two back
    assert decode_counts("321") == [3, 2, 1]
    assert decode_counts("5232") == [5, 2, 3, 4]
    assert decode_counts("563K") == [5, 6, 3, 1]  # 'K' = 27: -5 sign-extended, + 6
    assert mask_to_rle(np.ones((2, 2), bool))["counts"] == [0, 4]  # a leading empty run


def test_plain_coco_files_import_with_inferred_media_and_shapes(tmp_path):
    (tmp_path / "imgs").mkdir()
    data = {
        "images": [
            {"id": 10, "file_name": "imgs/b10.jpg", "width": 8, "height": 6},
            {"id": 11, "file_name": "imgs/b9.jpg", "width": 8, "height": 6},
            {"id": 12, "file_name": "odd/x.jpg", "width": 8, "height": 6},
            {"id": 13, "file_name": "odd/y.jpg", "width": 4, "height": 4},
        ],
        "categories": [{"id": 7, "name": "cat"}, {"id": 9, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 10, "category_id": 7, "segmentation": [[1, 1, 5, 1, 5, 4]], "bbox": [1, 1, 4, 3]},
            {"id": 2, "image_id": 11, "category_id": 9, "bbox": [0.5, 1, 2, 3], "segmentation": []},
            {"id": 3, "image_id": 13, "category_id": 9, "bbox": [0, 0, 1, 1]},
        ],
    }
    (tmp_path / "instances.json").write_text(json.dumps(data))
    dataset = import_coco(tmp_path / "instances.json")
    shapes = {c.name: c.shape for c in dataset.ontology}
    assert shapes == {"cat": "polygon", "car": "bounding_box"}
    folder = next(m for m in dataset.media if m.name.endswith("imgs"))
    assert folder.name == (tmp_path / "imgs").resolve().as_posix()
    assert folder.frame_names == ("b9.jpg", "b10.jpg")  # natural order
    assert sorted(m.frames for m in dataset.media) == [1, 1, 2]  # 'odd' has mixed sizes: one media per image
    in_folder = {l.class_name: l for l in dataset.labels if l.media == folder.name}
    assert in_folder["cat"].frame_index == 1 and isinstance(in_folder["cat"].shape, Polygon)
    assert in_folder["car"].frame_index == 0 and in_folder["car"].shape == Box(0.5, 1.0, 2.5, 4.0)
    assert len({l.object_id for l in dataset.labels}) == 3  # no track ids: one object each
    assert all(l.source == "manual" and l.confirmed for l in dataset.labels)


def test_inconsistent_datasets_are_refused_before_writing(tmp_path, dataset):
    bad = Dataset(dataset.ontology, dataset.media, [Label(1, 99, "ball", Box(0, 0, 5, 5), media=VIDEO)])
    with pytest.raises(ExportError, match="frame outside"):
        export_dataset(bad, "coco", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    unknown = Dataset(dataset.ontology, dataset.media, [Label(1, 0, "dog", Box(0, 0, 5, 5), media=VIDEO)])
    with pytest.raises(ExportError, match="'dog'"):
        to_coco(unknown)
