"""CVAT's track interpolation, ported exactly: which shapes CVAT shows on which frames.

A CVAT track stores keyframes; CVAT derives every other frame from them when it shows or
exports the track (``TrackManager.get_interpolated_shapes`` in
cvat/apps/dataset_manager/annotation.py, the same rules as cvat-core in the browser):

- between two keyframes, when the first is not ``outside``, the frames are interpolated:
  boxes (``rectangle``) corner by corner linearly (``simple_interpolation``); polygons and
  polylines by CVAT's *polyshape* interpolation (`interpolate_polyshape`): both outlines are
  parametrised by arc length, each vertex is matched to the vertex of the other outline
  nearest in arc length (and every unmatched vertex of the other outline to its nearest),
  matched pairs move linearly, and runs of points that crowd together are thinned; single
  points move linearly, several points are held; an interpolated shape is a copy of the
  earlier keyframe (``occluded``, ``z_order``, attributes) with ``keyframe`` off;
- a keyframe with ``outside`` ends the visible run; the object shows again at the next
  keyframe that is not outside;
- the last keyframe, unless outside, is held to the end of the task or job (``end``);
- a keyframe without an attribute takes that attribute's value from the keyframe before.

Everything here is pure and works on `TrackShape` values in CVAT's own numbers
(``points`` as CVAT keeps them: ``[xtl, ytl, xbr, ybr]`` for boxes, ``[x1, y1, x2, y2, …]``
for the others, in CVAT's relative frame numbers).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field, replace


@dataclass
class TrackShape:
    """One shape of a CVAT track (what a ``<box>``/``<polygon>``/… element holds).

    kind: CVAT's shape type: ``rectangle``, ``polygon``, ``polyline``, ``points``, ``mask``.
    points: CVAT's flat coordinate list (see the module docstring).
    attributes: the element's ``<attribute>`` values by name.
    """

    frame: int
    kind: str
    points: list[float]
    outside: bool = False
    keyframe: bool = True
    occluded: bool = False
    z_order: int = 0
    attributes: dict[str, str] = field(default_factory=dict)


Point = tuple[float, float]


class InterpolationError(ValueError):
    """Two keyframes CVAT cannot interpolate between (different shape types)."""


def interpolated_shapes(
    shapes: list[TrackShape], end: int, *, limit: int | None = None, point_limit: int | None = None
) -> list[TrackShape]:
    """Every shape CVAT shows for a track whose keyframes are ``shapes``, on frames before
    ``end`` (exclusive), in frame order; keyframes with ``outside`` are kept (they mark
    where a run ends), interpolated ones never are outside. The input is not changed.
    ``limit``/``point_limit``: `InterpolationError` before more than this many shapes /
    coordinates are made (a small file can declare millions of frames for one keyframe to
    fill, or huge polygons far apart).
    """
    out: list[TrackShape] = []
    if not shapes:
        return out
    ordered = sorted((replace(s, attributes=dict(s.attributes)) for s in shapes), key=lambda s: s.frame)
    first = ordered[0].frame

    made = [0]  # coordinates so far

    def room(count: int, size: int) -> None:
        if limit is not None and len(out) + count > limit:
            raise InterpolationError(f"the tracks show more than {limit} shapes")
        made[0] += count * size
        if point_limit is not None and made[0] > point_limit:
            raise InterpolationError(f"the tracks' shapes hold more than {point_limit} coordinates")

    previous: TrackShape | None = None
    for shape in ordered:
        if previous is not None and end <= shape.frame:
            # keep what lies between the last keyframe before ``end`` and ``end`` (CVAT
            # interpolates an outside one too, and drops the outside copies at the end)
            if not previous.outside:
                room(end - previous.frame - 1, len(previous.points) + len(shape.points))
                out.extend(s for s in _interpolate(previous, shape) if s.frame < end)
            previous = None
            break
        if previous is not None:
            if shape.frame == previous.frame:
                raise InterpolationError(f"frame {shape.frame} twice in one track")
            for name, value in previous.attributes.items():
                shape.attributes.setdefault(name, value)
            if not previous.outside:
                room(shape.frame - previous.frame - 1, len(previous.points) + len(shape.points))
                out.extend(_interpolate(previous, shape))
        shape.keyframe = True
        room(1, len(shape.points))
        out.append(shape)
        previous = shape
    if previous is not None and not previous.outside:
        room(end - previous.frame - 1, len(previous.points))
        out.extend(_copy(previous, frame) for frame in range(previous.frame + 1, end))
    return [s for s in out if first <= s.frame < end and (s.keyframe or not s.outside)]


def _copy(source: TrackShape, frame: int, points: list[float] | None = None) -> TrackShape:
    return replace(
        source,
        frame=frame,
        keyframe=False,
        points=list(source.points if points is None else points),
        attributes=dict(source.attributes),
    )


def _interpolate(shape0: TrackShape, shape1: TrackShape) -> list[TrackShape]:
    if shape0.kind != shape1.kind:
        raise InterpolationError(
            f"a track cannot change from a {shape0.kind} (frame {shape0.frame}) to a {shape1.kind} (frame {shape1.frame})"
        )
    if shape0.kind == "rectangle":
        return _linear(shape0, shape1)
    if shape0.kind == "points":
        if len(shape0.points) == 2 and len(shape1.points) == 2:
            return _linear(shape0, shape1)
        return [_copy(shape0, frame) for frame in range(shape0.frame + 1, shape1.frame)]
    if shape0.kind in ("polygon", "polyline"):
        return _polyshape(shape0, shape1)
    raise InterpolationError(f"CVAT does not interpolate {shape0.kind} tracks")


def _linear(shape0: TrackShape, shape1: TrackShape) -> list[TrackShape]:
    distance = shape1.frame - shape0.frame
    diff = [b - a for a, b in zip(shape0.points, shape1.points)]
    shapes = []
    for frame in range(shape0.frame + 1, shape1.frame):
        offset = (frame - shape0.frame) / distance
        shapes.append(_copy(shape0, frame, [a + d * offset for a, d in zip(shape0.points, diff)]))
    return shapes


def _polyshape(shape0: TrackShape, shape1: TrackShape) -> list[TrackShape]:
    """CVAT's ``polyshape_interpolation``: a polygon is closed (its first point repeated)
    for the computation and the last point of each result dropped again."""
    left, right = list(shape0.points), list(shape1.points)
    polygon = shape0.kind == "polygon"
    if polygon:
        left, right = left + left[:2], right + right[:2]
    distance = shape1.frame - shape0.frame
    shapes = []
    match = _Matching.of(left, right)  # CVAT recomputes it per frame; it does not depend on the offset
    for frame in range(shape0.frame + 1, shape1.frame):
        offset = (frame - shape0.frame) / distance
        points = match.at(offset)
        shapes.append(_copy(shape0, frame, points[:-2] if polygon else points))
    return shapes


def _length(points: list[Point]) -> float:
    total = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        total += math.sqrt((x1 - x0) ** 2 + (y1 - y0) ** 2)
    return total


def _offsets(points: list[Point], length: float) -> list[float]:
    offsets, accumulated = [0.0], 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        accumulated += math.sqrt((x1 - x0) ** 2 + (y1 - y0) ** 2)
        offsets.append(accumulated / length if length else math.nan)
    return offsets


def _nearest(value: float, curve: list[float]) -> int:
    """CVAT's ``find_nearest_pair``: the first index of the smallest ``|value - curve[i]|``.
    Offsets rise along a curve, so a binary search finds CVAT's index in O(log n) where
    CVAT scans. A curve of length 0 (or overflowing) has NaN offsets after its leading
    zeros; NaN never compares smaller, so CVAT's scan then stops at index 0, as here."""
    if math.isnan(value) or math.isnan(curve[-1]):
        return 0
    high = bisect_left(curve, value)
    if high == len(curve):
        return bisect_left(curve, curve[-1])
    if high == 0:
        return 0
    low = bisect_left(curve, curve[high - 1])  # the first of equal offsets wins a tie
    return low if abs(value - curve[low]) <= abs(value - curve[high]) else high


