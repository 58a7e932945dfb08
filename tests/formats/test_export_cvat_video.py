"""CVAT for video 1.1 export: tracks, runs and outside markers, masks, attributes, and
export -> import -> export."""

import warnings
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

from engine.errors import ExportError, FormatWarning
from engine.formats.cvat_import import import_cvat_video
from engine.formats.cvat_mask import CvatMask, decode_mask, encode_mask
from engine.formats.cvat_video import to_cvat_video
from engine.formats.dataset import Dataset
from engine.formats.shapes import full_mask, quantise
from engine.formats.writers import export_dataset
from engine.geometry import mask_to_box
from engine.types import Box, Polygon
from tests.formats.test_export_samples import FOLDER, VIDEO, gt_mask, sample_dataset


@pytest.fixture(scope="module")
def dataset():
    return sample_dataset()


def _export(dataset, media=VIDEO):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = to_cvat_video(dataset, media)
    return text, [str(w.message) for w in caught if issubclass(w.category, FormatWarning)]


@pytest.fixture(scope="module")
def exported(dataset):
    return _export(dataset)


@pytest.fixture(scope="module")
def root(exported):
    return ET.fromstring(exported[0])


def _tracks(root):
    return {int(t.get("id")): t for t in root.findall("track")}


def _points(text):
    return np.array([[float(v) for v in pair.split(",")] for pair in text.split(";")])


def _attributes(element):
    return {a.get("name"): a.text or "" for a in element.findall("attribute")}


def _crop(element):
    return decode_mask(CvatMask(
        tuple(int(v) for v in element.get("rle").split(",")),
        *(int(element.get(k)) for k in ("left", "top", "width", "height")),
    ))


def test_meta_describes_the_task_and_the_labels(root, dataset):
    assert root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert task.findtext("size") == "48"
    assert task.findtext("mode") == "interpolation"
    assert (task.findtext("original_size/width"), task.findtext("original_size/height")) == ("640", "360")
    assert task.findtext("source") == VIDEO
    labels = {l.findtext("name"): l for l in task.findall("labels/label")}
    assert list(labels) == ["ball", "frame", "leaf", "spot"]
    # CVAT LabelType names; a class that holds masks (ball, frame) is "any", so CVAT takes them
    assert [labels[n].findtext("type") for n in labels] == ["any", "any", "bbox", "points"]
    assert labels["ball"].findtext("color") == "#e6194b"
    declared = [a.findtext("name") for a in labels["frame"].findall("attributes/attribute")]
    assert declared == ["source", "score", "confirmed", "review", "object_id", "note"]


def test_outside_only_where_the_object_ends_and_masks_in_tracks_of_their_own(root, dataset):
    tracks = _tracks(root)
    # objects 1 (polygons) and 3 (boxes) are tracks 0 and 2; objects 2 (holes on every frame)
    # and 4 (two parts) are masks only: one track per mask, numbered after the objects
    assert sorted(tracks) == [0, 2] + list(range(4, 12))
    labelled = {}
    for label in dataset.labels:
        if label.media == VIDEO:
            labelled.setdefault(label.object_id, []).append(label.frame_index)
    for object_id, outside in {1: [4, 13], 3: [1, 4, 7, 10]}.items():
        track = tracks[object_id - 1]
        assert [int(e.get("frame")) for e in track if e.get("outside") == "0"] == sorted(labelled[object_id])
        assert [int(e.get("frame")) for e in track if e.get("outside") == "1"] == outside  # consecutive: none between
        assert all(e.get("keyframe") == "1" for e in track)
        assert {_attributes(e)["object_id"] for e in track} == {str(object_id)}
    masks = [tracks[i] for i in range(4, 12)]
    assert [(_attributes(t[0])["object_id"], t[0].get("frame")) for t in masks] == [
        ("2", "0"), ("2", "1"), ("2", "2"), ("2", "5"), ("2", "6"), ("2", "47"), ("4", "20"), ("4", "21")]
    for track in masks:
        frame = int(track[0].get("frame"))
        assert [e.tag for e in track] == ["mask"] * len(track)
        # as CVAT writes a single shape: the shape, then an outside copy on the next frame
        assert [(e.get("frame"), e.get("outside")) for e in track] == (
            [(str(frame), "0"), (str(frame + 1), "1")] if frame < 47 else [("47", "0")])
    assert tracks[2].get("label") == "leaf" and {e.tag for e in tracks[2]} == {"box"}
    assert tracks[0].get("label") == "ball" and {e.tag for e in tracks[0]} == {"polygon"}


