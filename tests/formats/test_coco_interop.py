"""COCO that other tools read and write (issue 19): CVAT's and Datumaro's COCO, Label Studio's
and Roboflow's quirks, pycocotools and Datumaro reading our export, byte-identical round
trips, and the shared export options (--overwrite, --with-frames)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest

from engine.cli.main import main
from engine.errors import SessionFormatError
from engine.formats.coco import to_coco
from engine.formats.coco_fields import CATEGORY_KEY, CROWD_KEY, attribute_text, attribute_value
from engine.formats.coco_import import from_coco, import_coco
from engine.formats.dataset import Dataset
from engine.formats.shapes import full_mask, quantise
from engine.formats.writers import COCO_FILE, export_dataset
from engine.geometry import mask_iou, polygon_to_mask
from engine.media.fingerprint import media_fingerprint
from engine.project import Project
from engine.types import Box, Label, MediaInfo, Polygon
from tests.formats.test_export_samples import ROOT, sample_dataset

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- files as the other tools write them ------------------------------------------------------

def cvat_coco() -> dict:
    """COCO 1.0 as CVAT exports a video task (Datumaro's writer: info, licenses, extra image
    fields, ``attributes`` with typed values and ``track_id`` from 0; boxes as ``[]``)."""
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
        "categories": [{"id": 1, "name": "car", "supercategory": ""}, {"id": 2, "name": "person", "supercategory": ""}],
        "images": [
            {"id": k + 1, "width": 40, "height": 30, "file_name": f"frame_{k:06d}.PNG", "license": 0,
             "flickr_url": "", "coco_url": "", "date_captured": 0}
            for k in range(3)
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [], "area": 60.0,
             "bbox": [2.0, 3.0, 10.0, 6.0], "iscrowd": 0,
             "attributes": {"occluded": False, "rotation": 0.0, "track_id": 0, "keyframe": True}},
            {"id": 2, "image_id": 2, "category_id": 1, "segmentation": [], "area": 60.0,
             "bbox": [3.0, 3.0, 10.0, 6.0], "iscrowd": 0,
             "attributes": {"occluded": True, "rotation": 0.0, "track_id": 0, "keyframe": False}},
            {"id": 3, "image_id": 2, "category_id": 2, "segmentation": [[20.0, 5.0, 30.0, 5.0, 25.0, 20.0]],
             "area": 75.0, "bbox": [20.0, 5.0, 10.0, 15.0], "iscrowd": 0,
             "attributes": {"occluded": False, "track_id": 1, "keyframe": True, "age": 31, "kind": "adult"}},
        ],
    }


def test_cvat_coco_with_typed_attributes_and_track_ids_imports(tmp_path):
    dataset = import_coco(_write(tmp_path / "cvat" / "annotations" / "instances_default.json", cvat_coco()))
    assert {c.name: c.shape for c in dataset.ontology} == {"car": "bounding_box", "person": "polygon"}
    labels = {(lab.frame_index, lab.class_name): lab for lab in dataset.labels}
    car0, car1, person = labels[(0, "car")], labels[(1, "car")], labels[(1, "person")]
    assert car0.object_id == car1.object_id == 1 and person.object_id == 2  # CVAT's track 0 and 1, shifted by one
    assert dict(car0.attributes) == {"occluded": "false", "rotation": "0.0", "keyframe": "true"}
    assert dict(person.attributes) == {"occluded": "false", "keyframe": "true", "age": "31", "kind": "adult"}
    assert car1.shape == Box(3.0, 3.0, 13.0, 9.0)
    # written back with their JSON types, track_id where CVAT has it too
    out = to_coco(dataset)
    attributes = {(a["image_id"], a["category_id"]): a["attributes"] for a in out["annotations"]}
    assert attributes[(2, 2)] == {"age": 31, "keyframe": True, "kind": "adult", "occluded": False, "track_id": 2}
    assert attributes[(1, 1)] == {"keyframe": True, "occluded": False, "rotation": 0.0, "track_id": 1}


def test_attribute_values_round_trip_with_their_types():
    for value in (False, True, 0, -3, 2**40, 0.0, 0.1, 1e-07, -2.5e300, "text", "", "3 cars", "03", "1e5", "nan"):
        text = attribute_text(value)
        assert isinstance(text, str)
        back = attribute_value(text)
        assert back == value and type(back) is type(value), value
    assert attribute_text(None) is None and attribute_text([1]) is None and attribute_text(float("inf")) is None
    assert attribute_value("1" * 30) == "1" * 30 and attribute_value("-") == "-"  # beyond 64 bits: stays text


def test_a_coco_file_written_by_datumaro_imports(tmp_path):
    """Datumaro's own coco_instances writer (what CVAT's COCO export runs)."""
    import datumaro as dm

    item = dm.DatasetItem(
        id="clip/000001", subset="default", media=dm.Image.from_numpy(np.zeros((30, 40, 3), np.uint8)),
        annotations=[
            dm.Bbox(2, 3, 10, 6, label=0, id=1, attributes={"occluded": False, "track_id": 4}),
            dm.Polygon([20, 5, 30, 5, 25, 20], label=1, id=2, attributes={"occluded": True, "rotation": 0.0}),
        ],
    )
    dm.Dataset.from_iterable([item], categories=["car", "person"]).export(
        str(tmp_path / "dm"), "coco_instances", save_media=True
    )
    path = tmp_path / "dm" / "annotations" / "instances_default.json"
    dataset = import_coco(path)
    (media,) = dataset.media  # the images folder of Datumaro's layout, resolved
    assert media.name == (tmp_path / "dm" / "images" / "default" / "clip").resolve().as_posix()
    assert media.frame_names == ("000001.jpg",)
    by_class = {lab.class_name: lab for lab in dataset.labels}
    assert by_class["car"].object_id == 4 and by_class["car"].shape == Box(2.0, 3.0, 12.0, 9.0)
    assert dict(by_class["person"].attributes) == {"occluded": "true", "rotation": "0.0"}
    assert isinstance(by_class["person"].shape, Polygon)


# -- what pycocotools and Datumaro read from our export ------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    dataset = sample_dataset()
    folder = tmp_path_factory.mktemp("coco")
    export_dataset(dataset, "coco", folder)
    return dataset, folder


def test_pycocotools_masks_and_cocoeval_bbox_and_segm_on_every_annotation(exported):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    dataset, folder = exported
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(folder / COCO_FILE))
    annotations = coco.loadAnns(coco.getAnnIds())
    assert len(annotations) == len(dataset.labels)
    for annotation in annotations:  # boxes included: their segmentation is the four corners
        mask = coco.annToMask(annotation)
        assert mask.shape == (360, 640) and mask.any()
    for kind in ("bbox", "segm"):
        results = [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0,
                    **({"bbox": a["bbox"]} if kind == "bbox" else {"segmentation": coco.annToRLE(a)})}
                   for a in annotations]
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation = COCOeval(coco, coco.loadRes(results), kind)
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        assert evaluation.stats[0] == 1.0, kind


def test_datumaro_reads_the_export_with_track_ids_and_the_same_shapes(exported):
    import datumaro as dm

    dataset, folder = exported
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [COCO_FILE]
    assert (folder / "images" / "default").is_dir()  # Datumaro refuses a COCO folder without images/
    theirs = dm.Dataset.import_from(str(folder), "coco_instances")
    labels = {(lab.media, lab.frame_index, lab.object_id): lab for lab in dataset.labels}
    names = theirs.categories()[dm.AnnotationType.label]
    image_of = {image["id"]: image for image in json.loads((folder / COCO_FILE).read_text())["images"]}
    assert len(theirs) == len(image_of)
    groups: set[tuple[str, int]] = set()
    masks = 0
    for item in theirs:
        image = image_of[item.attributes["id"]]
        # Datumaro reads an annotation as a group: a Bbox plus its Polygon(s) or Mask
        parts: dict[int, list] = {}
        for ann in item.annotations:
            groups.add((item.id, ann.group))
            parts.setdefault(ann.group, []).append(ann)
        for anns in parts.values():
            label = labels[(image["video"], image["frame_index"], anns[0].attributes["track_id"])]
            assert {names[a.label].name for a in anns} == {label.class_name}
            ours = full_mask(quantise(label.shape), image["height"], image["width"])
            shapes = [a for a in anns if not isinstance(a, dm.Bbox)]
            (box,) = [a for a in anns if isinstance(a, dm.Bbox)]
            x0, y0, x1, y1 = box.points
            ys, xs = np.nonzero(ours)
            assert x0 <= xs.min() + 0.5 and xs.max() + 0.5 <= x1 and y0 <= ys.min() + 0.5 and ys.max() + 0.5 <= y1
            mask = np.zeros_like(ours)
            for shape in shapes:
                if isinstance(shape, dm.Mask):  # RLE: a polygon with a hole
                    mask |= shape.image.astype(bool)
                else:
                    ring = np.asarray(shape.points, np.float64).reshape(-1, 2)
                    mask |= polygon_to_mask(Polygon(((ring,),)), image["height"], image["width"])
            assert mask_iou(mask, ours) >= 0.99, (label.object_id, label.frame_index)
            masks += 1
    assert len(groups) == masks == len(dataset.labels)


# -- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("tolerance", [1.0, 0.0], ids=["simplified", "exact"])
def test_export_import_export_is_byte_identical(tmp_path, tolerance):
    export_dataset(sample_dataset(tolerance=tolerance), "coco", tmp_path / "a")
    first = (tmp_path / "a" / COCO_FILE).read_bytes()
    export_dataset(import_coco(tmp_path / "a" / COCO_FILE), "coco", tmp_path / "b")
    assert (tmp_path / "b" / COCO_FILE).read_bytes() == first


def test_foreign_files_are_stable_after_one_import(tmp_path):
    source = _write(tmp_path / "cvat.json", cvat_coco())
    export_dataset(import_coco(source), "coco", tmp_path / "a")
    first = (tmp_path / "a" / COCO_FILE).read_bytes()
    export_dataset(import_coco(tmp_path / "a" / COCO_FILE), "coco", tmp_path / "b")
    assert (tmp_path / "b" / COCO_FILE).read_bytes() == first
    # boxes stay boxes: the category's shape says so, the segmentation is the four corners
    data = json.loads(first)
    car = next(c for c in data["categories"] if c["name"] == "car")
    box = next(a for a in data["annotations"] if a["category_id"] == car["id"])
    assert car["shape"] == "bounding_box" and box["segmentation"] == [[2.0, 3.0, 12.0, 3.0, 12.0, 9.0, 2.0, 9.0]]
    del car["shape"]  # a plain COCO reader: four corners equal to the bbox still read as a box class
    assert import_coco(_write(tmp_path / "plain.json", data)).ontology["car"].shape == "bounding_box"


def test_foreign_category_ids_and_iscrowd_are_kept(tmp_path):
    data = cvat_coco()
    data["categories"] = [{"id": 7, "name": "car", "supercategory": "vehicle"}, {"id": 3, "name": "person"},
                          {"id": 12, "name": "unused"}]
    for annotation in data["annotations"]:
        annotation["category_id"] = 7 if annotation["category_id"] == 1 else 3
    data["annotations"][2]["iscrowd"] = 1
    dataset = import_coco(_write(tmp_path / "ids.json", data))
    person = next(lab for lab in dataset.labels if lab.class_name == "person")
    assert person.attributes[CATEGORY_KEY] == "3" and person.attributes[CROWD_KEY] == "1"
    out = to_coco(dataset)
    assert [(c["id"], c["name"]) for c in out["categories"]] == [(7, "car"), (3, "person"), (8, "unused")]  # 12 lost
    crowd = [a for a in out["annotations"] if a["iscrowd"]]
    assert [a["category_id"] for a in crowd] == [3]
    assert all(CATEGORY_KEY not in a["attributes"] and CROWD_KEY not in a["attributes"] for a in out["annotations"])


def label_studio_coco(file_names: list[str]) -> dict:
    """Label Studio's COCO export (label_studio_converter): ids from 0, categories from 0,
    ``images/<name>`` or the server path ``/data/upload/<project>/<name>`` as file names."""
    return {
        "images": [{"width": 40, "height": 30, "id": k, "file_name": name} for k, name in enumerate(file_names)],
        "categories": [{"id": 0, "name": "Airplane"}, {"id": 1, "name": "Car"}],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 1, "segmentation": [], "bbox": [1.5, 2.0, 10.0, 5.0],
             "ignore": 0, "iscrowd": 0, "area": 50.0},
            {"id": 1, "image_id": 1, "category_id": 0, "segmentation": [[5.0, 5.0, 20.0, 5.0, 12.0, 15.0]],
             "bbox": [5.0, 5.0, 15.0, 10.0], "ignore": 0, "iscrowd": 0, "area": 75.0},
        ],
        "info": {"year": 2024, "version": "1.0", "description": "", "contributor": "Label Studio", "url": "",
                 "date_created": "2024-01-01 00:00:00.000000"},
    }


@pytest.mark.parametrize("names", [["images/a1b2-cat.jpg", "images/c3d4-dog.jpg"],
                                   ["/data/upload/1/a1b2-cat.jpg", "/data/upload/1/c3d4-dog.jpg"],
                                   ["/data/local-files/?d=pets/a1b2-cat.jpg", "/data/local-files/?d=pets/c3d4-dog.jpg"]],
                         ids=["images folder", "uploads", "local files"])
def test_label_studio_coco_imports_with_ids_from_zero(tmp_path, names):
    dataset = import_coco(_write(tmp_path / "result.json", label_studio_coco(names)))
    (media,) = dataset.media
    assert media.name.startswith((tmp_path.resolve()).as_posix() + "/")  # inside the file's folder
    assert media.frame_names == ("a1b2-cat.jpg", "c3d4-dog.jpg")
    assert {c.name: c.shape for c in dataset.ontology} == {"Airplane": "polygon", "Car": "bounding_box"}
    assert len({lab.object_id for lab in dataset.labels}) == 2 and min(lab.object_id for lab in dataset.labels) >= 1
    out = to_coco(dataset)
    assert [(c["id"], c["name"]) for c in out["categories"]] == [(0, "Airplane"), (1, "Car")]  # ids kept
    assert sorted(a["category_id"] for a in out["annotations"]) == [0, 1]
    with pytest.raises(SessionFormatError, match="absolute path"):  # any other absolute path is still refused
        import_coco(_write(tmp_path / "bad.json", label_studio_coco(["/etc/passwd", "images/x.jpg"])))


def test_roboflow_placeholder_category_is_not_a_class(tmp_path):
    data = {
        "info": {"year": "2024", "version": "1", "description": "Exported from roboflow.com"},
        "licenses": [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/", "name": "CC BY 4.0"}],
        "categories": [{"id": 0, "name": "pets-xyz", "supercategory": "none"},
                       {"id": 1, "name": "cat", "supercategory": "pets-xyz"},
                       {"id": 2, "name": "dog", "supercategory": "pets-xyz"}],
        "images": [{"id": 0, "license": 1, "file_name": "img0_jpg.rf.abc.jpg", "height": 30, "width": 40,
                    "date_captured": "2024-01-01T00:00:00+00:00"}],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 1, "bbox": [1, 1, 10, 10], "area": 100, "segmentation": [],
             "iscrowd": 0},
            {"id": 1, "image_id": 0, "category_id": 2, "bbox": [15, 5, 10, 20], "area": 200, "segmentation": [],
             "iscrowd": 0},
        ],
    }
    dataset = import_coco(_write(tmp_path / "train" / "_annotations.coco.json", data))
    assert dataset.ontology.names == ["cat", "dog"]
    assert all(CATEGORY_KEY not in lab.attributes for lab in dataset.labels)  # 1 and 2 are what an export gives
    assert [(c["id"], c["name"]) for c in to_coco(dataset)["categories"]] == [(1, "cat"), (2, "dog")]


# -- projects: the same file by two paths, absolute media names, the CLI options ----------------


def test_the_same_plain_file_by_relative_and_absolute_path_does_not_duplicate(capsys, tmp_path, monkeypatch):
    path = _write(tmp_path / "data" / "instances.json", label_studio_coco(["images/a.jpg", "images/b.jpg"]))
    monkeypatch.chdir(tmp_path)
    counts = []
    for argument in ("data/instances.json", path.resolve(), "./data/../data/instances.json"):
        code, _, err = _cli(capsys, "import", tmp_path / "p", "--format", "coco", argument)
        assert code == 0, err
        with Project.open(tmp_path / "p") as project:
            counts.append((len(project.media()), len(project.labels())))
    assert counts == [(1, 2)] * 3


def test_absolute_media_names_are_never_written_and_come_back_to_their_media(capsys, tmp_path):
    dataset = sample_dataset()
    names = {info.name: str((ROOT / info.name).resolve()) for info in dataset.media}  # as the UI names media
    media = [MediaInfo(**{**info.__dict__, "name": names[info.name]}) for info in dataset.media]
    labels = [Label(**{**lab.__dict__, "media": names[lab.media]}) for lab in dataset.labels]
    objects = {(names[m], o): n for (m, o), n in dataset.object_names.items()}
    folder = tmp_path / "project"
    with Project.create(folder, dataset.ontology) as project:
        for info in media:
            project.add_media(info)
        for label in labels:
            project.put(label)
        for (m, o), n in objects.items():
            project.rename_object(m, o, n)
    assert _cli(capsys, "export", folder, "--format", "coco", "--out", tmp_path / "out")[0] == 0
    text = (tmp_path / "out" / COCO_FILE).read_text()
    assert str(ROOT) not in text and '"/' not in text and str(tmp_path) not in text
    assert [v["name"] for v in json.loads(text)["videos"]] == ["video.mp4", "frames"]
    code, out, err = _cli(capsys, "import", folder, "--format", "coco", tmp_path / "out" / COCO_FILE, "--json")
    assert code == 0, err
    assert json.loads(out)["media_added"] == 0
    with Project.open(folder) as project:
        assert len(project.media()) == 2 and len(project.labels()) == len(labels)


def _seed(folder: Path, dataset: Dataset) -> Path:
    with Project.create(folder, dataset.ontology) as project:
        for info in dataset.media:
            project.add_media(info)
        for label in dataset.labels:
            project.put(label)
    return folder


def test_a_non_empty_out_is_refused_unless_overwrite_which_leaves_nothing_stale(capsys, tmp_path):
    project = _seed(tmp_path / "project", sample_dataset())
    out = tmp_path / "out"
    assert _cli(capsys, "export", project, "--format", "coco", "--out", out)[0] == 0
    (out / "labels" / "old").mkdir(parents=True)
    (out / "labels" / "old" / "000001.txt").write_text("0 0.5 0.5 0.1 0.1\n")  # an earlier export's file
    (out / "annotations.json").write_text("{}")  # the layout before issue 19
    before = _files(out)
    code, printed, err = _cli(capsys, "export", project, "--format", "coco", "--out", out)
    assert (code, printed) == (2, "") and len(err.strip().splitlines()) == 1
    assert "the folder is not empty" in err and "--overwrite" in err and "nothing was written" in err
    assert _files(out) == before
    code, _, err = _cli(capsys, "export", project, "--format", "coco", "--out", out, "--overwrite")
    assert code == 0, err
    assert sorted(_files(out)) == [COCO_FILE] and sorted(p.name for p in out.iterdir()) == ["annotations", "images"]
    assert _files(out)[COCO_FILE] == before[COCO_FILE]
    # an export's folder imports as its one annotations/instances_<subset>.json
    assert len(import_coco(out).labels) == len(sample_dataset().labels)


def test_overwrite_never_deletes_the_project_and_restores_on_failure(capsys, tmp_path, monkeypatch):
    from engine.formats import outdir

    project = _seed(tmp_path / "project", sample_dataset())
    for out in (project, tmp_path):
        code, _, err = _cli(capsys, "export", project, "--format", "coco", "--out", out, "--overwrite")
        assert code == 2 and "--overwrite would delete the project" in err
    assert (project / "project.sqlite").is_file()
    out = tmp_path / "out"
    (out / "old").mkdir(parents=True)
    (out / "old" / "keep.txt").write_text("earlier\n")
    os_link = out / "link"
    os_link.symlink_to(project)
    before = _files(out)

    def failing_place(self, source, relative):
        raise outdir.ExportError("disk full")

    monkeypatch.setattr(outdir.OutFolder, "place", failing_place)
    code, _, err = _cli(capsys, "export", project, "--format", "coco", "--out", out, "--overwrite")
    assert code == 2 and "disk full" in err
    assert _files(out) == before and os_link.is_symlink()  # put back as it was
    assert sorted(p.name for p in out.iterdir()) == ["link", "old"]  # no staging or trash folder left


def test_with_frames_writes_a_self_contained_dataset(capsys, tmp_path):
    import cv2
    import datumaro as dm

    base = sample_dataset()
    media = [MediaInfo(**{**info.__dict__, "fingerprint": media_fingerprint(ROOT / info.name)}) for info in base.media]
    dataset = Dataset(base.ontology, media, base.labels)
    project = _seed(tmp_path / "project", dataset)
    out = tmp_path / "out"
    code, _, err = _cli(capsys, "export", project, "--format", "coco", "--out", out, "--with-frames", "--json")
    assert code == 0, err
    data = json.loads((out / COCO_FILE).read_text())
    files = _files(out)
    assert sorted(files) == sorted([COCO_FILE] + [f"images/default/{i['file_name']}" for i in data["images"]])
    for image in data["images"]:
        written = out / "images" / "default" / image["file_name"]
        if image["video"] == "sample_media/frames":  # an image folder: the original file, byte for byte
            assert written.read_bytes() == (ROOT / image["video"] / Path(image["file_name"]).name).read_bytes()
    frame = cv2.imread(str(out / "images" / "default" / "video" / "000010.jpg"))[..., ::-1]
    from engine.media.open import open_media

    with open_media(ROOT / "sample_media" / "video.mp4") as source:
        assert np.abs(frame.astype(int) - source.frame(10).astype(int)).mean() < 3  # JPEG quality 95
    theirs = dm.Dataset.import_from(str(out), "coco_instances")
    assert len(theirs) == len(data["images"]) and all(item.media.has_data for item in theirs)
    # a media that changed since it was labelled is refused before anything is written
    with Project.open(project) as opened:
        opened.add_media(MediaInfo(str(ROOT / "sample_media" / "still.jpg"), "not-its-fingerprint", 4, 4, 1, 0.0))
        opened.put(Label(1, 0, "leaf", Box(0, 0, 2, 2), media=str(ROOT / "sample_media" / "still.jpg")))
    code, _, err = _cli(capsys, "export", project, "--format", "coco", "--out", tmp_path / "o2", "--with-frames")
    assert code == 2 and "has changed since it was labelled" in err and not (tmp_path / "o2").exists()


def test_with_frames_is_refused_in_one_line_by_formats_without_a_frame_layout(capsys, tmp_path):
    project = _seed(tmp_path / "project", sample_dataset())
    code, _, err = _cli(capsys, "export", project, "--format", "mot", "--out", tmp_path / "o", "--with-frames")
    assert code == 2 and "--with-frames" in err and not (tmp_path / "o").exists()


def test_from_coco_accepts_a_copy_of_its_own_output():
    data = to_coco(sample_dataset())
    assert to_coco(from_coco(copy.deepcopy(data))) == data


def test_portable_names_drop_local_folders_and_stay_unique():
    from engine.formats.coco_fields import portable_names

    infos = [MediaInfo(name, "", 4, 4, 1, 0.0) for name in (
        "/home/me/a/clip.mp4", "/home/me/b/clip.mp4", "C:\\data\\clip.mp4", "clips/clip.mp4", "/srv/shots/", "~/x.mp4",
    )]
    ontology = sample_dataset().ontology
    names = portable_names(Dataset(ontology, infos, []))
    assert list(names.values()) == ["clip.mp4", "clip-2.mp4", "clip-3.mp4", "clips/clip.mp4", "shots", "x.mp4"]
