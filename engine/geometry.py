"""Pure functions between masks and shapes.

Coordinates are pixel *edges*: pixel (col x, row y) is the unit square [x, x+1]×[y, y+1],
its centre (x + 0.5, y + 0.5). A polygon covers a pixel when it contains the pixel centre,
which is how `polygon_to_mask` rasterises and what `mask_to_polygon` guarantees.
"""

from __future__ import annotations

import cv2
import numpy as np
import shapely
from shapely.geometry import MultiPolygon
from shapely.geometry import Polygon as ShapelyPolygon

from engine.types import Box, Point, Polygon, ShapeType

DEFAULT_TOLERANCE = 1.0
"""Default simplification tolerance in pixels (Douglas-Peucker, topology preserved)."""

MIN_IOU = 0.98
"""`mask_to_polygon` lowers the tolerance until the polygon re-rasterises to at least this IoU."""

def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two H×W masks (anything non-zero is inside); 1.0 when both are empty.

    The one IoU of the project: DAVIS's region similarity J, the propagator's agreement
    test and the clicker's score (`engine.evaluation.clicker.iou`, which leaves ignore
    pixels out first) all call it. Raises ValueError when the shapes differ.
    """
    a = np.asarray(a, bool)
    b = np.asarray(b, bool)
    if a.shape != b.shape:
        raise ValueError(f"masks {a.shape} and {b.shape} differ in shape")
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else float(np.count_nonzero(a & b)) / float(union)


def mask_to_box(mask: np.ndarray) -> Box | None:
    """Tight box around an H×W bool mask in pixel edges, or None when the mask is empty."""
    rows = np.flatnonzero(np.any(mask, axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(np.any(mask, axis=0))
    return Box(float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def box_to_mask(box: Box, height: int, width: int) -> np.ndarray:
    """H×W bool mask of the pixels whose centres lie inside ``box``."""
    mask = np.zeros((height, width), bool)
    x0, y0 = max(0, int(np.ceil(box.x0 - 0.5))), max(0, int(np.ceil(box.y0 - 0.5)))
    x1, y1 = min(width, int(np.ceil(box.x1 - 0.5))), min(height, int(np.ceil(box.y1 - 0.5)))
    if x1 > x0 and y1 > y0:
        mask[y0:y1, x0:x1] = True
    return mask


def _trace(mask: np.ndarray) -> MultiPolygon:
    """Exact outline of an H×W bool mask as a valid MultiPolygon in pixel edges.

    Tracing the 2× nearest-upsampled mask puts every ring a quarter pixel from the pixel
    edges, so no pixel centre lies on a ring: rasterising the unsimplified outline by
    centre sampling gives back the mask exactly, holes, islands and 1-px parts included.
    """
    big = np.repeat(np.repeat(mask.astype(np.uint8), 2, axis=0), 2, axis=1)
    contours, hierarchy = cv2.findContours(big, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return MultiPolygon()
    hierarchy = hierarchy[0]
    polys = []
    for index, (_next, _prev, first_child, parent) in enumerate(hierarchy):
        if parent != -1:
            continue
        holes = []
        child = first_child
        while child != -1:
            holes.append(_ring(contours[child]))
            child = hierarchy[child][0]
        polys.append(ShapelyPolygon(_ring(contours[index]), holes))
    # Corner-touching pixels make self-touching rings; make_valid splits them, same area.
    return _as_multipolygon(_make_valid(MultiPolygon(polys)))


def _ring(contour: np.ndarray) -> np.ndarray:
    """2×-space contour (pixel centres) -> M×2 float64 pixel-edge ring (≥ 3 points)."""
    ring = (contour.reshape(-1, 2).astype(np.float64) + 0.5) / 2.0
    return ring if len(ring) >= 3 else _square_around(ring)


def _fill_rings(rings: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """H×W bool mask of pixel centres inside ``rings`` by the even-odd rule.

    A scanline fill in numpy: every edge yields its crossings with the pixel-centre rows
    (half-open in y so a vertex on a row counts once), crossings are sorted per row and
    paired, and each span sets the columns whose centres lie in [x_in, x_out).
    """
    diff = np.zeros((height, width + 1), np.int32)
    row_parts, x_parts = [], []
    for ring in rings:
        a = np.asarray(ring, np.float64)
        b = np.roll(a, -1, axis=0)
        lo, hi = np.minimum(a[:, 1], b[:, 1]), np.maximum(a[:, 1], b[:, 1])
        first = np.clip(np.ceil(lo - 0.5), 0, height).astype(np.int64)
        stop = np.clip(np.ceil(hi - 0.5), 0, height).astype(np.int64)
        count = np.maximum(stop - first, 0)
        if not count.any():
            continue
        edge = np.repeat(np.arange(len(a)), count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        row = first[edge] + offset
        t = (row + 0.5 - a[edge, 1]) / (b[edge, 1] - a[edge, 1])
        row_parts.append(row)
        x_parts.append(a[edge, 0] + t * (b[edge, 0] - a[edge, 0]))
    if not row_parts:
        return np.zeros((height, width), bool)
    rows, xs = np.concatenate(row_parts), np.concatenate(x_parts)
    order = np.lexsort((xs, rows))
    rows, xs = rows[order], xs[order]
    starts = np.clip(np.ceil(xs[0::2] - 0.5), 0, width).astype(np.int64)
    stops = np.clip(np.ceil(xs[1::2] - 0.5), 0, width).astype(np.int64)
    span_rows = rows[0::2]
    np.add.at(diff, (span_rows, starts), 1)
    np.add.at(diff, (span_rows, stops), -1)
    return np.cumsum(diff, axis=1)[:, :width] > 0


def _square_around(points: np.ndarray) -> np.ndarray:
    x0, y0 = points.min(axis=0) - 0.25
    x1, y1 = points.max(axis=0) + 0.25
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _as_multipolygon(geom) -> MultiPolygon:
    """Keep the areal parts of any shapely geometry as a MultiPolygon."""
    if isinstance(geom, ShapelyPolygon):
        return MultiPolygon([geom]) if not geom.is_empty else MultiPolygon()
    if isinstance(geom, MultiPolygon):
        return geom
    polys: list[ShapelyPolygon] = []
    for sub in getattr(geom, "geoms", []):
        polys.extend(_as_multipolygon(sub).geoms)
    return MultiPolygon(polys)


def polygon_from_shapely(geom) -> Polygon:
    """A `Polygon` from a shapely Polygon/MultiPolygon (other geometry types are dropped)."""
    parts = []
    for poly in _as_multipolygon(geom).geoms:
        rings = [np.asarray(poly.exterior.coords, np.float64)[:-1]]
        rings += [np.asarray(r.coords, np.float64)[:-1] for r in poly.interiors]
        parts.append(tuple(rings))
    return Polygon(tuple(parts))


def polygon_to_shapely(polygon: Polygon) -> MultiPolygon:
    """The shapely MultiPolygon of a `Polygon`."""
    return MultiPolygon([ShapelyPolygon(part[0], list(part[1:])) for part in polygon.parts])


def polygon_to_mask(polygon: Polygon, height: int, width: int) -> np.ndarray:
    """H×W bool mask of the pixels whose centres lie inside ``polygon`` (holes excluded).

    Each part is filled even-odd with its holes; parts are OR-ed, so overlapping parts
    from imported files add up instead of cancelling.
    """
    mask = np.zeros((height, width), bool)
    for part in polygon.parts:
        mask |= _fill_rings(list(part), height, width)
    return mask

def mask_to_polygon(
    mask: np.ndarray,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    min_area: float = 4.0,
    min_iou: float = MIN_IOU,
) -> Polygon:
    """Outline an H×W bool mask as a valid polygon with holes and separate parts.

    tolerance: Douglas-Peucker tolerance in pixels (0 = exact staircase outline).
    min_area: parts and holes smaller than this (px²) are dropped as speckle.
    min_iou: the tolerance is halved until the polygon re-rasterised matches the mask
        with at least this IoU (computed on the parts kept after ``min_area``).
    Returns an empty `Polygon` (no parts) for an empty mask.
    """
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be H×W, got shape {mask.shape}")
    box = mask_to_box(mask)
    if box is None:
        return Polygon(())
    # Work on the tight crop so tracing costs O(object), not O(frame). The zero border
    # matters: cv2.findContours treats an image's outermost pixels as background.
    x0, y0 = int(box.x0), int(box.y0)
    crop = np.pad(mask[y0 : int(box.y1), x0 : int(box.x1)], 1)
    if min_area > 0:
        crop = remove_speckle(crop, min_area)
    geom = _drop_small(_trace(crop), min_area)
    simplified = geom
    tol = float(tolerance)
    if tol > 0.05:  # (tolerance 0, the importers' exact outline, needs no re-rasterised crop)
        exact = polygon_to_mask(polygon_from_shapely(geom), *crop.shape)
    while tol > 0.05:
        candidate = _as_multipolygon(_make_valid(geom.simplify(tol, preserve_topology=True)))
        candidate = _drop_small(candidate, min_area)
        if mask_iou(polygon_to_mask(polygon_from_shapely(candidate), *crop.shape), exact) >= min_iou:
            simplified = candidate
            break
        tol /= 2
    offset = np.array([x0 - 1, y0 - 1], np.float64)
    result = polygon_from_shapely(simplified)
    return Polygon(tuple(tuple(r + offset for r in part) for part in result.parts))


def remove_speckle(mask: np.ndarray, min_area: float) -> np.ndarray:
    """Drop foreground parts and fill holes smaller than ``min_area`` pixels (H×W bool).

    Parts are 8-connected and holes 4-connected, as cv2 traces them; background that
    touches the image border is never a hole.
    """
    out = np.asarray(mask, bool).copy()
    count, labels, stats, _ = cv2.connectedComponentsWithStats(out.view(np.uint8), connectivity=8)
    small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_area) + 1
    if small.size:
        out[np.isin(labels, small)] = False
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~out).view(np.uint8), connectivity=4)
    h, w = out.shape
    x, y = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    inner = (x > 0) & (y > 0) & (x + stats[1:, cv2.CC_STAT_WIDTH] < w) & (y + stats[1:, cv2.CC_STAT_HEIGHT] < h)
    small = np.flatnonzero(inner & (stats[1:, cv2.CC_STAT_AREA] < min_area)) + 1
    if small.size:
        out[np.isin(labels, small)] = True
    return out


def _drop_small(geom: MultiPolygon, min_area: float) -> MultiPolygon:
    polys = []
    for poly in geom.geoms:
        if poly.area < min_area:
            continue
        holes = [h for h in poly.interiors if ShapelyPolygon(h).area >= min_area]
        polys.append(ShapelyPolygon(poly.exterior, holes))
    return MultiPolygon(polys)


def polygon_area(polygon: Polygon) -> float:
    """Area in px² (holes subtracted)."""
    return float(polygon_to_shapely(polygon).area) if polygon.parts else 0.0


def polygon_bounds(polygon: Polygon) -> Box | None:
    """Bounding box of a polygon's vertices, or None when it has no parts."""
    if not polygon.parts:
        return None
    points = np.concatenate([part[0] for part in polygon.parts])
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    return Box(float(x0), float(y0), float(x1), float(y1))


