"""The pixel-level boundary refinement (`classic_refine.refine`) on exact synthetic inputs."""

import dataclasses

import numpy as np

from engine.segment.classic.refine import RefineParams, _ring_moments, refine

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


def two_sided_scene():
    """A rectangle whose colours swap sides: on the left (3/4 of it) a red object on a
    blue ground, on the right a blue object on a red ground; Lab noise σ = 10. The coarse
    mask is the rectangle grown by 4 px all round."""
    yy, xx = np.mgrid[:H, :W]
    truth = (xx >= 30) & (xx < 100) & (yy >= 25) & (yy < 70)
    left = (xx < 85)[..., None]
    red, blue = np.array([120, 170, 150]), np.array([90, 130, 90])
    clean = np.where(truth[..., None], np.where(left, red, blue), np.where(left, blue, red))
    noisy = clean + np.random.default_rng(0).normal(0, 10, clean.shape)
    lab = np.clip(noisy, 0, 255).astype(np.uint8)
    colour_index = (clean[..., 0] == 90).astype(np.uint8)
    coarse = (xx >= 26) & (xx < 104) & (yy >= 21) & (yy < 74)
    return lab, colour_index, coarse, truth


def test_local_colour_models_find_an_edge_the_global_model_reads_backwards():
    lab, colour_index, coarse, truth = two_sided_scene()
    points, labels = [[60, 45]], [1]
    refined = run(coarse, None, lab, colour_index, points, labels)
    assert np.array_equal(refined, truth)
    # One pair of ring histograms for the whole object says red is object and blue is
    # ground, which is backwards on the right: there the band cut strays from the edge.
    global_only = run(coarse, None, lab, colour_index, points, labels, local_weight=0.0, colour_weight=1.0)
    wrong = (global_only ^ truth).sum()
    assert wrong > 300
    assert (global_only ^ truth)[:, 85:].sum() > 0.8 * wrong


def test_ring_moments_are_the_per_cell_sums_of_the_ring_pixels():
    rng = np.random.default_rng(3)
    lab = rng.integers(0, 256, (18, 23, 3), dtype=np.uint8)
    ring = rng.random((18, 23)) < 0.3
    moments = _ring_moments(lab, ring, (5, 6), 4)
    assert moments.shape == (5, 6, 7) and moments.dtype == np.float32
    for gy in range(5):
        for gx in range(6):
            cell = np.zeros_like(ring)
            cell[gy * 4 : gy * 4 + 4, gx * 4 : gx * 4 + 4] = True
            pixels = lab[ring & cell].astype(np.float64)
            expected = [len(pixels), *pixels.sum(axis=0), *(pixels**2).sum(axis=0)]
            np.testing.assert_allclose(moments[gy, gx], np.array(expected) / 16, rtol=1e-6)