def test_elements_are_written_as_cvat_writes_them(root):
    element = next(iter(_tracks(root)[0]))
    assert list(element.attrib) == ["frame", "keyframe", "outside", "occluded", "points", "z_order"]
    mask = _tracks(root)[4][0]
    assert list(mask.attrib) == ["frame", "keyframe", "outside", "occluded", "rle", "left", "top", "width",
                                 "height", "z_order"]
    assert ", " in mask.get("rle")  # CVAT writes the runs as a Python list without brackets


def test_the_mask_encoding_is_cvats():
    # cvat-core mask2Rle: row by row, starting with the background run: 1,1,0,0 -> [0, 2, 2]
    crop = np.array([[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 0]], bool)
    mask = encode_mask(crop, 10, 20)
    assert (mask.left, mask.top, mask.width, mask.height) == (11, 21, 3, 2)  # tightened to the pixels
    assert mask.rle == (0, 2, 2, 2) and mask.text() == "0, 2, 2, 2"
    assert decode_mask(mask).tolist() == [[True, True, False], [False, True, True]]


def test_masks_hold_every_part_and_hole_pixel_for_pixel(root, dataset):
    labels = {(l.object_id, l.frame_index): l for l in dataset.labels if l.media == VIDEO}
    for track in list(_tracks(root).values())[2:]:
        element = track[0]
        label = labels[(int(_attributes(element)["object_id"]), int(element.get("frame")))]
        ours = full_mask(quantise(label.shape), 360, 640)
        theirs = np.zeros((360, 640), bool)
        left, top = int(element.get("left")), int(element.get("top"))
        crop = _crop(element)
        theirs[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
        assert np.array_equal(ours, theirs)
    frame5 = next(t[0] for t in _tracks(root).values() if t[0].tag == "mask" and t[0].get("frame") == "5")
    assert _attributes(frame5) == {"source": "manual", "score": "1.0", "confirmed": "true", "review": "false",
                                   "object_id": "2", "note": "striped"}


def test_boxes_and_flags(root, dataset):
    tracks = _tracks(root)
    leaf = next(e for e in tracks[2] if e.get("frame") == "3")
    box = mask_to_box(gt_mask(3) == 3)
    assert [float(leaf.get(k)) for k in ("xtl", "ytl", "xbr", "ybr")] == [box.x0, box.y0, box.x1, box.y1]
    flagged = next(e for e in tracks[0] if e.get("frame") == "12")
    attributes = _attributes(flagged)
    assert (attributes["source"], attributes["confirmed"], attributes["review"]) == ("propagated", "false", "true")


def test_the_export_warns_what_it_changed(exported):
    (note,) = exported[1]
    assert note.startswith(f"{VIDEO}: 8 labels with several parts or holes written as CVAT <mask> shapes")


def test_a_box_in_a_polygon_class_is_a_polygon_and_a_polygon_in_a_box_class_its_box(dataset):
    ball = next(l for l in dataset.labels if (l.media, l.object_id, l.frame_index) == (VIDEO, 1, 3))
    leaf = next(l for l in dataset.labels if (l.media, l.object_id, l.frame_index) == (VIDEO, 3, 3))
    square = Polygon(((np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 40.0], [10.0, 40.0]]),),))
    labels = [l for l in dataset.labels if l not in (ball, leaf)]
    labels += [replace(ball, shape=Box(5, 6, 25, 26)), replace(leaf, shape=square)]
    text, notes = _export(Dataset(dataset.ontology, dataset.media, labels))
    tracks = _tracks(ET.fromstring(text))
    element = next(e for e in tracks[0] if e.get("frame") == "3")
    assert element.tag == "polygon" and element.get("points") == "5.00,6.00;25.00,6.00;25.00,26.00;5.00,26.00"
    element = next(e for e in tracks[2] if e.get("frame") == "3")
    assert element.tag == "box" and [element.get(k) for k in ("xtl", "ytl", "xbr", "ybr")] == [
        "10.00", "10.00", "30.00", "40.00"]
    assert f"{VIDEO}: 1 polygon labels of box classes simplified to their bounding boxes" in notes


