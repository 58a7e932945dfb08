"""MOTChallenge import (gt.txt + seqinfo.ini + labels.txt) and the export read by Datumaro's mot_seq."""

from __future__ import annotations

import pytest

from engine.errors import SessionFormatError
from engine.formats import import_dataset
from engine.formats.dataset import Dataset
from engine.formats.mot import to_mot
from engine.formats.mot_import import import_mot
from engine.formats.shapes import quantise, shape_bounds
from engine.formats.writers import export_dataset, write_files
from engine.ontology import Ontology
from engine.types import Box, Label, LabelClass, MediaInfo
from tests.formats.test_export_samples import sample_dataset


def test_export_import_export_is_identical(tmp_path):
    dataset = sample_dataset()
    files = to_mot(dataset)
    write_files(files, tmp_path)
    back = import_dataset("mot", tmp_path)  # a folder of sequences
    assert [(m.name, m.frames, m.width, m.height, m.fps) for m in back.media] == [
        ("frames", 24, 640, 360, 0.0), ("video", 48, 640, 360, 24.0)]
    assert len(back.labels) == len(dataset.labels)
    # MOT holds boxes only: every class comes back as a box class, the unused table entries do not
    assert back.ontology.names == ["ball", "frame", "leaf", "spot"]
    assert {back.ontology[n].shape for n in back.ontology.names} == {"bounding_box"}
    assert to_mot(back) == files
    ids = {(l.media, l.frame_index, l.object_id) for l in back.labels}
    assert ids == {(l.media.split("/")[-1].split(".")[0], l.frame_index, l.object_id) for l in dataset.labels}
    one = import_mot(tmp_path / "video" / "gt" / "gt.txt")  # a gt.txt: its sequence
    assert [m.name for m in one.media] == ["video"]


def test_datumaro_mot_seq_reads_the_export(tmp_path):
    import datumaro as dm

    dataset = sample_dataset()
    export_dataset(dataset, "mot", tmp_path)
    for info in dataset.media:
        stem = dataset.stems()[info.name]
        read = dm.Dataset.import_from(str(tmp_path / stem), "mot_seq")  # one sequence at a time
        names = [c.name for c in read.categories()[dm.AnnotationType.label]]
        labels = {(l.frame_index + 1, l.object_id): l for l in dataset.labels if l.media == info.name}
        boxes = [(int(item.id), a) for item in read for a in item.annotations]
        assert len(read) == info.frames and len(boxes) == len(labels)
        for frame, box in boxes:
            label = labels[(frame, box.attributes["track_id"])]
            assert box.attributes["ignored"] is False and box.attributes["visibility"] == 1
            assert names[box.label] == label.class_name
            bounds = shape_bounds(quantise(label.shape))
            assert box.get_bbox() == pytest.approx(
                [bounds.x0, bounds.y0, bounds.x1 - bounds.x0, bounds.y1 - bounds.y0], abs=0.011)


def test_known_classes_keep_their_motchallenge_numbers_through_datumaro_and_back(tmp_path):
    import datumaro as dm

    ontology = Ontology([LabelClass("car", "bounding_box"), LabelClass("person", "bounding_box"),
                         LabelClass("bag", "bounding_box")])
    info = MediaInfo("street.mp4", "", 200, 100, 5, 30.0)
    labels = [Label(7, 0, "person", Box(1, 2, 11, 32), media=info.name),
              Label(9, 1, "car", Box(50.5, 20.25, 120, 60), media=info.name),
              Label(3, 4, "bag", Box(0, 0, 5, 5), media=info.name)]
    files = to_mot(Dataset(ontology, [info], labels))
    assert [row.split(",")[7] for row in files["street/gt/gt.txt"].splitlines()] == ["1", "3", "13"]
    write_files(files, tmp_path)
    read = dm.Dataset.import_from(str(tmp_path / "street"), "mot_seq")
    names = [c.name for c in read.categories()[dm.AnnotationType.label]]
    assert {(int(i.id), a.attributes["track_id"], names[a.label]) for i in read for a in i.annotations} == {
        (1, 7, "person"), (2, 9, "car"), (5, 3, "bag")}
    back = import_mot(tmp_path / "street")
    assert back.ontology.names == ["person", "car", "bag"] and to_mot(back) == files


def _sequence(tmp_path, gt: str, seqinfo: str | None = None, labels: str | None = None):
    (tmp_path / "s" / "gt").mkdir(parents=True)
    (tmp_path / "s" / "gt" / "gt.txt").write_text(gt)
    if seqinfo is not False:
        (tmp_path / "s" / "seqinfo.ini").write_text(seqinfo or "[Sequence]\nname=s\nseqLength=10\nimWidth=100\nimHeight=50\n")
    if labels is not None:
        (tmp_path / "s" / "gt" / "labels.txt").write_text(labels)
    return tmp_path / "s"


def test_motchallenge_files_without_labels_txt_use_the_table(tmp_path):
    # a MOT17 gt.txt row: pedestrians (1), a static person (7, conf 0), a car (3)
    folder = _sequence(tmp_path, "1,1,10,5,20,30,1,1,0.8\n1,2,50,5,20,30,0,7,1\n2,3,-5,10,30,20,1,3,0.5\n")
    back = import_mot(folder)
    assert back.ontology.names == ["pedestrian", "car", "static person"]
    assert sorted((l.frame_index, l.object_id, l.class_name) for l in back.labels) == [
        (0, 1, "pedestrian"), (0, 2, "static person"), (1, 3, "car")]
    car = next(l for l in back.labels if l.object_id == 3)
    assert car.shape == Box(0.0, 10.0, 25.0, 30.0)  # clamped into the frame


@pytest.mark.parametrize(
    "gt, seqinfo, words",
    [
        ("1,1,0,0,5,5,1,1,1\n", False, "seqinfo.ini: missing"),
        ("11,1,0,0,5,5,1,1,1\n", None, "frame 11 is outside 1..10"),
        ("1,1,0,0,5,5,1,13,1\n", None, "class 13 is outside 1..12"),
        ("1,1,0,0,5,5,1,1,1\n1,1,3,3,5,5,1,1,1\n", None, "object 1 twice on frame 1"),
        ("1,1,0,0,0,5,1,1,1\n", None, "no area"),
        ("1,0,0,0,5,5,1,1,1\n", None, "outside 1.."),
        ("1,1,x,0,5,5,1,1,1\n", None, "expected integers"),
        ("1,1,0,0,5,5\n", None, "6 values"),
        ("1,1,0,0,5,5,1,1,1\n", "[Sequence]\nseqLength=10\nimWidth=0\nimHeight=5\n", "imWidth: must be positive"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, gt, seqinfo, words):
    with pytest.raises(SessionFormatError, match=words):
        import_mot(_sequence(tmp_path, gt, seqinfo))


def test_mutated_files_fail_with_one_clear_error(tmp_path):
    """Random mutations of a real export: a SessionFormatError or a dataset, nothing else."""
    import random

    write_files(to_mot(sample_dataset()), tmp_path)
    texts = {p: p.read_bytes() for p in sorted((tmp_path / "video").rglob("*.*"))}
    rng = random.Random(19)
    for _ in range(200):
        path, data = rng.choice(sorted(texts.items()))
        data = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            data[at:at + rng.randint(0, 3)] = rng.choice([b"", b",", b"-", b"9", b"nan", b"\n", b"=", b"[", b"\xff"])
        path.write_bytes(bytes(data))
        try:
            import_mot(tmp_path / "video")
        except SessionFormatError as exc:
            assert str(exc) and "\n" not in str(exc).strip()
        finally:
            path.write_bytes(texts[path])
