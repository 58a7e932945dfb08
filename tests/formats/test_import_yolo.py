"""YOLO import: data.yaml + labels with their images (or with the media) -> the same export again."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import SessionFormatError
from engine.formats import import_dataset
from engine.formats.dataset import Dataset
from engine.formats.shapes import full_mask, quantise
from engine.formats.writers import ExportOptions, export_dataset
from engine.formats.yolo import to_yolo
from engine.formats.yolo_import import import_yolo
from engine.project import Project
from engine.types import Box, Polygon
from tests.formats.test_export_samples import FOLDER, ROOT, VIDEO, sample_dataset


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.txt"))} | {
        "data.yaml": (folder / "data.yaml").read_bytes()
    }


def _export_with_frames(dataset: Dataset, folder: Path) -> None:
    export_dataset(dataset, "yolo", folder, ExportOptions(with_frames=True, locate=lambda info: ROOT / info.name))


@pytest.mark.parametrize("which", ["all media", "one media"])
def test_export_import_export_is_identical(tmp_path, which):
    dataset = sample_dataset()
    if which == "one media":
        dataset = dataset.select(VIDEO)
    _export_with_frames(dataset, tmp_path / "a")
    back = import_dataset("yolo", tmp_path / "a" / "data.yaml")
    assert len(back.labels) == len(dataset.labels)
    assert back.ontology.names == dataset.ontology.names
    shapes = {name: back.ontology[name].shape for name in back.ontology.names}
    assert shapes == {"ball": "polygon", "frame": "polygon", "leaf": "bounding_box", "spot": "polygon"}
    export_dataset(back, "yolo", tmp_path / "b")
    assert _files(tmp_path / "b") == _files(tmp_path / "a")
    # the polygons come back with their parts and holes (one line each in the file)
    holes = sorted(sum(len(part) - 1 for part in label.shape.parts) for label in back.labels
                   if isinstance(label.shape, Polygon))
    assert holes == sorted(sum(len(part) - 1 for part in label.shape.parts) for label in dataset.labels
                           if isinstance(label.shape, Polygon))
    assert max(len(l.shape.parts) for l in back.labels if isinstance(l.shape, Polygon)) == 2
    # YOLO holds no identity: every line is an object of its own
    for info in back.media:
        ids = [l.object_id for l in back.labels if l.media == info.name]
        assert ids == list(range(1, len(ids) + 1))


def test_the_pixels_come_back(tmp_path):
    dataset = sample_dataset(tolerance=0).select(VIDEO)
    _export_with_frames(dataset, tmp_path)
    back = import_yolo(tmp_path)  # the folder holding data.yaml
    (info,) = back.media
    assert info.frame_names[0] == "000000.jpg" and (info.width, info.height) == (640, 360)
    originals = sorted(dataset.labels, key=lambda l: (l.frame_index, l.object_id))
    imported = sorted(back.labels, key=lambda l: (l.frame_index, l.object_id))
    frames = sorted({l.frame_index for l in originals})
    for old, new in zip(originals, imported):
        assert info.frame_names[new.frame_index] == f"{old.frame_index:06d}.jpg" and frames
        if isinstance(old.shape, Box):
            assert new.shape == quantise(old.shape)
        else:
            assert np.array_equal(full_mask(new.shape, 360, 640), full_mask(quantise(old.shape), 360, 640))


def test_labels_without_images_take_the_frames_of_the_media(tmp_path):
    dataset = sample_dataset().select(VIDEO)
    export_dataset(dataset, "yolo", tmp_path)  # labels only
    with pytest.raises(SessionFormatError, match="no images for the labels"):
        import_yolo(tmp_path / "data.yaml")
    back = import_yolo(tmp_path / "data.yaml", media=ROOT / VIDEO)
    (info,) = back.media
    assert (info.frames, info.width, info.height) == (48, 640, 360)
    assert sorted((l.frame_index, l.class_name) for l in back.labels) == sorted(
        (l.frame_index, l.class_name) for l in dataset.labels)
    assert to_yolo(back) == to_yolo(dataset)


def test_cli_import_with_media(tmp_path, capsys):
    export_dataset(sample_dataset().select(VIDEO), "yolo", tmp_path / "y")
    code = main(["import", str(tmp_path / "p"), "--format", "yolo", str(tmp_path / "y" / "data.yaml"),
                 "--media", str(ROOT / VIDEO), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["labels"] == len(sample_dataset().select(VIDEO).labels)
    with Project.open(tmp_path / "p") as project:
        assert project.ontology.names == ["ball", "frame", "leaf", "spot"]


def _dataset_folder(tmp_path: Path, yaml: str, lines: str = "0 0.5 0.5 0.2 0.2\n") -> Path:
    (tmp_path / "labels" / "train").mkdir(parents=True)
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "labels" / "train" / "a.txt").write_text(lines)
    cv2.imwrite(str(tmp_path / "images" / "train" / "a.jpg"), np.zeros((20, 40, 3), np.uint8))
    (tmp_path / "data.yaml").write_text(yaml)
    return tmp_path / "data.yaml"


def test_ultralytics_style_yaml_forms(tmp_path):
    # a flow list of names, quoted scalars, comments, a relative path key, nested keys skipped
    yaml = ("# dataset\npath: .  # root\ntrain: 'images/train'\nval: \"images/train\"\nnames: ['car', \"person\"]\n"
            "download: |\n  echo nothing\n")
    back = import_yolo(_dataset_folder(tmp_path, yaml, "1 0.5 0.5 0.5 0.5\n"))
    assert back.ontology.names == ["car", "person"]
    (label,) = back.labels
    assert label.class_name == "person" and label.shape == Box(10.0, 5.0, 30.0, 15.0)
    assert back.media[0].name == str((tmp_path / "images" / "train").resolve())
    assert back.ontology["person"].shape == "bounding_box"


@pytest.mark.parametrize(
    "yaml, lines, words",
    [
        ("path: /etc\ntrain: images/train\nval: images/train\nnames: [a]\n", None, "absolute path"),
        ("train: ../../outside/images\nval: images/train\nnames: [a]\n", None, "leaves its folder"),
        ("train: images/train\nval: images/train\nnames: [a]\n", "1 0.5 0.5 0.1 0.1\n", "class 1 is outside 0..0"),
        ("train: images/train\nval: images/train\nnames: [a]\n", "0 0.5 0.5 1.5 0.1\n", "outside 0..1"),
        ("train: images/train\nval: images/train\nnames: [a]\n", "0 0.1 0.1 0.2 0.2 0.3\n", "5 values"),
        ("train: images/train\nval: images/train\nnames: [a]\n", "0 nan 0.1 0.2 0.2\n", "finite"),
        ("train: images/train\nval: images/train\nnc: 2\nnames: [a]\n", None, "does not match"),
        ("train: images/train\nval: images/train\n", None, "names: missing"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, yaml, lines, words):
    path = _dataset_folder(tmp_path, yaml, lines or "0 0.5 0.5 0.2 0.2\n")
    with pytest.raises(SessionFormatError, match=words):
        import_yolo(path)


def test_a_symlinked_label_folder_out_of_the_dataset_is_refused(tmp_path):
    outside = tmp_path / "outside"
    (outside / "train").mkdir(parents=True)
    (outside / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    root = tmp_path / "data"
    (root / "images" / "train").mkdir(parents=True)
    (root / "labels").symlink_to(outside)
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [a]\n")
    with pytest.raises(SessionFormatError, match="resolves outside"):
        import_yolo(root / "data.yaml")


def test_labels_of_an_image_folder_take_its_frames_by_stem(tmp_path):
    dataset = sample_dataset().select(FOLDER)
    export_dataset(dataset, "yolo", tmp_path)  # labels/train/frame_<k>.txt
    back = import_yolo(tmp_path / "data.yaml", media=ROOT / FOLDER)
    (info,) = back.media
    assert info.frame_names[:2] == ("frame_0.jpg", "frame_1.jpg")
    assert sorted(l.frame_index for l in back.labels) == sorted(l.frame_index for l in dataset.labels)
    assert to_yolo(back) == to_yolo(dataset)


def test_mutated_files_fail_with_one_clear_error(tmp_path):
    """Random byte and token mutations of a real export: a SessionFormatError or a dataset, nothing else."""
    import random

    source = tmp_path / "source"
    _export_with_frames(sample_dataset().select(VIDEO), source)
    texts = {p: p.read_bytes() for p in [source / "data.yaml", *sorted((source / "labels").rglob("*.txt"))[:3]]}
    rng = random.Random(19)
    for _ in range(150):
        path, data = rng.choice(sorted(texts.items()))
        data = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            data[at:at + rng.randint(0, 3)] = rng.choice([b"", b"-", b"9", b"nan", b" ", b"\n", b":", b"..", b"\xff"])
        path.write_bytes(bytes(data))
        try:
            import_yolo(source / "data.yaml")
        except SessionFormatError as exc:
            assert str(exc) and "\n" not in str(exc).strip()
        finally:
            path.write_bytes(texts[path])
