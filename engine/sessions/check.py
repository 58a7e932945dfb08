"""Field checks for session files: each raises `SessionFormatError` naming file and field path.

`EVENT_DATA` is the data layout of every event kind a version-1 session may hold; the
JSON Schema ``engine/sessions/schemas/session-v1.schema.json`` says the same, and
``tests/sessions/test_session.py`` checks that the two agree.

Every number is bounded here (`engine.limits`), so a few bytes of a crafted session cannot
declare a size that a replay would loop over or allocate for, nor an id SQLite cannot hold:
object ids in [1, MAX_ID], frame counts in [1, MAX_FRAMES], frame indexes below MAX_FRAMES
(and below the media's frames: `engine.sessions.record`), frame sizes within
MAX_FRAME_PIXELS, every other number finite and inside its range. Every string must be
writable as UTF-8 (no lone surrogate from a ``\\ud800`` escape).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from typing import Any

from engine.editing.events import EVENT_KINDS
from engine.errors import SessionFormatError
from engine.limits import MAX_FRAME_PIXELS, MAX_FRAMES, MAX_ID
from engine.types import QUALITY_MAX, QUALITY_MIN, ShapeType

TOP = "(top level)"
MAX_CANDIDATE = 255
"""Largest candidate index a ``candidate`` event may pick (a proposal holds a few; SAM: 3)."""
MAX_SECONDS = 1e9
"""Largest media timestamp, in seconds either side of zero (31 years)."""
MAX_FPS = 1e6
"""Largest frame rate of a session's media."""
MAX_INTERPOLATE_CHANGES = 1
"""An interpolation pushes one undo step, or none when it wrote nothing."""


def describe(value: Any) -> str:
    """A short rendering of a bad value for an error message (JSON spelling for literals)."""
    text = json.dumps(value) if isinstance(value, (bool, type(None), str)) else repr(value)
    if isinstance(value, (list, dict)):
        text = f"a {'list' if isinstance(value, list) else 'object'}"
    return text if len(text) <= 60 else text[:57] + "..."


