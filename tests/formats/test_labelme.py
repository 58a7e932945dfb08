"""LabelMe JSON: folders shaped as LabelMe writes them, round trips, holes as mask shapes, and
malformed input refused with nothing written."""

import base64
import io
import json
import os

import numpy as np
import pytest
from PIL import Image

from engine.cli.main import main
from engine.errors import FormatWarning, SessionFormatError
from engine.formats.dataset import Dataset
from engine.formats.labelme import to_labelme
from engine.formats.labelme_import import import_labelme
from engine.formats.writers import export_dataset
from engine.geometry import shape_to_mask
from engine.ontology import Ontology
from engine.types import Box, Label, MediaInfo, Point, Polygon
from tests.formats.test_export_samples import FOLDER, VIDEO, sample_dataset


def _shape(label, points, shape_type="polygon", group_id=None, mask=None):
    """A shape as LabelMe 5 saves it (``format_shape`` in its app), keys in its order."""
    return {
        "label": label,
        "points": points,
        "group_id": group_id,
        "description": "",
        "shape_type": shape_type,
        "flags": {},
        "mask": mask,
    }


def _labelme(image_path, shapes, width=640, height=480):
    return {
        "version": "5.5.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }


def _b64_mask(crop):
    """A mask as LabelMe's ``utils.img_arr_to_b64(mask.astype(np.uint8))`` encodes it."""
    buffer = io.BytesIO()
    Image.fromarray(crop.astype(np.uint8)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("utf-8")


def _write(folder, name, document):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")


@pytest.fixture
def native(tmp_path):
    """A LabelMe folder: images beside their JSON files, one image without labels."""
    folder = tmp_path / "shots"
    folder.mkdir()
    for name in ("img_1.jpg", "img_2.jpg", "img_10.jpg"):
        (folder / name).write_bytes(b"")  # never opened: only the names count
    crop = np.zeros((4, 6), bool)
    crop[1:3, 1:5] = True
    _write(folder, "img_1.json", _labelme("img_1.jpg", [
        _shape("dog", [[100.5, 80.0], [160.0, 80.0], [160.0, 150.25], [100.5, 150.25]], group_id=3),
        _shape("dog", [[200.0, 200.0], [220.0, 200.0], [210.0, 230.0]], group_id=3),  # a second part
        _shape("car", [[300.0, 220.0], [250.0, 120.0]], "rectangle"),  # dragged up-left
        _shape("nose", [[130.0, 100.0]], "point"),
        _shape("tail", [[1.0, 1.0], [5.0, 5.0]], "line"),
    ]))
    _write(folder, "img_10.json", _labelme("..\\shots\\img_10.jpg", [
        _shape("dog", [[10.0, 20.0], [15.0, 23.0]], "mask", mask=_b64_mask(crop)),
        _shape("car", [[0.0, 0.0], [40.0, 30.0]], "rectangle", group_id=1),
    ]))
    return folder


def test_a_labelme_folder_imports(native):
    with pytest.warns(FormatWarning, match=r"labelme: 1 line shapes left out"):
        dataset = import_labelme(native)
    (info,) = dataset.media
    assert info.name == str(native) and (info.width, info.height) == (640, 480)
    assert info.frame_names == ("img_1.jpg", "img_2.jpg", "img_10.jpg")  # the folder's images, natural order
    assert [(c.name, c.shape) for c in dataset.ontology] == [
        ("dog", "polygon"), ("car", "bounding_box"), ("nose", "point")]
    labels = {(l.frame_index, l.class_name): l for l in dataset.labels}
    assert labels[(0, "nose")].shape == Point(129.5, 99.5)  # LabelMe's canvas is pixel edges
    dog = labels[(0, "dog")]
    assert dog.object_id == 3 and len(dog.shape.parts) == 2  # one object: two shapes of group 3
    assert dog.shape.parts[0][0].tolist() == [[100.5, 80.0], [160.0, 80.0], [160.0, 150.25], [100.5, 150.25]]
    assert labels[(0, "car")].shape == Box(250.0, 120.0, 300.0, 220.0)
    assert labels[(0, "car")].object_id not in (1, 3)  # no group_id: an object of its own
    assert labels[(2, "car")].object_id == 1
    mask = shape_to_mask(labels[(2, "dog")].shape, 480, 640)
    expected = np.zeros((480, 640), bool)
    expected[21:23, 11:15] = True  # the mask's 1s, placed at its box's first pixel (10, 20)
    assert (mask == expected).all()
    assert all((l.source, l.confirmed) == ("manual", True) for l in dataset.labels)


def _holed_dataset():
    ontology = Ontology.from_json([{"name": "ring", "shape": "polygon"}, {"name": "box", "shape": "bounding_box"}])
    folder = MediaInfo("pics", "", 200, 100, 3, 0.0, (), ("a.jpg", "a.png", "b.jpg"))
    outer = np.array([[10.0, 10.0], [60.0, 10.0], [60.0, 60.0], [10.0, 60.0]])
    inner = np.array([[20.0, 20.0], [40.0, 20.0], [40.0, 40.0], [20.0, 40.0]])
    labels = [
        Label(5, 0, "ring", Polygon(((outer, inner),)), media="pics"),
        Label(6, 1, "box", Box(1.25, 2.5, 30.0, 40.75), media="pics", attributes={"colour": "red"}),
    ]
    return Dataset(ontology, [folder], labels, {("pics", 5): "the ring"})


def test_holes_are_written_as_a_mask_shape_exact_to_the_pixel(tmp_path):
    dataset = _holed_dataset()
    with pytest.warns(FormatWarning, match=r"labelme: 1 polygon labels with holes written as mask shapes"):
        export_dataset(dataset, "labelme", tmp_path / "out")
    # every image of the folder gets a file; a.jpg and a.png share a stem, so they keep their extension
    assert sorted(p.name for p in (tmp_path / "out" / "pics").iterdir()) == ["a.jpg.json", "a.png.json", "b.json"]
    document = json.loads((tmp_path / "out" / "pics" / "a.jpg.json").read_text())
    assert list(document) == ["version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth",
                              "framewise"]
    assert (document["imagePath"], document["imageData"], document["flags"]) == ("a.jpg", None, {})
    (shape,) = document["shapes"]
    assert list(shape)[:7] == ["label", "points", "group_id", "description", "shape_type", "flags", "mask"]
    assert (shape["label"], shape["group_id"], shape["shape_type"]) == ("ring", 5, "mask")
    assert shape["points"] == [[10.0, 10.0], [59.0, 59.0]]
    crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(shape["mask"]))))
    assert crop.shape == (50, 50) and crop.sum() == 50 * 50 - 20 * 20  # the hole is kept
    again = import_labelme(tmp_path / "out")
    ring = next(l for l in again.labels if l.class_name == "ring")
    assert (shape_to_mask(ring.shape, 100, 200) == shape_to_mask(dataset.labels[0].shape, 100, 200)).all()
    box = next(l for l in again.labels if l.class_name == "box")
    assert box.shape == Box(1.25, 2.5, 30.0, 40.75) and dict(box.attributes) == {"colour": "red"}
    assert again.object_names == {("pics", 5): "the ring"}


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("make", [sample_dataset, _holed_dataset])
def test_export_import_export_gives_identical_files(tmp_path, make):
    dataset = make()
    with pytest.warns(FormatWarning, match="written as mask shapes"):
        export_dataset(dataset, "labelme", tmp_path / "a")
    again = import_labelme(tmp_path / "a")
    with pytest.warns(FormatWarning, match="written as mask shapes"):
        export_dataset(again, "labelme", tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert sorted((m.name, m.frames, m.width, m.height, m.fps, m.fingerprint, m.frame_names) for m in again.media) == (
        sorted((m.name, m.frames, m.width, m.height, m.fps, m.fingerprint, m.frame_names) for m in dataset.media)
    )  # (in the order of their folders)


def test_the_sample_video_gives_one_file_per_labelled_frame():
    dataset = sample_dataset()
    files = to_labelme(dataset).files
    video = sorted(name for name in files if name.startswith("video/"))
    frames = sorted({l.frame_index for l in dataset.labels if l.media == VIDEO})
    assert video == [f"video/{k:06d}.json" for k in frames]
    assert len([name for name in files if name.startswith("frames/")]) == 24  # every image of the folder
    document = json.loads(files["video/000000.json"])
    assert document["framewise"] == {"media": VIDEO, "frame": 0, "frames": 48, "fps": 24.0, "fingerprint": "fp-video"}
    assert json.loads(files["frames/frame_1.json"])["framewise"]["media"] == FOLDER


MALFORMED = [
    (lambda d: d.update(imageWidth="640"), r"imageWidth: expected an integer"),
    (lambda d: d.pop("imagePath"), r"missing key 'imagePath'"),
    (lambda d: d["shapes"][0].update(points=[[1, 1], [2, 2]]), r"polygon with 2 points"),
    (lambda d: d["shapes"][0].update(shape_type="cuboid"), r"unknown shape type 'cuboid'"),
    (lambda d: d["shapes"][0].update(group_id="3"), r"group_id: expected an integer"),
    (lambda d: d["shapes"][1].update(points=[[1, 1], [1, 9]]), r"empty rectangle"),
    (lambda d: d["shapes"][0].update(points=[[900, 900], [950, 900], [950, 990]]), r"wholly outside"),
    (lambda d: d["shapes"][2].update(mask="not base64!"), r"not a base64 PNG"),
    (lambda d: d["shapes"][2].update(points=[[10, 20], [25, 23]]), r"6x4 image for a 16x4 box"),
    (lambda d: d["shapes"][2].update(points=[[630, 20], [635, 23]]) or d.update(imageWidth=632),
     r"not inside the 632x480 image"),
    (lambda d: d.update(shapes={"label": "x"}), r"shapes: expected a list"),
]


@pytest.mark.parametrize(("change", "message"), MALFORMED)
def test_malformed_labelme_files_are_refused_and_nothing_is_written(tmp_path, capsys, change, message):
    crop = np.ones((4, 6), np.uint8)
    document = _labelme("x.jpg", [
        _shape("dog", [[1.0, 1.0], [9.0, 1.0], [9.0, 9.0]], group_id=1),
        _shape("car", [[1.0, 1.0], [5.0, 9.0]], "rectangle"),
        _shape("dog", [[10.0, 20.0], [15.0, 23.0]], "mask", group_id=2, mask=_b64_mask(crop)),
    ])
    change(document)
    _write(tmp_path / "in", "x.json", document)
    with pytest.raises(SessionFormatError, match=message):
        import_labelme(tmp_path / "in")
    assert main(["import", str(tmp_path / "project"), "--format", "labelme", str(tmp_path / "in")]) == 2
    assert "framewise: error:" in capsys.readouterr().err
    assert not (tmp_path / "project").exists()


def test_other_json_files_empty_folders_and_links_out_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SessionFormatError, match="no LabelMe .json files"):
        import_labelme(tmp_path / "empty")
    _write(tmp_path / "other", "data.json", {"images": []})
    with pytest.raises(SessionFormatError, match="not a LabelMe file"):
        import_labelme(tmp_path / "other")
    _write(tmp_path / "outside", "x.json", _labelme("x.jpg", [_shape("a", [[0, 0], [5, 0], [5, 5]])]))
    (tmp_path / "linked").mkdir()
    os.symlink(tmp_path / "outside" / "x.json", tmp_path / "linked" / "x.json")
    with pytest.raises(SessionFormatError, match="resolves outside"):
        import_labelme(tmp_path / "linked")
    with pytest.raises(SessionFormatError, match="not a folder"):
        import_labelme(tmp_path / "outside" / "x.json")