def interpolate_polyshape(left_flat: list[float], right_flat: list[float], offset: float) -> list[float]:
    """CVAT's ``interpolate_position``: the outline a fraction ``offset`` of the way from
    ``left_flat`` to ``right_flat`` (flat ``[x1, y1, …]`` lists, polygons already closed)."""
    return _Matching.of(left_flat, right_flat).at(offset)


@dataclass(frozen=True)
class _Matching:
    """The two outlines and CVAT's vertex matching between them (``match_left_right``
    then ``match_right_left``: by nearest arc-length offset, the first on ties)."""

    left: list[Point]
    right: list[Point]
    matching: dict[int, list[int]]

    @classmethod
    def of(cls, left_flat: list[float], right_flat: list[float]) -> _Matching:
        left = list(zip(left_flat[0::2], left_flat[1::2]))
        right = list(zip(right_flat[0::2], right_flat[1::2]))
        left_curve = _offsets(left, _length(left))
        right_curve = _offsets(right, _length(right))
        matching = {i: [_nearest(value, right_curve)] for i, value in enumerate(left_curve)}
        matched = {j for values in matching.values() for j in values}
        for j in range(len(right_curve)):
            if j not in matched:
                matching[_nearest(right_curve[j], left_curve)].append(j)
        return cls(left, right, {key: sorted(values) for key, values in matching.items()})

    def at(self, offset: float) -> list[float]:
        interpolated: list[Point] = []
        for i, (lx, ly) in enumerate(self.left):
            for j in self.matching[i]:
                rx, ry = self.right[j]
                interpolated.append((lx + (rx - lx) * offset, ly + (ry - ly) * offset))
        reduced = _reduce(interpolated, self.matching, self.left, self.right)
        return [value for point in reduced for value in point]