class Checker:
    """Field checks that raise `SessionFormatError` with ``source: path: message``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, message: str) -> SessionFormatError:
        return SessionFormatError(f"{self.source}: {path}: {message}")

    def object(self, value: Any, path: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, f"expected an object, got {describe(value)}")
        required = tuple(required)
        for key in required:
            if key not in value:
                raise self.fail(path, f"missing field {key!r}")
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            raise self.fail(unknown[0] if path == TOP else f"{path}.{unknown[0]}", "unknown field")
        return value

    def string(self, value: Any, path: str, *, non_empty: bool = False) -> str:
        if not isinstance(value, str) or (non_empty and not value):
            raise self.fail(path, f"expected a {'non-empty ' if non_empty else ''}string, got {describe(value)}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise self.fail(
                path, f"holds {value[exc.start]!r}, a lone surrogate that is not a character (a broken \\u escape)"
            ) from None
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, f"expected true or false, got {describe(value)}")
        return value

    def integer(self, value: Any, path: str, minimum: int = 0, maximum: int = MAX_ID) -> int:
        """An integer in [minimum, maximum]; every integer field has a maximum (`engine.limits`)."""
        # JSON Schema counts 3.0 as an integer; so do we.
        ok = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if isinstance(value, bool) or not ok or not minimum <= value <= maximum:
            raise self.fail(path, f"expected an integer >= {minimum} and <= {maximum}, got {describe(value)}")
        return int(value)

    def number(
        self, value: Any, path: str, low: float | None = None, high: float | None = None, *, exclusive_low: bool = False
    ) -> float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
        if ok and low is not None:
            ok = value > low if exclusive_low else value >= low
        if ok and high is not None:
            ok = value <= high
        if not ok:
            if low is not None and high is not None:
                want = f"a number > {low:g} and <= {high:g}" if exclusive_low else f"a number in [{low:g}, {high:g}]"
            elif low is not None:
                want = f"a number {'>' if exclusive_low else '>='} {low:g}"
            else:
                want = "a finite number"
            raise self.fail(path, f"expected {want}, got {describe(value)}")
        return float(value)

    def array(self, value: Any, path: str) -> list:
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list, got {describe(value)}")
        return value


def _finite(value: int | float) -> bool:
    """A finite number that fits a float (JSON integers can be arbitrarily long)."""
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


# Per event kind: data field -> check(checker, value, path). All fields are required.
_FieldCheck = Callable[[Checker, Any, str], Any]


def _unit(c: Checker, v: Any, p: str) -> float:
    return c.number(v, p, 0.0, 1.0)


def _size(c: Checker, v: Any, p: str) -> list[int]:
    items = c.array(v, p)
    if len(items) != 2:
        raise c.fail(p, f"expected [width, height], got {len(items)} items")
    width, height = (c.integer(item, f"{p}[{i}]", 1, MAX_FRAME_PIXELS) for i, item in enumerate(items))
    check_pixels(c, width, height, p)
    return [width, height]


def check_pixels(c: Checker, width: int, height: int, path: str) -> None:
    """A frame size of at most MAX_FRAME_PIXELS pixels."""
    if width * height > MAX_FRAME_PIXELS:
        raise c.fail(path, f"{width}x{height} is more than the {MAX_FRAME_PIXELS} pixels a frame may have")


def _object_id(c: Checker, v: Any, p: str) -> int:
    return c.integer(v, p, 1, MAX_ID)


def frame_index(c: Checker, v: Any, p: str) -> int:
    """A frame index: below MAX_FRAMES (below the media's frames: checked by the caller)."""
    return c.integer(v, p, 0, MAX_FRAMES - 1)


def frame_count(c: Checker, v: Any, p: str) -> int:
    return c.integer(v, p, 1, MAX_FRAMES)


def _name(c: Checker, v: Any, p: str) -> str:
    return c.string(v, p, non_empty=True)


def _shape(c: Checker, v: Any, p: str) -> dict:
    """A shape normalised by `engine.editing.events.normalise_shape`: every coordinate in [0, 1]."""
    kind = c.object(v, p, ("type",), ("box", "parts", "point")).get("type")
    if kind == ShapeType.POINT:
        c.object(v, p, ("type", "point"))
        xy = c.array(v["point"], f"{p}.point")
        if len(xy) != 2:
            raise c.fail(f"{p}.point", f"expected [x, y], got {len(xy)} items")
        return {"type": kind, "point": [_unit(c, value, f"{p}.point[{i}]") for i, value in enumerate(xy)]}
    if kind == ShapeType.BOUNDING_BOX:
        c.object(v, p, ("type", "box"))
        box = c.array(v["box"], f"{p}.box")
        if len(box) != 4:
            raise c.fail(f"{p}.box", f"expected [x0, y0, x1, y1], got {len(box)} items")
        x0, y0, x1, y1 = (_unit(c, value, f"{p}.box[{i}]") for i, value in enumerate(box))
        if not (x0 < x1 and y0 < y1):
            raise c.fail(f"{p}.box", f"empty box {[x0, y0, x1, y1]}: need x0 < x1 and y0 < y1")
        return {"type": kind, "box": [x0, y0, x1, y1]}
    if kind == ShapeType.POLYGON:
        c.object(v, p, ("type", "parts"))
        parts = c.array(v["parts"], f"{p}.parts")
        if not parts:
            raise c.fail(f"{p}.parts", "a polygon needs at least one part")
        out = []
        for i, part in enumerate(parts):
            rings = c.array(part, f"{p}.parts[{i}]")
            if not rings:
                raise c.fail(f"{p}.parts[{i}]", "a part needs an exterior ring")
            out.append([_ring(c, ring, f"{p}.parts[{i}][{j}]") for j, ring in enumerate(rings)])
        return {"type": kind, "parts": out}
    raise c.fail(f"{p}.type", f"expected 'polygon', 'bounding_box' or 'point', got {describe(kind)}")


def _ring(c: Checker, value: Any, p: str) -> list[list[float]]:
    points = c.array(value, p)
    if len(points) < 3:
        raise c.fail(p, f"a ring needs at least 3 points, got {len(points)}")
    ring = []
    for k, point in enumerate(points):
        xy = c.array(point, f"{p}[{k}]")
        if len(xy) != 2:
            raise c.fail(f"{p}[{k}]", f"expected [x, y], got {len(xy)} items")
        ring.append([_unit(c, xy[0], f"{p}[{k}][0]"), _unit(c, xy[1], f"{p}[{k}][1]")])
    return ring


def _label_keys(c: Checker, v: Any, p: str) -> list[list]:
    keys = []
    for i, key in enumerate(c.array(v, p)):
        items = c.array(key, f"{p}[{i}]")
        if len(items) != 3:
            raise c.fail(f"{p}[{i}]", f"expected [media, frame, object id], got {len(items)} items")
        media, frame = c.string(items[0], f"{p}[{i}][0]"), frame_index(c, items[1], f"{p}[{i}][1]")
        keys.append([media, frame, _object_id(c, items[2], f"{p}[{i}][2]")])
    return keys


def _direction(c: Checker, v: Any, p: str) -> int:
    value = c.integer(v, p, -1, 1)
    if value not in (-1, 1):
        raise c.fail(p, f"expected 1 or -1, got {describe(v)}")
    return value


REVIEW_ACTIONS = ("accept", "outside", "occluded")


def _review_action(c: Checker, v: Any, p: str) -> str:
    value = c.string(v, p, non_empty=True)
    if value not in REVIEW_ACTIONS:
        raise c.fail(p, f"expected one of {', '.join(REVIEW_ACTIONS)}, got {describe(v)}")
    return value


def _object_ids(c: Checker, v: Any, p: str) -> list[int]:
    return [_object_id(c, item, f"{p}[{i}]") for i, item in enumerate(c.array(v, p))]


# undo / redo: `engine.editing.history.ChangeSet.summary()` of the change reverted or re-applied.
_CHANGE_SUMMARY: dict[str, _FieldCheck] = {
    "change": _name,
    "change_id": lambda c, v, p: c.integer(v, p, 0),
    "labels": _label_keys,
    "objects": _object_ids,
}

EVENT_DATA: dict[str, dict[str, _FieldCheck]] = {
    "open": {"media": lambda c, v, p: c.string(v, p), "frames": frame_count, "size": _size},
    "goto": {},
    "class": {"name": _name},
    "sam": {"on": lambda c, v, p: c.boolean(v, p)},
    "click": {"x": _unit, "y": _unit, "positive": lambda c, v, p: c.boolean(v, p)},
    "box": {"x0": _unit, "y0": _unit, "x1": _unit, "y1": _unit},
    "reset": {},
    "apply": {"object_id": _object_id, "class_name": _name},
    "quality": {"value": lambda c, v, p: c.number(v, p, QUALITY_MIN, QUALITY_MAX)},
    "candidate": {"index": lambda c, v, p: c.integer(v, p, 0, MAX_CANDIDATE)},
    "permanent": {"on": lambda c, v, p: c.boolean(v, p)},
    "delete": {"object_id": _object_id},
    "edit": {"object_id": _object_id, "shape": _shape},
    "unclick": {},
    "draw": {"object_id": _object_id, "class_name": _name, "shape": _shape},
    "relabel": {"object_id": _object_id, "class_name": _name},
    "undo": _CHANGE_SUMMARY,
    "redo": _CHANGE_SUMMARY,
    # a propagation from the event's frame up to ``until`` (the frame it reached), which
    # pushed ``changes`` undo steps (one per frame it wrote: at most the media's frames,
    # checked with ``until`` against them by `engine.sessions.record`)
    "propagate": {
        "objects": lambda c, v, p: _object_ids(c, v, p),
        "direction": lambda c, v, p: _direction(c, v, p),
        "until": frame_index,
        "changes": lambda c, v, p: c.integer(v, p, 0, MAX_FRAMES),
    },
    # a correction made while a background run carried the object past its frame: the run's
    # labels of the object on frames ``first`` to ``last`` deleted (one undo step)
    "take_back": {"object_id": _object_id, "first": frame_index, "last": frame_index},
    # keyframe interpolation of one object between its labels on frame_a and frame_b,
    # which pushed ``changes`` undo steps (1, or 0 when it wrote nothing)
    "rename": {
        "object_id": _object_id,
        "name": lambda c, v, p: None if v is None else c.string(v, p, non_empty=True),
    },
    "delete_object": {"object_id": _object_id},
    # a flagged label accepted (its flag cleared), or the object marked outside / occluded
    # from the event's frame on (its labels there until the next confirmed one deleted)
    "review": {"object_id": _object_id, "action": _review_action},
    "interpolate": {
        "object_id": _object_id,
        "frame_a": frame_index,
        "frame_b": frame_index,
        "changes": lambda c, v, p: c.integer(v, p, 0, MAX_INTERPOLATE_CHANGES),
    },
}
# Kinds whose event must name a frame: where to go, or the label the change acts on.
FRAME_REQUIRED = ("goto", "delete", "edit", "review")
# Data fields holding a frame index, and counts of frames, of the session's own media:
# below (at most) the media's frame count (`engine.sessions.record` checks them against it).
MEDIA_FRAME_FIELDS = {"propagate": ("until",), "interpolate": ("frame_a", "frame_b"), "take_back": ("first", "last")}
# Fields an event may leave out. propagate's ``back``: a background run's event is recorded
# when it ends; it started ``back`` events earlier, where a replay runs it.
EVENT_OPTIONAL: dict[str, dict[str, _FieldCheck]] = {"propagate": {"back": lambda c, v, p: c.integer(v, p, 0)}}
MEDIA_COUNT_FIELDS = {"propagate": ("changes",)}

# The kinds a version-1 session may hold: those with a data layout above that this
# framewise's Editor also records.
SESSION_EVENT_KINDS = tuple(kind for kind in EVENT_DATA if kind in EVENT_KINDS)
