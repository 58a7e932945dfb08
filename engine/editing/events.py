"""The session log: every Editor call becomes one `Event`.

Coordinates inside events are normalised to [0, 1] (pixel centre ``x`` of a ``W``-wide
frame is stored as ``(x + 0.5) / W``) so that a session replays at another resolution.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.types import Box, Point, ShapeType, shape_from_json

EVENT_KINDS = (
    "open",
    "goto",
    "class",
    "sam",
    "click",
    "box",
    "reset",
    "apply",
    "quality",
    "candidate",
    "permanent",
    "propagate",
    "delete",  # data: object_id (the event's frame is the label's)
    "edit",  # data: object_id, shape (normalise_shape)
    "relabel",  # data: object_id, class_name
    "undo",  # data: engine.editing.history.ChangeSet.summary() of the reverted change
    "redo",  # data: the same, of the re-applied change
    "interpolate",  # data: object_id, frame_a, frame_b, changes (engine.propagation.interpolate)
    "rename",  # data: object_id, name (a display name or null)
    "unclick",  # the selection's last prompt point removed (no data)
    "draw",  # data: object_id, class_name, shape (normalise_shape): a label drawn by hand
    "delete_object",  # data: object_id (every label of the object on the media)
    "review",  # data: object_id, action (accept | outside | occluded); the event's frame is the label's
    "take_back",  # data: object_id, first, last: a correction took back a background run's labels there
)


@dataclass(frozen=True)
class Event:
    """One Editor call.

    kind: one of `EVENT_KINDS`.
    frame_index: the frame the call acted on (None before media is open).
    data: JSON-able arguments, coordinates normalised to [0, 1].
    time: wall-clock seconds since the epoch when it happened.
    """

    kind: str
    frame_index: int | None
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {self.kind!r}")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "frame": self.frame_index, "data": dict(self.data), "time": self.time}


class SessionLog:
    """An append-only list of events with listeners (the store, the UI status bar)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._listeners: list[Callable[[Event], object]] = []  # return values are ignored

    def subscribe(self, listener: Callable[[Event], object]) -> None:
        self._listeners.append(listener)

    def append(self, event: Event) -> Event:
        self.events.append(event)
        try:
            for listener in self._listeners:
                listener(event)
        except BaseException:
            # A listener that could not store it (a project on a full disk) fails the call,
            # and a failed call is not in the log.
            self.events.pop()
            raise
        return event

    def __len__(self) -> int:
        return len(self.events)

    def kinds(self) -> list[str]:
        return [event.kind for event in self.events]


def normalise_point(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    """Pixel-centre coordinates -> [0, 1] fractions of the frame."""
    return ((x + 0.5) / width, (y + 0.5) / height)


def denormalise_point(u: float, v: float, width: int, height: int) -> tuple[float, float]:
    """[0, 1] fractions -> pixel-centre coordinates in a ``width``×``height`` frame."""
    return (u * width - 0.5, v * height - 0.5)


def normalise_shape(shape, width: int, height: int) -> dict:
    """A Polygon or Box as `engine.types.shape_to_json`, x divided by ``width``, y by ``height``.

    Shapes are in pixel-edge coordinates, so (unlike points) there is no half-pixel shift;
    a `Point` is a pixel centre and is normalised as clicks are (`normalise_point`).
    """
    if isinstance(shape, Point):
        return {"type": ShapeType.POINT.value, "point": list(normalise_point(shape.x, shape.y, width, height))}
    if isinstance(shape, Box):
        box = [shape.x0 / width, shape.y0 / height, shape.x1 / width, shape.y1 / height]
        return {"type": ShapeType.BOUNDING_BOX.value, "box": box}
    # Divide (not multiply by 1/width): quarter-pixel vertices then round-trip exactly.
    size = [float(width), float(height)]
    return {"type": ShapeType.POLYGON.value, "parts": [[(ring / size).tolist() for ring in part] for part in shape.parts]}


def denormalise_shape(data: dict, width: int, height: int):
    """The inverse of `normalise_shape` for a ``width``×``height`` frame."""
    shape = shape_from_json(data, source="event shape")
    if isinstance(shape, Point):
        return Point(*denormalise_point(shape.x, shape.y, width, height))
    if isinstance(shape, Box):
        return Box(shape.x0 * width, shape.y0 * height, shape.x1 * width, shape.y1 * height)
    return type(shape)(tuple(tuple(ring * [width, height] for ring in part) for part in shape.parts))
