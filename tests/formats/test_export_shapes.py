"""Export helpers: cropped rasterising equals the full-frame geometry; stems are unique and safe."""

import numpy as np

from engine.formats.dataset import Dataset, media_stem
from engine.formats.shapes import full_mask, largest_part, quantise, raster_crop
from engine.geometry import shape_to_mask
from engine.ontology import default_ontology
from engine.types import Box, MediaInfo, Polygon


def test_cropped_rasterising_matches_shape_to_mask_inside_and_across_the_frame_edge():
    rng = np.random.default_rng(11)
    h, w = 23, 31
    for _ in range(200):
        centre = rng.uniform(-5, 36, 2)
        ring = centre + rng.uniform(-9, 9, (int(rng.integers(3, 9)), 2))
        shape = quantise(Polygon(((ring,),)))
        assert np.array_equal(full_mask(shape, h, w), shape_to_mask(shape, h, w))
        x0, y0 = rng.uniform(-4, 30, 2).round(1)
        box = Box(float(x0), float(y0), float(x0 + rng.uniform(0.2, 9)), float(y0 + rng.uniform(0.2, 9)))
        assert np.array_equal(full_mask(box, h, w), shape_to_mask(box, h, w))
    box = Box(1.5, 2.5, 4.5, 3.5)  # pixel centres on the left/top edges count, as in box_to_mask
    crop, x, y = raster_crop(box, h, w)
    assert np.array_equal(full_mask(box, h, w), shape_to_mask(box, h, w)) and crop.sum() == 3


def test_largest_part_subtracts_holes():
    big = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    hole = np.array([[1, 1], [9, 1], [9, 9], [1, 9]], float)
    small = np.array([[20, 0], [27, 0], [27, 7], [20, 7]], float)  # 49 px² against 100 - 64 = 36
    assert np.array_equal(largest_part(Polygon(((big, hole), (small,)))), small)
    assert np.array_equal(largest_part(Polygon(((big,), (small,)))), big)


def test_media_stems_are_unique_and_file_system_safe():
    media = [
        MediaInfo("a/clip.mp4", "", 4, 4, 1, 1.0),
        MediaInfo("b/clip.mp4", "", 4, 4, 1, 1.0),
        MediaInfo("c/CLIP.mov", "", 4, 4, 1, 1.0),
        MediaInfo("shots/take.2", "", 4, 4, 2, 1.0, (), ("1.png", "2.png")),
        MediaInfo("C:\\data\\my clip?.mp4", "", 4, 4, 1, 1.0),
        MediaInfo("frames/*.jpg", "", 4, 4, 2, 1.0, (), ("a.jpg", "b.jpg")),
        MediaInfo("..", "", 4, 4, 1, 1.0),
    ]
    stems = Dataset(default_ontology(), media, []).stems()
    assert list(stems.values()) == ["clip", "clip-2", "CLIP-3", "take.2", "my_clip_", "frames", "media"]
    assert media_stem(media[0]) == "clip"
