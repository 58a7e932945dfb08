"""The simulated clicker and NoC (engine/evaluation/clicker.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.evaluation.clicker import IGNORE_VALUE, Click, clicks_to_arrays, iou, next_click, noc, split_gt


def rect_gt(height: int = 60, width: int = 80, box=(10, 20, 50, 40)) -> np.ndarray:
    """uint8 mask: 255 inside the half-open box (x0, y0, x1, y1), 0 elsewhere."""
    ys, xs = np.mgrid[:height, :width]
    x0, y0, x1, y1 = box
    return np.where((xs >= x0) & (xs < x1) & (ys >= y0) & (ys < y1), 255, 0).astype(np.uint8)


def test_first_click_is_the_most_interior_object_pixel():
    ys, xs = np.mgrid[:101, :121]
    gt = np.where((xs - 70) ** 2 + (ys - 40) ** 2 <= 25**2, 255, 0).astype(np.uint8)
    click = next_click(gt, None)
    assert click == Click(70, 40, True)


def test_first_click_treats_the_frame_edge_as_boundary():
    # The object touches the left edge: its most interior pixel is 10 px from that edge,
    # not at the edge (which an unpadded distance transform would pick).
    gt = rect_gt(60, 80, (0, 10, 40, 50))
    assert next_click(gt, None) == Click(19, 29, True)


def test_negative_click_when_false_region_is_thicker():
    gt = rect_gt(60, 80, (10, 20, 30, 40))
    pred = gt > 0
    pred[0:40, 40:80] = True  # a 40×40 false region, the object is fully covered
    # Its centre (59.5, 19.5) ties four pixels; the first in raster order is taken.
    assert next_click(gt, pred) == Click(59, 19, False)


def test_positive_click_when_missed_region_is_thicker():
    gt = rect_gt(60, 80, (10, 10, 70, 50))
    pred = np.zeros(gt.shape, bool)
    pred[10:50, 10:20] = True  # only a strip found: the big missed part wins
    pred[0:3, 0:3] = True  # a tiny false region
    # The missed part is x 20..69, y 10..49: its centre is (44.5, 29.5).
    click = next_click(gt, pred)
    assert click is not None and click.positive
    assert 39 <= click.x <= 50 and 29 <= click.y <= 30


def test_no_click_when_prediction_is_perfect():
    gt = rect_gt()
    assert next_click(gt, gt > 0) is None


def test_ignore_pixels_are_not_clicked_nor_scored():
    gt = rect_gt(60, 80, (10, 10, 40, 40))
    gt[:, 50:] = IGNORE_VALUE
    pred = gt == 255
    pred[:, 50:] = True  # "false" foreground only on ignored pixels
    assert iou(gt, pred) == pytest.approx(1.0)
    assert next_click(gt, pred) is None
    obj, valid = split_gt(gt)
    assert not obj[:, 50:].any() and not valid[:, 50:].any()


def test_iou_values():
    gt = rect_gt(60, 80, (0, 0, 20, 10))  # 200 pixels
    pred = np.zeros(gt.shape, bool)
    pred[0:10, 10:30] = True  # overlaps 100, union 300
    assert iou(gt, pred) == pytest.approx(1 / 3)
    assert iou(np.zeros((4, 4), np.uint8), np.zeros((4, 4), bool)) == 1.0
    with pytest.raises(ValueError):
        iou(gt, pred[:10])


@pytest.mark.parametrize(
    "ious, threshold, expected",
    [
        ([0.5, 0.86, 0.91], 0.85, 2),
        ([0.5, 0.86, 0.91], 0.90, 3),
        ([0.9], 0.85, 1),
        ([0.5, 0.6], 0.85, 20),
        ([], 0.85, 20),
    ],
)
def test_noc(ious, threshold, expected):
    assert noc(ious, threshold, 20) == expected


def test_noc_ignores_clicks_past_the_budget():
    assert noc([0.1, 0.2, 0.95], 0.9, max_clicks=2) == 2


def test_clicks_to_arrays():
    points, labels = clicks_to_arrays([Click(3, 4, True), Click(5, 6, False)])
    assert points.dtype == np.float32 and points.tolist() == [[3, 4], [5, 6]]
    assert labels.dtype == np.int32 and labels.tolist() == [1, 0]
