"""DAVIS import (index PNGs -> polygon labels per object id) and the overlap count of the export."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from engine.errors import FormatWarning, SessionFormatError
from engine.formats import import_dataset
from engine.formats.dataset import Dataset
from engine.formats.davis import OverlapCount, encode_indexed_png, to_davis
from engine.formats.davis_import import import_davis
from engine.formats.shapes import full_mask
from engine.formats.writers import export_dataset
from engine.ontology import Ontology
from engine.types import Box, Label, LabelClass, MediaInfo, Polygon
from tests.formats.test_export_samples import SAMPLES, gt_mask, sample_dataset


def _pngs(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.png"))}


def test_export_import_export_gives_identical_pngs(tmp_path):
    dataset = sample_dataset()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        export_dataset(dataset, "davis", tmp_path / "a")
    (warning,) = [w for w in caught if issubclass(w.category, FormatWarning)]
    assert "pixels on 1 frames were covered by more than one object" in str(warning.message)
    back = import_dataset("davis", tmp_path / "a")
    assert [(m.name, m.width, m.height) for m in back.media] == [("frames", 640, 360), ("video", 640, 360)]
    assert back.ontology.names == ["object"] and back.ontology["object"].shape == "polygon"
    assert len(back.labels) == len(dataset.labels)  # every object of every labelled frame
    with warnings.catch_warnings():
        warnings.simplefilter("error", FormatWarning)  # what the PNGs hold no longer overlaps
        export_dataset(back, "davis", tmp_path / "b")
    assert _pngs(tmp_path / "b") == _pngs(tmp_path / "a")


def test_imported_polygons_are_the_exact_pixels_holes_and_parts_included(tmp_path):
    (tmp_path / "video").mkdir()
    for k in (0, 1, 20):
        mask = np.where(np.isin(gt_mask(k), (1, 2)), gt_mask(k), 0).astype(np.uint8)
        (tmp_path / "video" / f"{k:05d}.png").write_bytes(encode_indexed_png(mask))
    Image.fromarray(gt_mask(5)).save(tmp_path / "video" / "00005.png")  # a grey PNG is read too
    back = import_davis(tmp_path / "video", class_name="thing")
    (info,) = back.media
    assert (info.name, info.frames) == ("video", 21)  # no JPEGImages: the last frame + 1
    for label in back.labels:
        assert label.class_name == "thing" and isinstance(label.shape, Polygon)
        assert np.array_equal(full_mask(label.shape, 360, 640), gt_mask(label.frame_index) == label.object_id)
    frame = next(l for l in back.labels if (l.frame_index, l.object_id) == (0, 2))
    assert any(len(part) > 1 for part in frame.shape.parts)  # the frame's hole


def test_the_davis_layout_counts_frames_from_jpegimages(tmp_path):
    annotations = tmp_path / "Annotations" / "480p" / "clip"
    images = tmp_path / "JPEGImages" / "480p" / "clip"
    annotations.mkdir(parents=True)
    images.mkdir(parents=True)
    for k in range(6):
        (images / f"{k:05d}.jpg").write_bytes(b"")
    mask = np.zeros((4, 6), np.uint8)
    mask[1:3, 1:4] = 3
    mask[0, 5] = 255  # void: not an object
    (annotations / "00000.png").write_bytes(encode_indexed_png(mask))
    back = import_davis(tmp_path / "Annotations" / "480p")
    ((info,), (label,)) = back.media, back.labels
    assert (info.name, info.frames, info.width, info.height) == ("clip", 6, 6, 4)
    assert label.object_id == 3 and np.array_equal(full_mask(label.shape, 4, 6), mask == 3)


def test_overlaps_are_counted_once_per_pixel():
    ontology = Ontology([LabelClass("b", "bounding_box")])
    media = [MediaInfo("m.mp4", "", 8, 6, 2, 1.0)]
    labels = [Label(1, 0, "b", Box(0, 0, 4, 4), media="m.mp4"), Label(2, 0, "b", Box(2, 2, 8, 6), media="m.mp4"),
              Label(3, 0, "b", Box(3, 3, 5, 5), media="m.mp4"), Label(1, 1, "b", Box(0, 0, 2, 2), media="m.mp4")]
    overlaps = OverlapCount()
    list(to_davis(Dataset(ontology, media, labels), overlaps))
    # frame 0: three boxes overlap; a pixel under two or three of them counts once
    shared = np.zeros((6, 8), int)
    for label in labels[:3]:
        shared[int(label.shape.y0):int(label.shape.y1), int(label.shape.x0):int(label.shape.x1)] += 1
    assert (overlaps.pixels, overlaps.frames) == (int((shared > 1).sum()), 1)


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: (d / "00000.png").write_bytes(b"not a png"), "cannot decode|not a readable PNG"),
        (lambda d: Image.new("RGB", (4, 4)).save(d / "00000.png"), "RGB PNG"),
        (lambda d: [Image.new("L", (4, 4)).save(d / "00000.png"), Image.new("L", (5, 4)).save(d / "00001.png")],
         "5x4, but the sequence's masks are 4x4"),
        (lambda d: (d / "x.txt").write_text("no masks"), "no DAVIS masks"),
    ],
)
def test_bad_input_is_one_clear_error(tmp_path, make, words):
    make(tmp_path)
    with pytest.raises(SessionFormatError, match=words):
        import_davis(tmp_path)


def test_sample_masks_import(tmp_path):
    """The repository's own DAVIS-style ground truth (sample_media/masks/video) imports as it is."""
    back = import_davis(SAMPLES / "masks" / "video")
    (info,) = back.media
    assert info.name == "video" and info.frames == 48
    assert {l.object_id for l in back.labels} == {1, 2, 3}


