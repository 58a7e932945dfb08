"""The pixel-level boundary refinement (`classic_refine.refine`) on exact synthetic inputs."""

import dataclasses

import numpy as np

from engine.segment.classic_refine import RefineParams, refine

H, W, STEP = 96, 132, 12


def blocks_scene():
    """A uniform object disc on a uniform background, 12×12 block "superpixels", and the
    coarse mask after an exclude click took one block out of the middle of the disc."""
    yy, xx = np.mgrid[:H, :W]
    disc = (xx - 64) ** 2 + (yy - 48) ** 2 < 36**2
    lab = np.where(disc[..., None], [150, 150, 100], [60, 120, 140]).astype(np.uint8)
    colour_index = disc.astype(np.uint8)
    regions = (yy // STEP) * (W // STEP) + xx // STEP
    hole = regions == regions[42, 66]
    coarse = disc & ~hole
    return lab, colour_index, regions.astype(np.int32), coarse, hole, disc


def run(coarse, regions, lab, colour_index, points, labels, **changes):
    params = dataclasses.replace(RefineParams(), **changes)
    return refine(coarse, regions, lab, colour_index, 2, np.array(points, np.float64), np.array(labels), None, params)


def test_the_clicked_superpixel_keeps_the_clicks_label():
    lab, colour_index, regions, coarse, hole, disc = blocks_scene()
    points, labels = [[40, 48], [66, 42]], [1, 0]
    refined = run(coarse, regions, lab, colour_index, points, labels)
    assert not refined[hole].any()
    # Elsewhere the uniform disc keeps its exact outline.
    assert np.array_equal(refined, disc & ~hole)
    assert not refined[~disc].any()
    # Without holding the clicked superpixel, the band cut fills the hole back in (it
    # looks like the object all round) and only the pixels right at the click stay out.
    filled = run(coarse, regions, lab, colour_index, points, labels, click_region=False)
    square = np.zeros_like(hole)
    square[42 - 4 : 42 + 5, 66 - 4 : 66 + 5] = True  # RefineParams.click_radius = 4
    assert filled[hole & ~square].all() and not filled[square].any()
