"""`engine.segment.base.mask_logits`: the one writer of SAM's low-resolution logit layout
(the propagator's prior, the effort harness's start mask, the classic segmenter's output)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.segment.base import LOGIT_RANGE, LOGIT_SIDE, logit_grid, mask_logits
from engine.segment.classic.segmenter import superpixel_fractions


@pytest.mark.parametrize(("height", "width", "grid"), [(480, 854, (144, 256)), (360, 640, (144, 256)),
                                                       (256, 256, (256, 256)), (1, 900, (1, 256))])
def test_the_long_side_spans_the_square_top_left(height, width, grid):
    assert logit_grid(height, width) == grid
    logits = mask_logits(np.ones((height, width), bool))
    assert logits.shape == (1, LOGIT_SIDE, LOGIT_SIDE) and logits.dtype == np.float32
    inside = np.zeros((LOGIT_SIDE, LOGIT_SIDE), bool)
    inside[: grid[0], : grid[1]] = True
    assert np.allclose(logits[0][inside], LOGIT_RANGE, atol=1e-4)
    assert (logits[0][~inside] == -LOGIT_RANGE).all()


def test_fractions_map_linearly_and_clip_only_trims_the_area_overshoot():
    fraction = np.tile(np.linspace(0, 1, 854, dtype=np.float32), (480, 1))
    logits = mask_logits(fraction)[0, :144, :256]
    assert logits.min() == pytest.approx(-LOGIT_RANGE, abs=0.05) and logits.max() == pytest.approx(LOGIT_RANGE, abs=0.05)
    assert (np.diff(logits, axis=1) >= 0).all()
    mask = np.zeros((480, 960), bool)
    mask[100:400, 200:900] = True  # 480×960 -> 128×256: area averaging overshoots 1 by an ulp
    clipped, raw = mask_logits(mask), mask_logits(mask, clip=False)
    assert clipped.max() == LOGIT_RANGE and raw.max() > LOGIT_RANGE
    assert np.abs(clipped - raw).max() < 1e-5


def test_classic_reads_back_what_mask_logits_writes():
    labels = np.repeat(np.arange(4), 60 * 80).reshape(4, 60, 80).transpose(1, 0, 2).reshape(60, 320)
    mask = labels >= 2
    fractions = superpixel_fractions(mask_logits(mask), labels, 4)
    assert fractions.tolist() == [0.0, 0.0, 1.0, 1.0]