def test_damaged_pngs_fail_with_one_clear_error(tmp_path):
    """Random byte mutations of real masks: a SessionFormatError or a dataset, nothing else."""
    import random

    mask = np.where(np.isin(gt_mask(0), (1, 2)), gt_mask(0), 0).astype(np.uint8)[100:160, 40:120]  # small: fast
    path = tmp_path / "00000.png"
    original = encode_indexed_png(mask)
    rng = random.Random(19)
    for _ in range(150):
        data = bytearray(original)
        for _ in range(rng.randint(1, 5)):
            at = rng.randrange(len(data) + 1)
            data[at:at + rng.randint(0, 8)] = bytes(rng.randrange(256) for _ in range(rng.randint(0, 4)))
        path.write_bytes(bytes(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.2 else data))
        try:
            import_davis(tmp_path)
        except SessionFormatError as exc:
            assert "\n" not in str(exc).strip()


def test_davis_2016_binary_grey_annotations_import_as_one_object(tmp_path):
    """DAVIS-2016's annotations are grey (some grey + alpha) masks with 255 = the object: the
    real ones import as object 1 on every frame, and the DAVIS export gives back the same
    pixels. A synthetic LA mask takes the same path."""
    from engine.media.images import read_id_mask
    from tests.shared_data import shared_data

    folder = shared_data("davis16-train10") / "Annotations" / "bear"
    dataset = import_davis(folder)
    pngs = sorted(folder.glob("*.png"))
    assert {label.object_id for label in dataset.labels} == {1}
    assert sorted(label.frame_index for label in dataset.labels) == list(range(len(pngs)))
    export_dataset(dataset, "davis", tmp_path / "out")
    for png in pngs[:: max(1, len(pngs) // 8)]:
        written = np.array(Image.open(tmp_path / "out" / "bear" / png.name))
        assert ((written == 1) == (read_id_mask(png) > 0)).all(), png.name
    grey = np.zeros((12, 16), np.uint8)
    grey[3:9, 4:12] = 255
    (tmp_path / "la").mkdir()
    Image.fromarray(np.dstack([grey, np.full_like(grey, 255)]), "LA").save(tmp_path / "la" / "00000.png")
    (label,) = import_davis(tmp_path / "la").labels
    assert label.object_id == 1 and (full_mask(label.shape, 12, 16) == (grey > 0)).all()
