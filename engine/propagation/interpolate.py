"""Keyframe interpolation: shapes between two confirmed labels of one object.

Boxes move linearly, corner by corner. Polygons are blended as signed distance fields
after aligning their centroids, then traced back to a polygon:

1. each polygon is rasterised (at ``scale``× the frame resolution) into a canvas where
   its area centroid sits at the same point;
2. the signed distance fields (negative inside) are mixed ``(1 - t)·d_a + t·d_b`` and
   the zero level set is the blended shape;
3. the shape is traced (`engine.geometry.mask_to_polygon`) and moved to the linearly
   interpolated centroid.

Why SDF blending and not vertex correspondence (resampled rings matched from a start
vertex): it takes any two polygons as they come — holes, several parts, parts appearing
or vanishing, rings of very different vertex counts or start points — and never yields a
self-intersecting ring, where ring matching needs equal topology and a good start match
and folds on concave or rotating shapes. The centroid alignment fixes SDF blending's one
classic failure, large motion: two disjoint blobs no longer fade out in the middle.
What it does not model is rotation (a turning shape blends towards a rounder one) and
parts moving apart (they share one centroid motion): add a keyframe there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

import numpy as np

from engine.geometry import mask_to_polygon, polygon_bounds, polygon_to_mask, polygon_to_shapely
from engine.types import Box, Label, LabelSource, Point, Polygon, Shape

SUPERSAMPLE = 3
"""Polygons are blended on a grid this many times finer than frame pixels. Odd, so each
frame pixel centre is the centre of a grid pixel: a blend that keeps a pixel keeps it."""


def interpolate_box(a: Box, b: Box, t: float) -> Box:
    """The box a fraction ``t`` (0 → ``a``, 1 → ``b``) of the way, every edge linearly."""
    return Box(*(float((1 - t) * p + t * q) for p, q in zip(a.as_list(), b.as_list())))


def polygon_centroid(polygon: Polygon) -> np.ndarray:
    """Area centroid (x, y) float64 of a polygon (holes subtracted), in frame pixels."""
    centre = polygon_to_shapely(polygon).centroid
    return np.array([centre.x, centre.y], np.float64)


def _shift(polygon: Polygon, offset: np.ndarray) -> Polygon:
    return Polygon(tuple(tuple(np.asarray(ring, np.float64) + offset for ring in part) for part in polygon.parts))


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """H×W float32: distance to the boundary, negative inside ``mask`` (H×W bool)."""
    import cv2

    inside = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 5)
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    return outside - inside


def interpolate_polygon(a: Polygon, b: Polygon, t: float, *, scale: int = SUPERSAMPLE, tolerance: float = 0.5) -> Polygon:
    """The polygon a fraction ``t`` of the way from ``a`` to ``b`` (see the module docstring).

    scale: supersampling of the blend grid; tolerance: simplification of the traced
    outline in frame pixels. An empty polygon on either side gives the other one moved
    along; a blend with no area left (thin shapes far apart in shape) gives the nearer
    keyframe's shape at the interpolated centroid.
    """
    if not a.parts or not b.parts:
        return b if not a.parts else a
    if t <= 0:
        return a
    if t >= 1:
        return b
    centre_a, centre_b = polygon_centroid(a), polygon_centroid(b)
    centre = (1 - t) * centre_a + t * centre_b
    # A canvas that holds both shapes centred on one point: its half-size is the largest
    # reach from either centroid, plus a margin so distances at the border are not clipped.
    reach = 0.0
    for polygon, c in ((a, centre_a), (b, centre_b)):
        bounds = polygon_bounds(polygon)
        assert bounds is not None  # both have parts (returned above otherwise)
        reach = max(reach, abs(bounds.x0 - c[0]), abs(bounds.x1 - c[0]), abs(bounds.y0 - c[1]), abs(bounds.y1 - c[1]))
    half = int(np.ceil(reach)) + 3
    size = 2 * half * scale
    # The canvas keeps ``a``'s fractional pixel position, so a pure translation by whole
    # pixels blends to an exact copy.
    fraction = centre_a - np.floor(centre_a)

    def raster(polygon: Polygon, c: np.ndarray) -> np.ndarray:
        moved = _shift(polygon, -(c - fraction) + half)  # centroid at half + fraction
        return polygon_to_mask(_shift_scale(moved, scale), size, size)

    field = (1 - t) * _signed_distance(raster(a, centre_a)) + t * _signed_distance(raster(b, centre_b))
    blended = field < 0
    if not blended.any():
        nearer, c = (a, centre_a) if t < 0.5 else (b, centre_b)
        return _shift(nearer, centre - c)
    traced = mask_to_polygon(blended, tolerance=tolerance * scale, min_area=4.0 * scale * scale)
    if not traced.parts:
        nearer, c = (a, centre_a) if t < 0.5 else (b, centre_b)
        return _shift(nearer, centre - c)
    # canvas pixel p ↔ frame point p/scale - half - fraction + centroid; the centroid is
    # the interpolated one.
    return _shift(_shift_scale(traced, 1.0 / scale), centre - fraction - half)


def _shift_scale(polygon: Polygon, factor: float) -> Polygon:
    return Polygon(tuple(tuple(np.asarray(ring, np.float64) * factor for ring in part) for part in polygon.parts))


def interpolate_shape(a: Shape, b: Shape, t: float) -> Shape:
    """A box, polygon or point a fraction ``t`` of the way from ``a`` to ``b`` (same kind)."""
    if isinstance(a, Point) and isinstance(b, Point):
        return Point((1 - t) * a.x + t * b.x, (1 - t) * a.y + t * b.y)
    if isinstance(a, Box) and isinstance(b, Box):
        return interpolate_box(a, b, t)
    if isinstance(a, Polygon) and isinstance(b, Polygon):
        return interpolate_polygon(a, b, t)
    raise ValueError(f"cannot interpolate a {type(a).__name__} with a {type(b).__name__}")


def interpolate_labels(a: Label, b: Label, frame_index: int) -> Label:
    """The label of ``a``'s object on ``frame_index`` strictly between ``a`` and ``b``'s
    frames: source ``interpolated``, unconfirmed, score the frame-weighted mean."""
    if a.object_id != b.object_id:
        raise ValueError(f"labels of objects {a.object_id} and {b.object_id} cannot be interpolated")
    low, high = sorted((a.frame_index, b.frame_index))
    if not low < frame_index < high:
        raise ValueError(f"frame {frame_index} is not strictly between frames {low} and {high}")
    t = (frame_index - a.frame_index) / (b.frame_index - a.frame_index)
    return replace(
        a,
        frame_index=int(frame_index),
        shape=interpolate_shape(a.shape, b.shape, t),
        source=LabelSource.INTERPOLATED,
        score=float((1 - t) * a.score + t * b.score),
        confirmed=False,
        review=False,
    )


class _KeyframeStore(Protocol):
    def get(self, media: str, frame_index: int, object_id: int) -> Label | None: ...

    def put(self, label: Label, *, kind: str | None = None) -> object: ...


def fill_between(store: _KeyframeStore, first: Label, last: Label) -> list[Label]:
    """Write into ``store`` the labels of ``first``'s object interpolated on the frames
    strictly between ``first`` and ``last`` (change kind ``interpolate``), keeping the
    confirmed labels already there; returns the labels written."""
    written: list[Label] = []
    for frame_index in range(first.frame_index + 1, last.frame_index):
        existing = store.get(first.media, frame_index, first.object_id)
        if existing is not None and existing.confirmed:
            continue
        label = interpolate_labels(first, last, frame_index)
        store.put(label, kind="interpolate")
        written.append(label)
    return written