def shape_to_mask(shape: Polygon | Box | Point, height: int, width: int) -> np.ndarray:
    """H×W bool mask of a polygon or a box (a point: the one pixel it is the centre of)."""
    if isinstance(shape, Point):
        mask = np.zeros((height, width), bool)
        x, y = int(round(shape.x)), int(round(shape.y))
        if 0 <= x < width and 0 <= y < height:
            mask[y, x] = True
        return mask
    if isinstance(shape, Box):
        return box_to_mask(shape, height, width)
    return polygon_to_mask(shape, height, width)


def mask_to_shape(mask: np.ndarray, shape_type: ShapeType, **polygon_options) -> Polygon | Box | None:
    """The class's shape for a mask: ``polygon`` or ``bounding_box``; None for an empty mask."""
    if shape_type == ShapeType.BOUNDING_BOX:
        return mask_to_box(mask)
    if shape_type == ShapeType.POLYGON:
        polygon = mask_to_polygon(mask, **polygon_options)
        return polygon if polygon.parts else None
    raise ValueError(f"no mask conversion for shape type {shape_type!r}")


def _make_valid(geom):
    """Repair with the 'structure' rule: union of exteriors minus union of holes.

    That is exactly the even-odd meaning of traced rings; the default 'linework' repair
    reinterprets self-touching rings and can flip corner-touching pixels.
    """
    if geom.is_valid:
        return geom
    return shapely.make_valid(geom, method="structure", keep_collapsed=False)