def _reduce(interpolated: list[Point], matching: dict[int, list[int]], left: list[Point], right: list[Point]) -> list[Point]:
    """CVAT's ``reduce_interpolation``: thin the runs of interpolated points that one
    point of either outline produced, keeping points at least a share of the run apart."""
    reduced: list[Point] = []
    indexes: dict[int, list[int]] = {}
    accumulated = 0
    for i in range(len(left)):
        indexes[i] = []
        for _ in matching[i]:
            indexes[i].append(accumulated)
            accumulated += 1

    def distance(a: Point, b: Point) -> float:
        return math.sqrt((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2)

    def minimise(base_length: float, count: int, start: int, stop: int) -> list[Point]:
        threshold = base_length / (2 * count)
        kept = [interpolated[start]]
        latest = start
        for i in range(start + 1, stop):
            if distance(interpolated[latest], interpolated[i]) >= threshold:
                kept.append(interpolated[i])
                latest = i
        kept.append(interpolated[stop])
        if len(kept) == 2 and distance(interpolated[start], interpolated[stop]) < threshold:
            return [((kept[0][0] + kept[1][0]) / 2, (kept[0][1] + kept[1][1]) / 2)]
        return kept

    def left_segment(start: int, stop: int) -> None:
        first, last = indexes[start][0], indexes[stop][0]
        if first == last:
            reduced.append(interpolated[first])
            return
        reduced.extend(minimise(_length(left[start : stop + 1]), stop - start + 1, first, last))

    def right_segment(point: int) -> None:
        start, stop = matching[point][0], matching[point][-1]
        first, last = indexes[point][0], indexes[point][-1]
        reduced.extend(minimise(_length(right[start : stop + 1]), stop - start + 1, first, last))

    opened: int | None = None
    for i in range(len(left)):
        if len(matching[i]) == 1:
            if opened is not None:
                if matching[i][0] == matching[opened][0]:
                    continue
                left_segment(opened, i - 1)
                opened = i
            else:
                opened = i
        else:
            if opened is not None:
                left_segment(opened, i - 1)
                opened = None
            right_segment(i)
    if opened is not None:
        left_segment(opened, len(left) - 1)
    return reduced
