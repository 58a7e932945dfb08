"""The standard simulated clicker for interactive segmentation, and NoC.

This is the protocol of RITM / SimpleClick / the SAM papers (see
``shared/data/README.md``):

- the first click is positive, at the object pixel farthest from the object's boundary;
- each next click goes to the error region whose interior point lies farthest from its
  boundary (missed object -> positive click, false object -> negative click), at that
  farthest point;
- image borders count as boundary (the masks are zero-padded before the distance
  transform), so a click never sits on the frame edge when an interior point exists;
- ground-truth pixels equal to `IGNORE_VALUE` (128) are left out of the IoU and are
  never clicked.

Masks are H×W; ground truth is ``uint8`` (0 background, 255 object, 128 ignore) or
``bool``; predictions are ``bool``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from engine.geometry import mask_iou

IGNORE_VALUE = 128


@dataclass(frozen=True)
class Click:
    """One simulated click: (x, y) in pixels, ``positive`` = include."""

    x: int
    y: int
    positive: bool


def split_gt(gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split a ground-truth mask into (object, valid).

    gt: H×W ``uint8`` (0 background, 255 object, 128 ignore; any value > 128 is object)
        or ``bool``.
    Returns two H×W ``bool`` arrays: the object pixels and the pixels that count
    (not ignored).
    """
    gt = np.asarray(gt)
    if gt.ndim != 2:
        raise ValueError(f"ground truth must be H×W, got shape {gt.shape}")
    if gt.dtype == bool:
        return gt, np.ones(gt.shape, bool)
    valid = gt != IGNORE_VALUE
    return (gt > IGNORE_VALUE) & valid, valid


def iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """Intersection over union of ``pred`` (H×W bool) with ``gt``, ignore pixels left out.

    Returns 1.0 when both are empty on the valid pixels (`engine.geometry.mask_iou`).
    """
    obj, valid = split_gt(gt)
    pred = np.asarray(pred, bool)
    if pred.shape != obj.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {obj.shape} differ in shape")
    return mask_iou(obj, pred & valid)


def _padded_distance(region: np.ndarray) -> np.ndarray:
    """H×W float32 distance of each ``region`` pixel to the nearest non-region pixel.

    The region is zero-padded by one pixel first so that the image border counts as
    boundary (a region touching the frame edge is "thin" there, as in RITM).
    """
    import cv2

    padded = np.pad(region.astype(np.uint8), 1, mode="constant")
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist[1:-1, 1:-1]


def next_click(gt: np.ndarray, pred: np.ndarray | None) -> Click | None:
    """The simulated user's next click, or None when there is no error left.

    gt: H×W ground truth (see `split_gt`).
    pred: H×W bool current mask, or None before the first click (= empty mask, which
        makes the first click land at the object's most interior pixel).
    Ties (several pixels at the same maximal distance) go to the first in raster order;
    a tie between the two error regions goes to the false-object (negative) side, as in
    RITM's clicker.
    """
    obj, valid = split_gt(gt)
    if pred is None:
        pred = np.zeros(obj.shape, bool)
    pred = np.asarray(pred, bool)
    if pred.shape != obj.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {obj.shape} differ in shape")
    missed = obj & ~pred & valid
    false_fg = ~obj & pred & valid
    dist_missed = _padded_distance(missed)
    dist_false = _padded_distance(false_fg)
    best_missed = float(dist_missed.max()) if missed.any() else 0.0
    best_false = float(dist_false.max()) if false_fg.any() else 0.0
    if best_missed == 0.0 and best_false == 0.0:
        return None
    positive = best_missed > best_false
    dist = dist_missed if positive else dist_false
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return Click(int(x), int(y), positive)


def noc(ious: Sequence[float], threshold: float, max_clicks: int) -> int:
    """Number of clicks to reach ``threshold`` IoU.

    ious: the IoU after click 1, 2, … (index 0 is after the first click).
    Returns the 1-based index of the first IoU ≥ threshold, or ``max_clicks`` when it is
    never reached within the first ``max_clicks`` clicks.
    """
    for index, value in enumerate(ious[:max_clicks]):
        if value >= threshold:
            return index + 1
    return max_clicks


def clicks_to_arrays(clicks: Sequence[Click]) -> tuple[np.ndarray, np.ndarray]:
    """Clicks as (points N×2 float32 (x, y), labels N int32 with 1 = positive)."""
    points = np.array([[c.x, c.y] for c in clicks], np.float32).reshape(-1, 2)
    labels = np.array([1 if c.positive else 0 for c in clicks], np.int32)
    return points, labels