def test_occluded_and_z_order_are_written_back(dataset):
    labels = [replace(l, attributes={"occluded": "1", "z_order": "3"}) if l.object_id == 3 else l for l in dataset.labels]
    text, _ = _export(Dataset(dataset.ontology, dataset.media, labels))
    leaf = _tracks(ET.fromstring(text))[2]
    assert {(e.get("occluded"), e.get("z_order")) for e in leaf} == {("1", "3")}
    assert all("occluded" not in _attributes(e) for e in leaf)


def test_export_import_export_gives_identical_files(tmp_path, dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FormatWarning)
        paths = export_dataset(dataset, "cvat-video", tmp_path / "out")
        assert sorted(p.name for p in paths) == ["frames.xml", "video.xml"]
        for path in paths:
            imported = import_cvat_video(path)
            assert len(imported.media) == 1
            again = to_cvat_video(imported, imported.media[0].name)
            assert again == path.read_text(encoding="utf-8")
    imported = import_cvat_video(tmp_path / "out" / "video.xml")
    assert imported.media[0].name == VIDEO and imported.media[0].frames == 48
    before = {(l.frame_index, l.object_id): l for l in dataset.labels if l.media == VIDEO}
    after = {(l.frame_index, l.object_id): l for l in imported.labels}
    assert before.keys() == after.keys()  # outside markers stop CVAT's runs: nothing is interpolated
    for key, old in before.items():
        new = after[key]
        assert (new.class_name, new.source, new.score, new.confirmed, new.review, dict(new.attributes)) == (
            old.class_name, old.source, old.score, old.confirmed, old.review, dict(old.attributes)
        )
        if isinstance(old.shape, Box):
            assert new.shape == old.shape
        else:  # every part and hole: the same pixels
            assert np.array_equal(full_mask(new.shape, 360, 640), full_mask(quantise(old.shape), 360, 640))


def test_an_object_that_changes_class_cannot_be_one_track(dataset):
    labels = [replace(l, class_name="frame") if (l.object_id, l.frame_index) == (1, 3) else l for l in dataset.labels]
    with pytest.raises(ExportError, match="object 1 .* has classes"):
        to_cvat_video(Dataset(dataset.ontology, dataset.media, labels), VIDEO)
    for attributes in ({"source": "x"}, {"object_id": "3"}):
        labels = [replace(l, attributes=attributes) if l.object_id == 7 else l for l in dataset.labels]
        with pytest.raises(ExportError, match="clashes"):
            to_cvat_video(Dataset(dataset.ontology, dataset.media, labels), FOLDER)
    labels = [replace(l, attributes={"z_order": "top"}) if l.object_id == 7 else l for l in dataset.labels]
    with pytest.raises(ExportError, match="z_order 'top' is not an integer"):
        to_cvat_video(Dataset(dataset.ontology, dataset.media, labels), FOLDER)


def test_empty_polygons_are_skipped(dataset):
    labels = list(dataset.labels) + [replace(dataset.labels[0], frame_index=30, shape=Polygon(()))]
    text, _ = _export(Dataset(dataset.ontology, dataset.media, labels))
    assert "30" not in [e.get("frame") for e in _tracks(ET.fromstring(text))[0]]


def test_tracks_renumbered_and_added_in_cvat_keep_their_objects(tmp_path, dataset):
    """CVAT numbers tracks 0..N-1 on export and gives a track made in CVAT an empty object_id:
    framewise's objects come back by their object_id, the new track gets a new object."""
    root = ET.fromstring(_export(dataset)[0])
    for index, track in enumerate(root.findall("track")):
        track.set("id", str(index))
    new = ET.SubElement(root, "track", {"id": "10", "label": "leaf", "source": "manual"})
    box = ET.SubElement(new, "box", {"frame": "40", "keyframe": "1", "outside": "0", "occluded": "0", "xtl": "1",
                                     "ytl": "1", "xbr": "9", "ybr": "9", "z_order": "0"})
    ET.SubElement(box, "attribute", {"name": "object_id"}).text = ""
    path = tmp_path / "renumbered.xml"
    path.write_text(ET.tostring(root, encoding="unicode"))
    imported = import_cvat_video(path)
    objects = {}
    for label in imported.labels:
        objects.setdefault(label.object_id, set()).add(label.frame_index)
    assert objects[2] == {0, 1, 2, 5, 6, 47} and objects[4] == {20, 21}  # the masks, on their objects
    assert objects[5] == set(range(40, 48))  # the new track: a new object, held to the end