def test_the_cli_imports_a_labelme_folder_and_exports_it_again(tmp_path, native, capsys):
    assert main(["import", str(tmp_path / "project"), "--format", "labelme", str(native), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["labels"] == 5
    assert "framewise: warning: labelme: 1 line shapes left out" in err
    assert main(["export", str(tmp_path / "project"), "--format", "labelme", "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out" / "shots").iterdir()) == ["img_1.json", "img_10.json", "img_2.json"]
    document = json.loads((tmp_path / "out" / "shots" / "img_10.json").read_text())
    assert document["imagePath"] == "img_10.jpg"


def test_a_group_id_is_an_object_unless_two_labels_share_it(tmp_path):
    folder = tmp_path / "g"
    square = [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]
    _write(folder, "a.json", _labelme("a.jpg", [_shape("dog", square, group_id=4), _shape("cat", square, group_id=7)]))
    _write(folder, "b.json", _labelme("b.jpg", [_shape("dog", square, group_id=4), _shape("bird", square, group_id=7)]))
    ids = {(l.frame_index, l.class_name): l.object_id for l in import_labelme(folder).labels}
    assert ids[(0, "dog")] == ids[(1, "dog")] == 4  # one object across the folder's images
    assert len({ids[(0, "cat")], ids[(1, "bird")], 4, 7}) == 4  # group 7 names two labels: two new objects


def test_mutated_labelme_files_import_or_fail_with_one_clear_error():
    """Random damage to a LabelMe file: either a dataset that exports again, or SessionFormatError."""
    import copy
    import random
    import warnings
    from pathlib import Path

    from engine.formats.labelme_import import from_labelme

    crop = np.ones((4, 6), np.uint8)
    base = _labelme("x.jpg", [
        _shape("dog", [[1.0, 1.0], [9.0, 1.0], [9.0, 9.0]], group_id=1),
        _shape("car", [[1.0, 1.0], [5.0, 9.0]], "rectangle"),
        _shape("dog", [[10.0, 20.0], [15.0, 23.0]], "mask", group_id=2, mask=_b64_mask(crop)),
        _shape("ball", [[30.0, 30.0], [35.0, 30.0]], "circle"),
    ])
    values = [None, True, 0, -1, 2**70, 1e308, float("inf"), "", "x", [], {}, [[1, 2], [3, 4]], 0.5]
    rng = random.Random(19)

    def paths(item, path=()):
        yield path
        children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, value in children:
            yield from paths(value, (*path, key))

    worked = 0
    for _ in range(400):
        document = copy.deepcopy(base)
        path = rng.choice([p for p in paths(document) if len(p) > 1])
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = copy.deepcopy(rng.choice(values))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                dataset = from_labelme({Path("f"): [("f/x.json", document)]}, {}).dataset
                dataset.check()
                to_labelme(dataset)
            worked += 1
        except SessionFormatError:
            pass
    assert worked > 50


def test_with_frames_puts_each_image_beside_its_json(tmp_path):
    """LabelMe opens ``imagePath`` next to the JSON: with frames, every JSON's image is
    there, at the size the JSON declares (an image folder's files byte for byte)."""
    from engine.formats.writers import ExportOptions
    from tests.formats.test_export_samples import ROOT

    dataset = sample_dataset()
    out = tmp_path / "out"
    export_dataset(dataset, "labelme", out, ExportOptions(with_frames=True, locate=lambda info: ROOT / info.name))
    documents = sorted(out.rglob("*.json"))
    assert documents
    for path in documents:
        document = json.loads(path.read_text())
        image = path.parent / document["imagePath"]
        assert image.is_file(), image
        with Image.open(image) as opened:
            assert opened.size == (document["imageWidth"], document["imageHeight"])
    folder = next(info for info in dataset.media if info.frame_names)
    first = folder.frame_names[0]
    assert (out / dataset.stems()[folder.name] / first).read_bytes() == (ROOT / folder.name / first).read_bytes()
