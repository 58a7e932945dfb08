"""Pure geometry for editing applied labels by hand: hit tests, vertex moves, inserts and
deletes, box moves and resizes. Every function returns a new shape; coordinates follow
`engine.types` (polygons and boxes in pixel edges, points at pixel centres)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from engine.errors import EditorStateError
from engine.types import Box, Label, Point, Polygon, Shape

MIN_RING = 3  # vertices a ring keeps


@dataclass(frozen=True)
class VertexRef:
    """One vertex of a polygon: ``parts[part][ring][index]``."""

    part: int
    ring: int
    index: int


def clip_shape(shape: Shape, width: int, height: int) -> Shape:
    """``shape`` kept inside a ``width``×``height`` frame; raises `EditorStateError` when
    nothing of it is left (a box of no area, a ring with fewer than 3 vertices)."""
    if isinstance(shape, Point):
        return Point(float(np.clip(shape.x, -0.5, width - 0.5)), float(np.clip(shape.y, -0.5, height - 0.5)))
    if isinstance(shape, Box):
        x0, x1 = sorted((float(np.clip(shape.x0, 0, width)), float(np.clip(shape.x1, 0, width))))
        y0, y1 = sorted((float(np.clip(shape.y0, 0, height)), float(np.clip(shape.y1, 0, height))))
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            raise EditorStateError(f"the box {shape.as_list()} has no area inside the {width}×{height} frame")
        return Box(x0, y0, x1, y1)
    parts = []
    for part in shape.parts:
        rings = tuple(np.clip(np.asarray(ring, np.float64).reshape(-1, 2), 0, [width, height]) for ring in part)
        if not rings or any(len(ring) < MIN_RING for ring in rings):
            raise EditorStateError("a polygon needs at least 3 vertices in every ring")
        parts.append(rings)
    if not parts:
        raise EditorStateError("a polygon needs at least one part")
    return Polygon(tuple(parts))


def polygon_from_points(points: Iterable[tuple[float, float]]) -> Polygon:
    """A one-ring polygon through ``points`` (at least 3), as a person clicked them."""
    ring = np.asarray(list(points), np.float64).reshape(-1, 2)
    if len(ring) < MIN_RING:
        raise EditorStateError(f"a polygon needs at least 3 vertices, got {len(ring)}")
    return Polygon(((ring,),))


def box_from_corners(x0: float, y0: float, x1: float, y1: float) -> Box:
    """The box between two corners given in any order."""
    return Box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))


def _replace_ring(polygon: Polygon, ref: VertexRef, ring: np.ndarray) -> Polygon:
    parts = [list(part) for part in polygon.parts]
    parts[ref.part][ref.ring] = ring
    return Polygon(tuple(tuple(part) for part in parts))


def move_vertex(polygon: Polygon, ref: VertexRef, x: float, y: float) -> Polygon:
    ring = np.array(polygon.parts[ref.part][ref.ring], np.float64)
    ring[ref.index] = (x, y)
    return _replace_ring(polygon, ref, ring)


def insert_vertex(polygon: Polygon, after: VertexRef, x: float, y: float) -> Polygon:
    """A vertex at (x, y) on the edge from ``after`` to the next vertex."""
    ring = np.asarray(polygon.parts[after.part][after.ring], np.float64)
    return _replace_ring(polygon, after, np.insert(ring, after.index + 1, (x, y), axis=0))


def delete_vertex(polygon: Polygon, ref: VertexRef) -> Polygon:
    """``polygon`` without the vertex; raises `EditorStateError` when its ring would keep < 3."""
    ring = np.asarray(polygon.parts[ref.part][ref.ring], np.float64)
    if len(ring) <= MIN_RING:
        raise EditorStateError("a ring keeps at least 3 vertices: delete the object instead")
    return _replace_ring(polygon, ref, np.delete(ring, ref.index, axis=0))


def nearest_vertex(polygon: Polygon, x: float, y: float, radius: float) -> VertexRef | None:
    """The vertex nearest (x, y) within ``radius``, or None."""
    best: tuple[float, VertexRef] | None = None
    for p, part in enumerate(polygon.parts):
        for r, ring in enumerate(part):
            distances = np.hypot(ring[:, 0] - x, ring[:, 1] - y)
            k = int(np.argmin(distances))
            if distances[k] <= radius and (best is None or distances[k] < best[0]):
                best = (float(distances[k]), VertexRef(p, r, k))
    return None if best is None else best[1]


def nearest_edge(polygon: Polygon, x: float, y: float, radius: float) -> tuple[VertexRef, tuple[float, float]] | None:
    """(the edge's first vertex, the point of the edge nearest (x, y)) within ``radius``, or None."""
    best: tuple[float, VertexRef, tuple[float, float]] | None = None
    for p, part in enumerate(polygon.parts):
        for r, ring in enumerate(part):
            a = np.asarray(ring, np.float64)
            b = np.roll(a, -1, axis=0)
            d = b - a
            length = np.maximum((d * d).sum(axis=1), 1e-12)
            t = np.clip(((x - a[:, 0]) * d[:, 0] + (y - a[:, 1]) * d[:, 1]) / length, 0, 1)
            foot = a + t[:, None] * d
            distances = np.hypot(foot[:, 0] - x, foot[:, 1] - y)
            k = int(np.argmin(distances))
            if distances[k] <= radius and (best is None or distances[k] < best[0]):
                best = (float(distances[k]), VertexRef(p, r, k), (float(foot[k, 0]), float(foot[k, 1])))
    return None if best is None else (best[1], best[2])


def box_corners(box: Box) -> list[tuple[float, float]]:
    """The corners: 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left."""
    return [(box.x0, box.y0), (box.x1, box.y0), (box.x1, box.y1), (box.x0, box.y1)]


def nearest_corner(box: Box, x: float, y: float, radius: float) -> int | None:
    corners = np.asarray(box_corners(box))
    distances = np.hypot(corners[:, 0] - x, corners[:, 1] - y)
    k = int(np.argmin(distances))
    return k if distances[k] <= radius else None


def resize_box(box: Box, corner: int, x: float, y: float) -> Box:
    """``box`` with corner ``corner`` (`box_corners`) dragged to (x, y); the opposite one stays."""
    ox, oy = box_corners(box)[(corner + 2) % 4]
    return box_from_corners(ox, oy, x, y)


def move_box(box: Box, dx: float, dy: float, width: int, height: int) -> Box:
    """``box`` moved by (dx, dy), kept inside the frame as far as its size allows."""
    dx = float(np.clip(dx, -box.x0, width - box.x1)) if box.x1 - box.x0 <= width else dx
    dy = float(np.clip(dy, -box.y0, height - box.y1)) if box.y1 - box.y0 <= height else dy
    return Box(box.x0 + dx, box.y0 + dy, box.x1 + dx, box.y1 + dy)


def translate(shape: Shape, dx: float, dy: float, width: int, height: int) -> Shape:
    """``shape`` moved by (dx, dy) (a box kept inside the frame, see `move_box`)."""
    if isinstance(shape, Box):
        return move_box(shape, dx, dy, width, height)
    if isinstance(shape, Point):
        return Point(shape.x + dx, shape.y + dy)
    return Polygon(tuple(tuple(np.asarray(ring, np.float64) + (dx, dy) for ring in part) for part in shape.parts))


def ring_contains(ring: np.ndarray, x: float, y: float) -> bool:
    """Even-odd point-in-ring test."""
    a = np.asarray(ring, np.float64)
    b = np.roll(a, -1, axis=0)
    crosses = (a[:, 1] > y) != (b[:, 1] > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = a[:, 0] + (y - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    return bool(np.count_nonzero(crosses & (x < at)) % 2)


def shape_contains(shape: Shape, x: float, y: float, radius: float = 0.0) -> bool:
    """Whether (x, y) lies inside ``shape`` (a point: within ``radius`` of it)."""
    if isinstance(shape, Point):
        return bool(np.hypot(shape.x - x, shape.y - y) <= radius)
    if isinstance(shape, Box):
        return shape.x0 <= x <= shape.x1 and shape.y0 <= y <= shape.y1
    return any(sum(ring_contains(ring, x, y) for ring in part) % 2 == 1 for part in shape.parts)


def shape_area(shape: Shape) -> float:
    if isinstance(shape, Point):
        return 0.0
    if isinstance(shape, Box):
        return shape.area
    total = 0.0
    for part in shape.parts:
        for k, ring in enumerate(part):
            xs, ys = ring[:, 0], ring[:, 1]
            area = 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))
            total += area if k == 0 else -area
    return total


def label_at(labels: Iterable[Label], x: float, y: float, radius: float) -> Label | None:
    """The label under (x, y): points within ``radius`` first, then the smallest shape holding it."""
    hits = [label for label in labels if shape_contains(label.shape, x, y, radius)]
    return min(hits, key=lambda label: shape_area(label.shape), default=None)
