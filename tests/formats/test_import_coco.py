"""COCO import refuses malformed or unsafe files with one `SessionFormatError` naming file and field."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import SessionFormatError
from engine.formats.coco import to_coco
from engine.formats.coco_import import import_coco
from engine.formats.dataset import Dataset
from engine.ontology import Ontology
from engine.project import Project
from engine.types import Box, Label, LabelClass, MediaInfo, Polygon

ROOT = Path(__file__).resolve().parents[2]


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
    ("attribute a list", _set(["annotations", 0, "attributes"], {"n": [3]}),
     "annotations[0].attributes.n: expected a string, true/false or a finite number"),
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
    assert dataset.media[0].name == (root / "inside").resolve().as_posix()


# -- issue #17: crafted small files through `framewise import` ------------------------------


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_image(annotation: dict | None = None, **image) -> dict:
    """The shape of the issue's crafted files: one 3x2 image, one class, one annotation."""
    return {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 3, "height": 2, **image}],
        "categories": [{"id": 1, "name": "thing", "shape": "polygon"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], **(annotation or {})}],
    }


def _in_video(data: dict, **frame) -> dict:
    data["images"][0].update({"video": "v.mp4", "frame_index": 0, **frame})
    data["annotations"][0]["track_id"] = 1
    return data


def test_rle_runs_overflowing_int64_give_one_line_not_a_segfault(tmp_path):
    """Counts [2**63-1, 2**63-1, 8] summed to 6 in int64 on a 2x3 image: numpy wrote past its
    buffer and `framewise import` died with signal 11 (here a return code of -11)."""
    rle = {"size": [2, 3], "counts": [2**63 - 1, 2**63 - 1, 8]}
    path = _write(tmp_path, _one_image({"segmentation": rle}))
    assert len(path.read_bytes()) < 400  # a few hundred bytes, as the 261
    result = subprocess.run(
        [sys.executable, "-m", "engine.cli", "import", str(tmp_path / "p"), "--format", "coco", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 2, (result.returncode, result.stderr[-500:])
    assert result.stderr.splitlines() == [
        f"framewise: error: {path}: annotations[0]: segmentation.counts: run length {2**63 - 1} is longer "
        "than height*width = 6"
    ]
    assert not (tmp_path / "p").exists()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


CLI_CASES = [
    # OverflowError: Python int too large to convert to SQLite INTEGER
    ("track id 2**63", _one_image({"track_id": 2**63}), "annotations[0].track_id: 9223372036854775808 does not fit"),
    # UnicodeEncodeError: surrogates not allowed
    ("lone surrogate in a class", {**_one_image(), "categories": [{"id": 1, "name": "\ud800", "shape": "polygon"}]},
     "categories[0].name: text '\\ud800' holds"),
    # the next three were imported, then broke every export with UnicodeEncodeError
    ("lone surrogate in an attribute", _one_image({"attributes": {"k": "a\udc00"}}), "annotations[0].attributes.k:"),
    ("lone surrogate in a media name", _in_video(_one_image(), video="v\ud800.mp4"), "images[0].video: text"),
    ("lone surrogate in an object name",
     {**_in_video(_one_image()), "objects": [{"video": "v.mp4", "id": 1, "name": "\udfff"}]}, "objects[0].name: text"),
    # declared sizes that imported fine and exploded on export
    ("a 100000x100000 image", _one_image(width=100000, height=100000),
     "images[0].width: frame size 100000x100000 is over the limit of 268435456 pixels"),
    ("frame index 10**12", _in_video(_one_image(), frame_index=10**12), "images[0].frame_index: 1000000000000 is outside"),
    ("a video of 10**8 frames",
     {**_in_video(_one_image()), "videos": [{"name": "v.mp4", "width": 3, "height": 2, "frames": 10**8}]},
     "videos[0].frames: 100000000 frames is over the limit of 10000000"),
    ("a box wholly outside its image", _one_image({"bbox": [1e308, 0, 1, 1]}), "annotations[0]: the shape lies wholly outside"),
]


@pytest.mark.parametrize("existing", [False, True], ids=["new project", "existing project"])
@pytest.mark.parametrize("data, message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_extreme_numbers_and_broken_text_are_one_line_and_change_nothing(capsys, tmp_path, data, message, existing):
    folder = tmp_path / "project"
    if existing:
        assert _cli(capsys, "import", folder, "--format", "coco", _write(tmp_path, _one_image(), "ok.json"))[0] == 0
    before = _files(folder)
    path = _write(tmp_path, data)
    code, out, err = _cli(capsys, "import", folder, "--format", "coco", path)
    assert (code, out) == (2, "")
    assert err.splitlines() == [err.strip()] and err.startswith(f"framewise: error: {path}: {message}"), err
    assert _files(folder) == before  # no project created, none changed


def test_far_coordinates_are_clamped_into_the_image_and_export(capsys, tmp_path):
    """A polygon vertex at 1e308 made the COCO and DAVIS exports raise OverflowError."""
    path = _write(tmp_path, _one_image({"segmentation": [[0, 0, 1e308, 0, 1e308, 1e308]]}))
    folder = tmp_path / "project"
    assert _cli(capsys, "import", folder, "--format", "coco", path)[0] == 0
    with Project.open(folder) as project:
        (label,) = project.labels()
    assert label.shape.parts[0][0].tolist() == [[0, 0], [3, 0], [3, 2]]
    for fmt in ("coco", "davis"):
        code, _, err = _cli(capsys, "export", folder, "--format", fmt, "--out", tmp_path / fmt)
        assert code == 0, err
    exported = json.loads((tmp_path / "coco" / "annotations" / "instances_default.json").read_text())
    assert exported["annotations"][0]["bbox"] == [0.0, 0.0, 3.0, 2.0]


def test_reimporting_after_remapped_ids_replaces_the_labels(capsys, tmp_path, monkeypatch):
    """With object 1 taken by another class, each import of the same file gave its object 1
    a new id and added its labels again (the issue: 144 -> 288 -> 432 labels)."""
    path = _write(tmp_path, _valid())  # objects 1 (thing, 2 labels) and 2 (crate, 1 label)
    folder = tmp_path / "project"
    ontology = Ontology([LabelClass("thing", "polygon"), LabelClass("crate", "bounding_box")])
    with Project.create(folder, ontology) as project:
        project.add_media(MediaInfo("clip.mp4", "f", 6, 4, 3, 10.0))
        project.put(Label(1, 0, "crate", Box(0, 0, 2, 2), media="clip.mp4"))  # object 1 is a crate here
    monkeypatch.chdir(tmp_path)
    counts, remaps = [], []
    for argument in (path, path, "ann.json", path.resolve()):  # the same file by absolute and relative paths
        code, out, err = _cli(capsys, "import", folder, "--format", "coco", argument, "--json")
        assert code == 0, err
        remaps.append(json.loads(out)["remapped_objects"])
        with Project.open(folder) as project:
            counts.append(len(project.labels()))
            if len(counts) == 2:  # someone edits an imported label before the third import
                edited = project.get("clip.mp4", 2, 2)
                project.put(Label(2, 2, "crate", Box(0, 0, 1, 1), media="clip.mp4"))
    assert counts == [4, 4, 4, 4]  # 1 + 3, not 4, 6, 8, 10
    (remap,) = remaps[0]
    assert remap["from"] == 1 and all(r == [remap] for r in remaps)  # the same new id every time
    with Project.open(folder) as project:
        assert project.get("clip.mp4", 2, 2) == edited  # the file's label is back
        assert project.get("clip.mp4", 0, 1).class_name == "crate"  # the project's own object untouched
        assert project.undo().kind == "import"
        assert len(project.labels()) == 4  # a re-import is one undo step

