"""Point (keypoint) labels in the exports: byte-identical round trips in the formats that hold
points (COCO, CVAT for video, CVAT for images, LabelMe, Label Studio), the counted warning of
those that do not (YOLO, MOT, DAVIS), and what pycocotools and Datumaro read."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from engine.errors import FormatWarning
from engine.formats import import_dataset
from engine.formats.dataset import Dataset
from engine.formats.writers import COCO_FILE, export_dataset
from engine.ontology import Ontology
from engine.types import Label, Point
from tests.formats.test_export_samples import FOLDER, VIDEO, sample_dataset

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

VIDEO_POINTS = {0: Point(100.25, 50.0), 1: Point(101.25, 50.0), 2: Point(102.25, 50.5), 5: Point(-0.5, 359.5)}
FOLDER_POINT = Point(3.0, 4.0)


def points_dataset(*, regions: bool = True) -> Dataset:
    """The shared sample dataset (``regions``) plus "spot" point labels: object 9 on video
    frames 0, 1, 2 and 5 (the last on the frame's corner pixel centre), object 10 occluded on
    image 1 of the folder."""
    base = sample_dataset()
    labels = [Label(9, k, "spot", p, source="manual", media=VIDEO) for k, p in VIDEO_POINTS.items()]
    labels.append(Label(10, 1, "spot", FOLDER_POINT, source="manual", media=FOLDER, attributes={"occluded": "1"},
                        score=0.5, review=True))
    if not regions:
        ontology = Ontology([entry for entry in base.ontology if entry.name == "spot"])
        return Dataset(ontology, base.media, labels, {(VIDEO, 9): "the spot"})
    names = {**base.object_names, (VIDEO, 9): "the spot"}
    return Dataset(base.ontology, base.media, base.labels + labels, names)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _points(dataset: Dataset) -> dict:
    return {(label.media.rsplit("/", 1)[-1], label.frame_index): label.shape for label in dataset.labels
            if isinstance(label.shape, Point)}


def _quiet(call, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FormatWarning)
        return call(*args)


# -- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["coco", "labelme", "label-studio"])
def test_export_import_export_is_byte_identical_with_points(tmp_path, fmt):
    _quiet(lambda: export_dataset(points_dataset(), fmt, tmp_path / "a"))
    source = tmp_path / "a" / {"coco": COCO_FILE, "labelme": "", "label-studio": "label-studio.json"}[fmt]
    again = _quiet(lambda: import_dataset(fmt, source))
    _quiet(lambda: export_dataset(again, fmt, tmp_path / "b"))
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert again.ontology["spot"].shape == "point"
    expected = {("video.mp4", k): p for k, p in VIDEO_POINTS.items()} | {("frames", 1): FOLDER_POINT}
    assert _points(again) == expected
    spot = next(label for label in again.labels if isinstance(label.shape, Point) and label.media.endswith("frames"))
    assert dict(spot.attributes) == {"occluded": "1"}
    if fmt != "coco":  # COCO carries every label field too, but its own way (the category id)
        assert (spot.score, spot.review, spot.object_id) == (0.5, True, 10)


@pytest.mark.parametrize("fmt", ["cvat-video", "cvat-images"])
def test_cvat_export_import_export_is_byte_identical_with_points(tmp_path, fmt):
    paths = _quiet(lambda: export_dataset(points_dataset(), fmt, tmp_path / "a"))
    for path in paths:
        again = _quiet(import_dataset, fmt, path)
        (written,) = _quiet(export_dataset, again, fmt, tmp_path / path.stem)
        text = path.read_text(encoding="utf-8")
        if path.stem == "frames" and fmt == "cvat-images":  # an image task names its media by its folder
            portable = again.media[0].name.rsplit("/", 1)[-1]  # (an export never holds an absolute path)
            text = text.replace(f"<name>{FOLDER}</name>", f"<name>{portable}</name>")
        assert written.read_text(encoding="utf-8") == text
        assert again.ontology["spot"].shape == "point"
        points = _points(again)
        if path.stem == "video":
            assert points == {("video.mp4", k): p for k, p in VIDEO_POINTS.items()}
        else:
            assert list(points.values()) == [FOLDER_POINT]


def test_cvat_writes_points_as_cvat_does_at_the_pixel_centre(tmp_path):
    (video, _) = _quiet(lambda: export_dataset(points_dataset(), "cvat-video", tmp_path))
    root = ET.parse(video).getroot()
    spot = next(label for label in root.iter("label") if label.findtext("name") == "spot")
    assert spot.findtext("type") == "points"
    (track,) = [t for t in root.findall("track") if t.get("label") == "spot"]
    elements = [(e.tag, e.get("frame"), e.get("outside"), e.get("keyframe"), e.get("points")) for e in track]
    assert elements == [
        ("points", "0", "0", "1", "100.75,50.50"), ("points", "1", "0", "1", "101.75,50.50"),
        ("points", "2", "0", "1", "102.75,51.00"), ("points", "3", "1", "1", "102.75,51.00"),
        ("points", "5", "0", "1", "0.00,360.00"), ("points", "6", "1", "1", "0.00,360.00"),
    ]
    assert list(track[0].attrib) == ["frame", "keyframe", "outside", "occluded", "points", "z_order"]
    images = _quiet(lambda: export_dataset(points_dataset(), "cvat-images", tmp_path / "images"))
    root = ET.parse(next(p for p in images if p.stem == "frames")).getroot()
    (element,) = root.iter("points")
    assert element.attrib == {"label": "spot", "source": "manual", "occluded": "1", "points": "3.50,4.50",
                              "z_order": "0"}


def test_labelme_and_label_studio_write_points_as_those_tools_do(tmp_path):
    _quiet(lambda: export_dataset(points_dataset(), "labelme", tmp_path / "labelme"))
    shapes = json.loads((tmp_path / "labelme" / "frames" / "frame_1.json").read_text())["shapes"]
    (point,) = [s for s in shapes if s["label"] == "spot"]
    assert (point["shape_type"], point["points"], point["group_id"]) == ("point", [[3.5, 4.5]], 10)
    _quiet(lambda: export_dataset(points_dataset(), "label-studio", tmp_path / "ls"))
    tasks = json.loads((tmp_path / "ls" / "label-studio.json").read_text())
    results = [r for t in tasks for a in t["annotations"] for r in a["result"] if r["type"] == "keypointlabels"]
    assert len(results) == 5  # Label Studio has no video keypoints: each frame's point is an image task
    first = next(r for r in results if r["value"]["x"] == pytest.approx(100.75 / 640 * 100))
    assert first["from_name"] == "keypoint" and first["to_name"] == "image"
    assert (first["original_width"], first["original_height"]) == (640, 360)
    assert first["value"]["y"] == pytest.approx(50.5 / 360 * 100) and first["value"]["keypointlabels"] == ["spot"]
    assert 0 < first["value"]["width"] < 1  # a small drawn point, in percent of the width
    with pytest.warns(FormatWarning, match="label-studio: 4 point labels of videos written as per-frame image tasks"):
        export_dataset(points_dataset(regions=False), "label-studio", tmp_path / "again")


# -- formats without a single keypoint ---------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yolo", "mot", "davis"])
def test_formats_without_keypoints_leave_points_out_naming_format_and_count(tmp_path, fmt):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_dataset(points_dataset(), fmt, tmp_path / "with")
    messages = [str(w.message) for w in caught if issubclass(w.category, FormatWarning)]
    assert f"{fmt}: 5 point label(s) left out: {fmt} has no single keypoint " in messages[0]
    _quiet(lambda: export_dataset(sample_dataset(), fmt, tmp_path / "without"))
    assert _files(tmp_path / "with") == _files(tmp_path / "without")


@pytest.mark.parametrize("fmt", ["coco", "cvat-video", "cvat-images", "labelme", "label-studio"])
def test_formats_with_points_do_not_warn_about_them(tmp_path, fmt):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_dataset(points_dataset(regions=False), fmt, tmp_path)
    assert [str(w.message) for w in caught if issubclass(w.category, FormatWarning)] == (
        ["label-studio: 4 point labels of videos written as per-frame image tasks (Label Studio has no video keypoints)"]
        if fmt == "label-studio" else [])


# -- COCO: person-keypoints style, pycocotools and Datumaro -----------------------------------


def test_coco_writes_person_keypoints_annotations_and_categories(tmp_path):
    export_dataset(points_dataset(), "coco", tmp_path)
    data = json.loads((tmp_path / COCO_FILE).read_text())
    spot = next(c for c in data["categories"] if c["name"] == "spot")
    assert (spot["shape"], spot["keypoints"], spot["skeleton"]) == ("point", ["spot"], [])
    assert all("keypoints" not in c for c in data["categories"] if c["name"] != "spot")
    points = [a for a in data["annotations"] if a["category_id"] == spot["id"]]
    assert [a["keypoints"] for a in points] == [
        [100.25, 50.0, 2], [101.25, 50.0, 2], [102.25, 50.5, 2], [-0.5, 359.5, 2], [3.0, 4.0, 1]]
    first = points[0]
    assert (first["num_keypoints"], first["segmentation"], first["area"], first["bbox"], first["iscrowd"]) == (
        1, [], 0.0, [100.25, 50.0, 0.0, 0.0], 0)
    assert first["track_id"] == 9 and first["attributes"] == {"track_id": 9}
    assert all("keypoints" not in a for a in data["annotations"] if a["category_id"] != spot["id"])


def test_pycocotools_loads_points_and_evaluates_keypoints_with_one_sigma(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    export_dataset(points_dataset(), "coco", tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(tmp_path / COCO_FILE))
    (spot,) = coco.getCatIds(catNms=["spot"])
    annotations = coco.loadAnns(coco.getAnnIds(catIds=[spot]))
    assert len(annotations) == 5 and coco.loadCats(spot)[0]["keypoints"] == ["spot"]
    results = [{"image_id": a["image_id"], "category_id": spot, "keypoints": a["keypoints"], "score": 1.0}
               for a in annotations]

    def evaluate(sigmas):
        with contextlib.redirect_stdout(io.StringIO()):
            evaluation = COCOeval(coco, coco.loadRes(results), "keypoints")
            evaluation.params.catIds = [spot]
            if sigmas is not None:
                evaluation.params.kpt_oks_sigmas = np.array(sigmas)
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
        return evaluation.stats

    stats = evaluate([0.05])  # one sigma per keypoint: a point class has one
    assert stats[0] == pytest.approx(1.0) and stats[5] == pytest.approx(1.0)  # AP and AR @[.5:.95]
    with pytest.raises(IndexError):  # the default sigmas are the 17 of COCO's person
        evaluate(None)


def test_datumaro_reads_the_points_as_coco_person_keypoints(tmp_path):
    """Datumaro's ``coco_person_keypoints`` reader wants keypoints on every category and
    annotation: it reads an export of point classes (the file renamed to its task's name)."""
    import datumaro as dm

    dataset = points_dataset(regions=False)
    export_dataset(dataset, "coco", tmp_path)
    shutil.move(tmp_path / COCO_FILE, tmp_path / "annotations" / "person_keypoints_default.json")
    theirs = dm.Dataset.import_from(str(tmp_path), "coco_person_keypoints")
    assert theirs.categories()[dm.AnnotationType.points].items[0].labels == ["spot"]
    read = {}
    for item in theirs:
        for annotation in item.annotations:
            if annotation.type == dm.AnnotationType.points:
                read[(item.id, annotation.attributes["track_id"])] = (annotation.points, annotation.visibility)
    assert read == {
        **{(f"video/{k:06d}", 9): ([p.x, p.y], [dm.Points.Visibility.visible]) for k, p in VIDEO_POINTS.items()},
        ("frames/frame_1", 10): ([3.0, 4.0], [dm.Points.Visibility.hidden]),
    }


def test_datumaro_cvat_importer_reads_the_points(tmp_path):
    import datumaro as dm

    dataset = points_dataset(regions=False)
    for fmt in ("cvat-images", "cvat-video"):
        folder = tmp_path / fmt
        paths = _quiet(export_dataset, dataset.select(VIDEO), fmt, folder)
        paths[0].rename(folder / "annotations.xml")
        (folder / "images").mkdir()
        for image in ET.parse(folder / "annotations.xml").getroot().findall("image"):
            (folder / "images" / image.get("name")).touch()  # Datumaro wants each named image's file
        read = {}
        for item in dm.Dataset.import_from(str(folder), "cvat"):
            for annotation in item.annotations:
                if annotation.attributes.get("outside"):
                    continue  # (Datumaro lists a track's outside markers too)
                assert annotation.type == dm.AnnotationType.points
                read[item.attributes["frame"]] = annotation.points
        assert read == {k: [p.x + 0.5, p.y + 0.5] for k, p in VIDEO_POINTS.items()}, fmt  # CVAT's pixel edges


@pytest.mark.parametrize("fmt", ["coco", "cvat-video", "labelme", "label-studio"])
def test_points_travel_through_a_project_import_and_export(tmp_path, fmt, capsys):
    from engine.cli.main import main

    dataset = points_dataset(regions=False).select(VIDEO)
    paths = _quiet(export_dataset, dataset, fmt, tmp_path / "a")
    source = {"coco": paths[0], "cvat-video": paths[0], "labelme": tmp_path / "a",
              "label-studio": paths[0]}[fmt]
    assert main(["import", str(tmp_path / "project"), "--format", fmt, str(source), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["labels"] == 4
    assert main(["export", str(tmp_path / "project"), "--format", fmt, "--out", str(tmp_path / "b")]) == 0
    out = tmp_path / "b"
    target = out if fmt == "labelme" else next(p for p in sorted(out.rglob("*")) if p.suffix in (".json", ".xml"))
    again = _quiet(import_dataset, fmt, target)
    assert sorted(_points(again).values(), key=lambda p: p.x) == sorted(VIDEO_POINTS.values(), key=lambda p: p.x)
