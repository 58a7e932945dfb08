"""MOTChallenge export: gt.txt rows, 1-based frames, class ids, seqinfo; DAVIS-free media get files too."""

import pytest

from engine.formats.dataset import Dataset
from engine.formats.mot import to_mot
from engine.formats.writers import export_dataset
from engine.geometry import mask_to_box
from engine.ontology import Ontology
from engine.types import Box, Label, LabelClass, MediaInfo
from tests.formats.test_export_samples import VIDEO, gt_mask, sample_dataset


@pytest.fixture(scope="module")
def dataset():
    return sample_dataset()


def _rows(text):
    return [line.split(",") for line in text.splitlines()]


def test_gt_rows(dataset):
    files = to_mot(dataset)
    rows = _rows(files["video/gt/gt.txt"])
    assert len(rows) == sum(1 for l in dataset.labels if l.media == VIDEO)
    assert all(len(r) == 9 for r in rows)
    keys = [(int(r[0]), int(r[1])) for r in rows]
    assert keys == sorted(keys)  # by frame, then id
    assert min(k[0] for k in keys) == 1  # frames are 1-based
    leaf = next(r for r in rows if (r[0], r[1]) == ("4", "3"))  # frame index 3, object 3
    box = mask_to_box(gt_mask(3) == 3)
    assert [float(v) for v in leaf[2:6]] == [box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0]
    assert leaf[6:] == ["1", "15", "1"]  # conf, class (line of labels.txt: 12 MOT16 classes, then ours), visibility
    ball = next(r for r in rows if (r[0], r[1]) == ("1", "1"))
    ring = next(l for l in dataset.labels if (l.media, l.object_id, l.frame_index) == (VIDEO, 1, 0)).shape.parts[0][0]
    assert float(ball[2]) == pytest.approx(ring[:, 0].min(), abs=0.005)
    assert float(ball[4]) == pytest.approx(ring[:, 0].max() - ring[:, 0].min(), abs=0.011)
    assert ball[7] == "13"


def test_labels_and_seqinfo(dataset, tmp_path):
    files = to_mot(dataset)
    table = files["video/gt/labels.txt"].splitlines()
    assert table[:3] == ["pedestrian", "person on vehicle", "car"] and len(table) == 16
    assert table[12:] == ["ball", "frame", "leaf", "spot"]
    info = dict(line.split("=", 1) for line in files["video/seqinfo.ini"].splitlines()[1:])
    assert info == {"name": "video", "imDir": "img1", "frameRate": "24", "seqLength": "48", "imWidth": "640",
                    "imHeight": "360", "imExt": ".jpg"}
    written = export_dataset(dataset, "mot", tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == sorted(files)


def test_media_without_labels_get_an_empty_gt(dataset):
    extra = MediaInfo("empty.mp4", "", 10, 10, 5, 25.0)
    files = to_mot(Dataset(dataset.ontology, dataset.media + [extra], dataset.labels))
    assert files["empty/gt/gt.txt"] == ""


@pytest.mark.parametrize(
    "names, expected",
    [
        (["person", "car", "bag"], {"person": 1, "car": 3, "bag": 13}),
        (["Pedestrian", "static_person", "Motorcycle", "person"], {"Pedestrian": 1, "static_person": 7,
                                                                   "Motorcycle": 5, "person": 13}),
        (["non-motorized vehicle", "reflection"], {"non-motorized vehicle": 6, "reflection": 12}),
    ],
)
def test_class_numbers_follow_the_motchallenge_table(names, expected):
    ontology = Ontology([LabelClass(name, "bounding_box") for name in names])
    info = MediaInfo("seq.mp4", "", 100, 80, 3, 25.0)
    labels = [Label(k + 1, 0, name, Box(1, 1, 10, 10), media=info.name) for k, name in enumerate(names)]
    files = to_mot(Dataset(ontology, [info], labels))
    rows = _rows(files["seq/gt/gt.txt"])
    assert {names[int(r[1]) - 1]: int(r[7]) for r in rows} == expected  # TrackEval scores class 1
    table = files["seq/gt/labels.txt"].splitlines()
    assert all(table[number - 1] == name for name, number in expected.items())
