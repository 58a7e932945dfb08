"""COCO import refuses malformed or unsafe files with one `SessionFormatError` naming file and field."""

import copy
import json
import os

import numpy as np
import pytest

from engine.errors import SessionFormatError
from engine.formats.coco import to_coco
from engine.formats.coco_import import import_coco
from engine.formats.dataset import Dataset
from engine.ontology import Ontology
from engine.types import Box, Label, LabelClass, MediaInfo, Polygon


def _valid() -> dict:
    ontology = Ontology([LabelClass("thing", "polygon"), LabelClass("crate", "bounding_box")])
    media = [MediaInfo("clip.mp4", "f", 6, 4, 3, 10.0)]
    outer = np.array([[0, 0], [6, 0], [6, 4], [0, 4]], float)
    holey = Polygon(((outer, np.array([[2, 1], [4, 1], [4, 3], [2, 3]], float)),))
    labels = [
        Label(1, 0, "thing", Polygon(((np.array([[0, 0], [4, 0], [4, 3]], float),),)), media="clip.mp4"),
        Label(1, 1, "thing", holey, media="clip.mp4"),
        Label(2, 2, "crate", Box(1, 1, 3, 2), media="clip.mp4"),
    ]
    return to_coco(Dataset(ontology, media, labels))


def _write(tmp_path, data, name="ann.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_the_valid_file_imports(tmp_path):
    dataset = import_coco(_write(tmp_path, _valid()))
    assert len(dataset.labels) == 3


def _set(path, value):
    def change(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[path[-1]]
        else:
            target[path[-1]] = value
    return change


_DELETE = object()

CASES = [
    ("top level is a list", lambda d: [d], "expected a JSON object at the top level"),
    ("missing images", _set(["images"], _DELETE), "missing key 'images'"),
    ("images not a list", _set(["images"], {"a": 1}), "images: expected a list"),
    ("image id a string", _set(["images", 0, "id"], "1"), "images[0].id: expected an integer"),
    ("image width a bool", _set(["images", 0, "width"], True), "images[0].width"),
    ("absolute file name", _set(["images", 0, "file_name"], "/etc/passwd"), "images[0].file_name: absolute path"),
    ("windows drive", _set(["images", 0, "file_name"], "C:\\x.jpg"), "images[0].file_name: absolute path"),
    ("parent folder", _set(["images", 0, "file_name"], "a/../../x.jpg"), "images[0].file_name: path 'a/../../x.jpg' leaves"),
    ("backslash parent", _set(["images", 0, "file_name"], "..\\x.jpg"), "leaves its folder"),
    ("unknown category", _set(["annotations", 0, "category_id"], 42), "annotations[0].category_id: unknown category id 42"),
    ("unknown image", _set(["annotations", 0, "image_id"], 999), "annotations[0].image_id: unknown image id 999"),
    ("two-point polygon", _set(["annotations", 0, "segmentation"], [[0, 0, 1, 1]]),
     "annotations[0].segmentation[0]: polygon with 2 points"),
    ("odd coordinates", _set(["annotations", 0, "segmentation"], [[0, 0, 1, 1, 2]]), "annotations[0].segmentation[0]"),
    ("nan coordinate", _set(["annotations", 0, "segmentation"], [[0, 0, 1, "x", 2, 2]]), "finite number"),
    ("rle counts too short", _set(["annotations", 1, "segmentation", "counts"], [1, 2, 3]),
     "runs sum to 6, not height*width = 24"),
    ("rle size wrong", _set(["annotations", 1, "segmentation", "size"], [2, 12]), "annotations[1].segmentation.size"),
    ("rle counts negative", _set(["annotations", 1, "segmentation", "counts"], [30, -6]), "negative run"),
    ("bad compressed rle", _set(["annotations", 1, "segmentation", "counts"], "\x7f\x7f"), "invalid character"),
    ("bbox of 3", _set(["annotations", 2, "bbox"], [1, 2, 3]), "annotations[2].bbox: expected [x, y, w, h]"),
    ("empty bbox", _set(["annotations", 2, "bbox"], [1, 2, 0, 3]), "annotations[2].bbox: empty box"),
    ("track id zero", _set(["annotations", 0, "track_id"], 0), "annotations[0].track_id: object ids start at 1"),
    ("unknown source", _set(["annotations", 0, "source"], "magic"), "annotations[0].source: unknown source 'magic'"),
    ("confirmed as int", _set(["annotations", 0, "confirmed"], 1), "annotations[0].confirmed: expected true/false"),
    ("attribute not text", _set(["annotations", 0, "attributes"], {"n": 3}), "annotations[0].attributes.n"),
    ("duplicate category ids", lambda d: d["categories"].append(dict(d["categories"][0])), "duplicate category id 1"),
    ("duplicate class names", _set(["categories", 1, "name"], "thing"), "duplicate class name 'thing'"),
    ("bad colour", _set(["categories", 0, "color"], "red"), "colour 'red'"),
    ("frame index missing", _set(["images", 0, "frame_index"], _DELETE), "images[0]: missing key 'frame_index'"),
    ("same object twice on an image", _set(["annotations", 1, "image_id"], 1), "annotations[1].track_id: object 1 already"),
    ("video frames fewer than images", _set(["videos", 0, "frames"], 2), "videos['clip.mp4'].frames"),
    ("object names unknown media", lambda d: d.update(objects=[{"video": "x", "id": 1, "name": "n"}]),
     "objects: object 1 names unknown media 'x'"),
]


@pytest.mark.parametrize("change, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_files_name_the_file_and_the_field(tmp_path, change, message):
    data = copy.deepcopy(_valid())
    replaced = change(data)
    path = _write(tmp_path, data if replaced is None else replaced)
    with pytest.raises(SessionFormatError) as info:
        import_coco(path)
    text = str(info.value)
    assert text.startswith(str(path)), text
    assert message in text, text


def test_not_json_and_not_utf8(tmp_path):
    with pytest.raises(SessionFormatError, match="not a UTF-8 JSON file"):
        import_coco(_write(tmp_path, "{'single': quotes}"))
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"images": "\xe9"}')
    with pytest.raises(SessionFormatError, match="latin1.json: not a UTF-8 JSON file"):
        import_coco(path)
    with pytest.raises(SessionFormatError, match="no such file"):
        import_coco(tmp_path / "missing.json")


def test_files_over_the_size_cap_are_not_read(tmp_path):
    path = _write(tmp_path, _valid())
    with pytest.raises(SessionFormatError, match="over the import limit of 100 bytes"):
        import_coco(path, max_bytes=100)


def test_symlinks_out_of_the_folder_are_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "dataset"
    root.mkdir()
    os.symlink(outside, root / "escape")
    data = {
        "images": [{"id": 1, "file_name": "escape/a.jpg", "width": 4, "height": 4}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [],
    }
    path = _write(root, data)
    with pytest.raises(SessionFormatError, match="resolves outside"):
        import_coco(path)
    (root / "inside").mkdir()
    data["images"][0]["file_name"] = "inside/a.jpg"
    dataset = import_coco(_write(root, data))
    assert dataset.media[0].name == (root / "inside").as_posix()
