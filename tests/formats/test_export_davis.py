"""DAVIS export: palette PNGs whose values are object ids, equal to the ground truth for exact outlines."""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from engine.errors import ExportError
from engine.formats.dataset import Dataset, media_stem
from engine.formats.davis import davis_palette, to_davis
from engine.formats.writers import export_dataset
from engine.ontology import Ontology
from engine.types import Box, Label, LabelClass, MediaInfo
from tests.formats.test_export_samples import VIDEO, gt_mask, sample_dataset


@pytest.fixture(scope="module")
def exact():
    """Exact (tolerance 0) outlines of the ball and the frame only."""
    dataset = sample_dataset(tolerance=0)
    labels = [l for l in dataset.labels if l.media == VIDEO and l.object_id in (1, 2)]
    return Dataset(dataset.ontology, [dataset.media[0]], labels)


def test_the_palette_is_davis(exact):
    palette = davis_palette()
    assert palette[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert palette[255].tolist() == [224, 224, 192]  # the VOC 'void' colour
    assert len({tuple(c) for c in palette}) == 256


def test_pngs_reproduce_the_ground_truth(tmp_path, exact):
    paths = export_dataset(exact, "davis", tmp_path)
    labelled = sorted({label.frame_index for label in exact.labels})
    assert [p.name for p in paths] == [f"{k:05d}.png" for k in labelled]  # labelled frames only
    assert paths[0].relative_to(tmp_path).as_posix() == "video/00000.png"
    image = Image.open(tmp_path / "video" / "00005.png")
    assert image.mode == "P"
    assert image.getpalette()[:9] == [0, 0, 0, 128, 0, 0, 0, 128, 0]
    values = np.array(image)
    expected = np.where(gt_mask(5) == 2, 2, 0)  # on frame 5 only the frame is labelled
    assert np.array_equal(values, expected)
    both = np.array(Image.open(tmp_path / "video" / "00001.png"))
    expected = np.where(np.isin(gt_mask(1), (1, 2)), gt_mask(1), 0)
    assert np.array_equal(both, expected)
    assert 30 not in labelled and not (tmp_path / "video" / "00030.png").exists()  # unlabelled: no PNG


def test_higher_ids_paint_over_lower_ones_and_boxes_fill():
    ontology = Ontology([LabelClass("b", "bounding_box")])
    media = [MediaInfo("m.mp4", "", 8, 6, 1, 1.0)]
    labels = [Label(3, 0, "b", Box(0, 0, 4, 4), media="m.mp4"), Label(2, 0, "b", Box(2, 2, 8, 6), media="m.mp4")]
    ((path, index),) = list(to_davis(Dataset(ontology, media, labels)))
    assert path == "m/00000.png"
    expected = np.zeros((6, 8), np.uint8)
    expected[2:6, 2:8] = 2
    expected[0:4, 0:4] = 3
    assert np.array_equal(index, expected)


def test_ids_above_255_are_refused(exact):
    labels = [replace(exact.labels[0], object_id=300)]
    with pytest.raises(ExportError, match="object id 300"):
        list(to_davis(Dataset(exact.ontology, exact.media, labels)))


def test_media_names_cannot_escape_the_output_folder(tmp_path):
    ontology = Ontology([LabelClass("b", "bounding_box")])
    info = MediaInfo("../../evil/..", "", 4, 4, 1, 1.0)
    assert media_stem(info) not in ("", ".", "..")
    info = MediaInfo("../../../tmp/evil.mp4", "", 4, 4, 1, 1.0)
    out = tmp_path / "out"
    paths = export_dataset(Dataset(ontology, [info], [Label(1, 0, "b", Box(0, 0, 2, 2), media=info.name)]), "davis", out)
    assert [p.relative_to(out).as_posix() for p in paths] == ["evil/00000.png"]
