"""Prompts for re-segmenting a propagated object: seed points and box (the prior's logits:
`engine.segment.base.mask_logits`).

Pure functions. Masks are H×W ``bool``; points N×2 ``float32`` (x, y) in frame pixels.
"""

from __future__ import annotations

import numpy as np


def _padded_distance(mask: np.ndarray) -> np.ndarray:
    """H×W float32 distance of each mask pixel to the nearest background pixel or frame edge."""
    import cv2

    padded = np.pad(mask.astype(np.uint8), 1, mode="constant")
    return cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]


def interior_points(mask: np.ndarray, count: int = 6, min_depth: float = 2.0) -> np.ndarray:
    """Up to ``count`` include points deep inside ``mask`` (H×W bool), deepest first.

    Greedy: take the pixel farthest from the boundary (frame edges count as boundary),
    then suppress a disc around it of radius max(its depth, 4 px) and repeat, so the
    points spread over the object's parts instead of piling up in its thickest part.
    Pixels closer than ``min_depth`` to the boundary are never chosen (a point on the
    edge tracks the background as often as the object). Returns P×2 float32 (x, y).
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros((0, 2), np.float32)
    # Work on the mask's bounding box: outside it everything is background, so distances
    # (and the row-major argmax order) are the same as on the whole frame, at a fraction
    # of the cost on a 1080p frame.
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, left = int(rows[0]), int(cols[0])
    mask = mask[top: int(rows[-1]) + 1, left: int(cols[-1]) + 1]
    depth = _padded_distance(mask)
    limit = max(min_depth, 0.15 * float(depth.max()))
    if depth.max() < limit:
        limit = float(depth.max())
    height, width = mask.shape
    yy, xx = np.mgrid[0:height, 0:width]
    available = depth.copy()
    points: list[tuple[int, int]] = []
    while len(points) < count:
        index = int(np.argmax(available))
        y, x = divmod(index, width)
        value = float(available[y, x])
        if value <= 0 or value < limit:
            break
        points.append((x, y))
        radius = max(float(depth[y, x]), 4.0)
        available[(xx - x) ** 2 + (yy - y) ** 2 <= radius * radius] = 0
    return (np.array(points, np.float32).reshape(-1, 2) + np.array([left, top], np.float32)).astype(np.float32)


def ring_points(mask: np.ndarray, count: int = 8, margin: float = 10.0) -> np.ndarray:
    """Up to ``count`` exclude points about ``margin`` pixels outside ``mask`` (H×W bool).

    The ring between the mask dilated by ``margin`` and by ``1.5 × margin`` is split into
    ``count`` angular sectors around the mask's centroid; each sector gives the ring pixel
    nearest its middle direction. Sectors where the ring leaves the frame give nothing.
    Returns Q×2 float32 (x, y).
    """
    import cv2

    mask = np.asarray(mask, bool)
    if not mask.any() or count <= 0:
        return np.zeros((0, 2), np.float32)
    # distance of background pixels to the mask (not padded: the frame edge is no object)
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    ring = (dist >= margin) & (dist <= 1.5 * margin + 1)
    ys, xs = np.nonzero(ring)
    if len(xs) == 0:
        return np.zeros((0, 2), np.float32)
    my, mx = np.nonzero(mask)
    cx, cy = float(mx.mean()), float(my.mean())
    angle = np.arctan2(ys - cy, xs - cx)
    points = []
    for k in range(count):
        target = -np.pi + (k + 0.5) * 2 * np.pi / count
        diff = np.abs(np.angle(np.exp(1j * (angle - target))))
        best = int(np.argmin(diff))
        if diff[best] <= np.pi / count:
            points.append((xs[best], ys[best]))
    return np.array(points, np.float32).reshape(-1, 2)


def expanded_box(
    mask: np.ndarray, extra_points: np.ndarray | None = None, *, relative: float = 0.1, pixels: float = 6.0
) -> np.ndarray | None:
    """4 float32 box (x0, y0, x1, y1) around ``mask`` (H×W bool) and ``extra_points``
    (N×2 (x, y)), grown by ``relative`` of its size plus ``pixels`` on each side and
    clipped to the frame; None when both are empty."""
    mask = np.asarray(mask, bool)
    height, width = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    xs: list[float] = []
    ys: list[float] = []
    if len(rows):
        xs += [float(cols[0]), float(cols[-1] + 1)]
        ys += [float(rows[0]), float(rows[-1] + 1)]
    if extra_points is not None and len(extra_points):
        pts = np.asarray(extra_points, np.float32).reshape(-1, 2)
        xs += [float(pts[:, 0].min()), float(pts[:, 0].max() + 1)]
        ys += [float(pts[:, 1].min()), float(pts[:, 1].max() + 1)]
    if not xs:
        return None
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    grow_x = relative * (x1 - x0) + pixels
    grow_y = relative * (y1 - y0) + pixels
    box = np.array(
        [max(0.0, x0 - grow_x), max(0.0, y0 - grow_y), min(float(width), x1 + grow_x), min(float(height), y1 + grow_y)],
        np.float32,
    )
    return box if box[2] > box[0] and box[3] > box[1] else None


def boundary_band(mask: np.ndarray, radius: int) -> np.ndarray:
    """H×W bool: pixels within ``radius`` px of the boundary of ``mask`` (H×W bool), both sides."""
    import cv2

    if radius <= 0:
        return np.zeros(mask.shape, bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    m = mask.astype(np.uint8)
    return (cv2.dilate(m, kernel) > 0) & ~(cv2.erode(m, kernel, borderType=cv2.BORDER_REPLICATE) > 0)
