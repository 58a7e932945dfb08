"""A colour model of an object against its surroundings, to notice when a mask has slid
off its object (occlusion, drift): pure functions over numpy arrays.

The model is two colour histograms (8 levels per RGB channel, 512 bins) taken on a
reference frame: the object's pixels and a ring of background around it. A pixel
"looks like the object" when its colour is more frequent, relatively, in the object's
histogram. The *likeness* of a mask on a later frame is the share of its pixels that
look like the object, relative to the same share on the reference frame (so an object
that shares colours with its surroundings is not held to an impossible standard).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LEVELS = 8
BINS = LEVELS**3


def colour_bins(pixels: np.ndarray) -> np.ndarray:
    """…×3 uint8 RGB pixels (a frame H×W×3 or a list N×3) -> … int32 bins in [0, 512)."""
    q = (np.asarray(pixels, np.uint8) >> 5).astype(np.int32)
    return (q[..., 0] * LEVELS + q[..., 1]) * LEVELS + q[..., 2]


@dataclass(frozen=True)
class Appearance:
    """object_is_likelier: 512 bool, the colour bins likelier on the object than around it;
    reference_share: the share of the reference mask's pixels in those bins."""

    object_is_likelier: np.ndarray
    reference_share: float


def appearance_model(frame: np.ndarray, mask: np.ndarray, margin: float) -> Appearance:
    """The colour model of ``mask`` (H×W bool) on ``frame`` (H×W×3 uint8 RGB), with the
    background ring ``margin`` … 3 × ``margin`` pixels around the mask."""
    import cv2

    mask = np.asarray(mask, bool)
    bins = colour_bins(frame)
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    ring = (dist > margin) & (dist <= 3 * margin)
    if not ring.any():
        ring = ~mask
    fg = np.bincount(bins[mask], minlength=BINS).astype(np.float64) + 0.5
    bg = np.bincount(bins[ring], minlength=BINS).astype(np.float64) + 0.5
    likelier = fg / fg.sum() > bg / bg.sum()
    share = float(likelier[bins[mask]].mean()) if mask.any() else 0.0
    return Appearance(likelier, share)


def likeness(appearance: Appearance, frame: np.ndarray, mask: np.ndarray) -> float:
    """Share of ``mask``'s pixels (H×W bool) on ``frame`` whose colour looks like the
    object, relative to the reference share; 1.0 means "as on the reference frame",
    capped at 1.5. An empty mask gives 0.0."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return 0.0
    share = float(appearance.object_is_likelier[colour_bins(np.asarray(frame)[mask])].mean())
    return min(1.5, share / max(appearance.reference_share, 1e-3))
