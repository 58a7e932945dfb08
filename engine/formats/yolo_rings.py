"""One YOLO segment per label: a polygon's parts and holes joined into a single ring, and back.

YOLO segmentation holds one ring per instance. `join_rings` joins every ring of a polygon
(exteriors and holes) into one closed vertex sequence with **zero-width bridges**, as
Ultralytics' own COCO converter does for multi-part objects (`merge_multi_segment`,
which connects segments at their closest points): each ring is attached to the rings
already joined at the closest pair of vertices (a minimum spanning tree, so the bridges
are as short as they can be), walked around once, and left again along the same bridge.
A bridge is two coincident edges, so it changes no crossing parity: the even-odd fill that
Ultralytics (``cv2.fillPoly``) and framewise use paints the joined ring as the polygon,
holes included (a rasteriser that paints edge pixels, as ``cv2.fillPoly`` does, paints
the bridge's 1-px line too).

`split_rings` is the inverse: a vertex met again closes the loop since its last visit
(a stack walk), loops of fewer than 3 distinct vertices or no area are bridges, and the
even-odd nesting of the loops (`rings_to_polygon`) says which are parts and which holes.
It also splits Ultralytics' ``merge_multi_segment`` output back into its segments.

Coordinates are integers in 1/100 px (`engine.formats.shapes.DECIMALS`), so the rings
compare exactly. Rings are made canonical first (`canonical_ring`): consecutive repeats
dropped, exteriors clockwise on screen (negative shoelace area with y down), holes
counter-clockwise, starting at the top-most, then left-most vertex; the joining order is a
function of the set of rings alone. So splitting a joined ring and joining it again gives
the same vertex sequence, which makes YOLO export -> import -> export identical.
"""

from __future__ import annotations

import numpy as np

SCALE = 100
"""Ring coordinates are integers in 1/SCALE px."""


def shoelace(ring: np.ndarray) -> float:
    """Twice the signed area (positive when clockwise in the y-up sense, i.e. as written)."""
    x, y = ring[:, 0].astype(np.float64), ring[:, 1].astype(np.float64)
    return float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def canonical_ring(ring: np.ndarray, *, hole: bool) -> np.ndarray | None:
    """The ring (K×2 int64) without consecutive repeats, oriented and started canonically;
    None when fewer than 3 vertices or no area remain."""
    ring = np.asarray(ring, np.int64).reshape(-1, 2)
    if len(ring) == 0:
        return None
    keep = np.any(ring != np.roll(ring, 1, axis=0), axis=1)
    ring = ring[keep] if keep.any() else ring[:1]
    if len(ring) < 3:
        return None
    area = shoelace(ring)
    if area == 0:
        return None
    if (area > 0) != hole:  # exteriors negative, holes positive
        ring = ring[::-1]
    start = int(np.lexsort((ring[:, 0], ring[:, 1]))[0])
    return np.roll(ring, -start, axis=0)


def _closest(tree, b: np.ndarray) -> tuple[float, int, int]:
    """(distance, index in the tree's ring, index in b) of the closest pair of vertices."""
    distances, indices = tree.query(b)
    j = int(np.argmin(distances))  # the first minimum: deterministic
    return float(distances[j]), int(indices[j]), j


