"""Shape helpers shared by the exporters: rounding, bounds, rasterising a crop, parts.

Every exporter first rounds a shape to `DECIMALS` (what the files hold) and derives boxes,
areas and masks from the rounded shape, so re-importing a file and exporting it again
gives the same numbers.
"""

from __future__ import annotations

import math

import numpy as np

from engine.errors import ExportError
from engine.geometry import polygon_to_mask, polygon_to_shapely
from engine.types import Box, Point, Polygon, Shape

DECIMALS = 2
"""Coordinates in exported files are rounded to 0.01 px."""


def rounded(value: float) -> float:
    """``value`` rounded to `DECIMALS`, with -0.0 turned into 0.0."""
    return round(float(value), DECIMALS) + 0.0


def quantise(shape: Shape) -> Shape:
    """The shape with every coordinate rounded to `DECIMALS` (rings keep their order)."""
    if isinstance(shape, Point):
        return Point(rounded(shape.x), rounded(shape.y))
    if isinstance(shape, Box):
        return Box(rounded(shape.x0), rounded(shape.y0), rounded(shape.x1), rounded(shape.y1))
    parts = tuple(
        tuple(np.round(np.asarray(ring, np.float64), DECIMALS) + 0.0 for ring in part) for part in shape.parts
    )
    return Polygon(parts)


def region_of(shape: Shape) -> Box | Polygon:
    """``shape`` as a region; a `Point` raises `ExportError` (the exporters that hold points
    write them before asking for a region; the others leave them out: `engine.formats.points`)."""
    if isinstance(shape, Point):
        raise ExportError("point labels cannot be exported as regions")
    return shape


def is_empty(shape: Shape) -> bool:
    """True for a polygon without parts, a box without area or a point (no region):
    exporters skip these."""
    if isinstance(shape, Point):
        return True
    if isinstance(shape, Box):
        return shape.x1 <= shape.x0 or shape.y1 <= shape.y0
    return not shape.parts


def clip_to_frame(shape: Shape, width: int, height: int) -> Shape | None:
    """The shape with every coordinate clamped into the frame ``[0, width]×[0, height]``
    (the importers' rule, as CVAT clips shapes to the frame: a coordinate like 1e308 would
    overflow the exports' areas and masks). A polygon part whose clamped bounds have no
    area (it lay wholly outside the frame) is dropped; None when nothing is left (a polygon
    without parts stays as it is). Coordinates must be finite."""
    if isinstance(shape, Box):
        box = Box(
            min(max(shape.x0, 0.0), width) + 0.0,
            min(max(shape.y0, 0.0), height) + 0.0,
            min(max(shape.x1, 0.0), width) + 0.0,
            min(max(shape.y1, 0.0), height) + 0.0,
        )
        return None if is_empty(box) else box
    if isinstance(shape, Point):
        return Point(min(max(shape.x, -0.5), width - 0.5) + 0.0, min(max(shape.y, -0.5), height - 0.5) + 0.0)
    high = np.array([width, height], np.float64)
    parts = []
    for part in shape.parts:
        rings = tuple(np.clip(np.asarray(ring, np.float64), 0.0, high) + 0.0 for ring in part)
        if not is_empty(outer_bounds(Polygon((rings,)))):  # a part wholly outside is dropped
            parts.append(rings)
    return Polygon(tuple(parts)) if parts or not shape.parts else None


def has_holes(polygon: Polygon) -> bool:
    return any(len(part) > 1 for part in polygon.parts)


def outer_bounds(polygon: Polygon) -> Box:
    """Box around the exterior rings' vertices (pixel edges); the polygon must have parts."""
    points = np.concatenate([np.asarray(part[0], np.float64) for part in polygon.parts])
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return Box(float(x0), float(y0), float(x1), float(y1))


def shape_bounds(shape: Shape) -> Box:
    if isinstance(shape, Point):
        return Box(shape.x, shape.y, shape.x, shape.y)
    return shape if isinstance(shape, Box) else outer_bounds(shape)


def raster_crop(shape: Shape, height: int, width: int) -> tuple[np.ndarray, int, int]:
    """The shape's pixels inside a ``height``×``width`` frame, cropped to its bounds.

    Returns (mask, x0, y0): mask h×w bool covering frame columns x0..x0+w and rows
    y0..y0+h, equal to that window of `engine.geometry.shape_to_mask` (pixel-centre
    sampling is invariant under integer shifts), at the cost of the crop only.
    """
    bounds = shape_bounds(shape)
    x0 = min(max(math.floor(bounds.x0), 0), width)
    y0 = min(max(math.floor(bounds.y0), 0), height)
    x1 = min(max(math.ceil(bounds.x1), x0), width)
    y1 = min(max(math.ceil(bounds.y1), y0), height)
    h, w = y1 - y0, x1 - x0
    if isinstance(shape, Point):
        return np.zeros((h, w), bool), x0, y0
    if isinstance(shape, Box):
        mask = np.zeros((h, w), bool)
        cx = np.arange(x0, x1) + 0.5
        cy = np.arange(y0, y1) + 0.5
        cols = (cx >= shape.x0) & (cx < shape.x1)  # as geometry.box_to_mask
        rows = (cy >= shape.y0) & (cy < shape.y1)
        mask[np.ix_(rows, cols)] = True
        return mask, x0, y0
    offset = np.array([x0, y0], np.float64)
    shifted = Polygon(tuple(tuple(np.asarray(r, np.float64) - offset for r in part) for part in shape.parts))
    return polygon_to_mask(shifted, h, w), x0, y0


def full_mask(shape: Shape, height: int, width: int) -> np.ndarray:
    """H×W bool mask of the shape (through `raster_crop`)."""
    crop, x0, y0 = raster_crop(shape, height, width)
    mask = np.zeros((height, width), bool)
    mask[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    return mask


def largest_part(polygon: Polygon) -> np.ndarray:
    """The exterior ring (M×2 float64) of the part with the largest area, holes subtracted."""
    areas = [polygon_to_shapely(Polygon((part,))).area for part in polygon.parts]
    return np.asarray(polygon.parts[int(np.argmax(areas))][0], np.float64)