def join_rings(rings: list[np.ndarray]) -> np.ndarray:
    """One closed vertex sequence (N×2 int64, not repeating its first vertex) through every
    canonical ring, joined by zero-width bridges between closest vertices."""
    if len(rings) == 1:
        return rings[0]
    order = sorted(range(len(rings)), key=lambda k: (-abs(shoelace(rings[k])), rings[k][0].tolist(), len(rings[k])))
    rings = [rings[k] for k in order]
    from scipy.spatial import cKDTree

    trees = [cKDTree(ring) for ring in rings]
    low = np.array([ring.min(axis=0) for ring in rings], np.float64)
    high = np.array([ring.max(axis=0) for ring in rings], np.float64)
    # Prim's algorithm on the rings; best[b] = (distance, joined ring, its vertex, b's vertex),
    # the smallest (distance, ring) over the joined rings. A ring whose box is farther from the
    # new ring's box than its best so far is skipped (the boxes' gap bounds the distance).
    best: dict[int, tuple[float, int, int, int]] = {b: (np.inf, -1, -1, -1) for b in range(1, len(rings))}
    children: dict[int, list[tuple[int, int, int]]] = {}  # ring -> [(its vertex, child ring, child vertex)]
    added = 0
    while best:
        for b, (distance, *_) in best.items():
            gap = np.maximum(np.maximum(low[b] - high[added], low[added] - high[b]), 0.0)
            if float(np.hypot(*gap)) > distance:
                continue
            found, ia, ib = _closest(trees[added], rings[b])
            if (found, added) < best[b][:2]:
                best[b] = (found, added, ia, ib)
        added = min(best, key=lambda b: (best[b][0], best[b][1], b))
        _, a, ia, ib = best.pop(added)
        children.setdefault(a, []).append((ia, added, ib))
    out: list[np.ndarray] = []

    def walk(ring: int, start: int) -> None:
        vertices = rings[ring]
        attached: dict[int, list[tuple[int, int]]] = {}
        for vertex, child, child_vertex in children.get(ring, []):
            attached.setdefault(vertex, []).append((child, child_vertex))
        for step in range(len(vertices)):
            index = (start + step) % len(vertices)
            out.append(vertices[index])
            for child, child_vertex in attached.get(index, []):
                walk(child, child_vertex)
                out.append(rings[child][child_vertex])  # close the child ring ...
                out.append(vertices[index])  # ... and come back along the bridge

    walk(0, 0)
    return np.asarray(out, np.int64)


def split_rings(points: np.ndarray) -> list[np.ndarray]:
    """The loops of a closed vertex sequence (N×2 int64): every revisit of a vertex closes
    the loop since its last visit; bridges (loops without area) are dropped."""
    stack: list[tuple[int, int]] = []
    where: dict[tuple[int, int], int] = {}
    loops: list[np.ndarray] = []
    for x, y in np.asarray(points, np.int64).tolist():
        vertex = (x, y)
        at = where.get(vertex)
        if at is not None:
            loops.append(np.asarray(stack[at:], np.int64))
            for gone in stack[at + 1 :]:
                del where[gone]
            del stack[at + 1 :]
            continue
        where[vertex] = len(stack)
        stack.append(vertex)
    loops.append(np.asarray(stack, np.int64))
    return [loop for loop in loops if len(loop) >= 3 and shoelace(loop) != 0]


def rings_to_parts(loops: list[np.ndarray]) -> list[list[np.ndarray]]:
    """Parts (exterior first, then holes; canonical rings) by the even-odd nesting of the loops."""
    import shapely

    if not loops:
        return []
    polygons = [shapely.Polygon(loop).buffer(0) for loop in loops]
    probes = [polygon.representative_point() for polygon in polygons]
    areas = [abs(shoelace(loop)) for loop in loops]
    containers: list[list[int]] = []
    for i, probe in enumerate(probes):
        containers.append([j for j, polygon in enumerate(polygons) if j != i and areas[j] > areas[i]
                           and polygon.contains(probe)])
    parts: dict[int, list[np.ndarray]] = {}
    order: list[int] = []
    for i, loop in enumerate(loops):
        if len(containers[i]) % 2 == 0:
            ring = canonical_ring(loop, hole=False)
            if ring is not None:
                parts.setdefault(i, []).insert(0, ring)
                order.append(i)
    for i, loop in enumerate(loops):
        if len(containers[i]) % 2 == 1:
            parent = min(containers[i], key=lambda j: areas[j])
            ring = canonical_ring(loop, hole=True)
            if ring is not None and parent in parts:
                parts[parent].append(ring)
    return [parts[i] for i in order]
