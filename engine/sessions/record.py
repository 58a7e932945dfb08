"""Prompt sessions as versioned JSON: export an Editor's event log, load and validate one.

A session (format ``framewise-session``, version 1) is everything needed to replay a
labelling session on the same media or on another one (see `engine.sessions.replay`)::

    {"format": "framewise-session", "version": 1,
     "media": {"name", "fingerprint", "width", "height", "frames", "fps", "timestamps"?},
     "ontology": [{"name", "shape", "colour", "hotkey"}, ...],
     "segmenter": {"backend", "model", "quality"},
     "events": [{"kind", "frame", "data", "time"}, ...]}

Event coordinates are fractions of the frame in [0, 1] (`engine.editing.events`). The same format
is described by the JSON Schema ``engine/sessions/schemas/session-v1.schema.json``; the hand
validator here also checks what a schema cannot say (timestamps match the frame count,
event frames lie inside the media, boxes are not empty).

Loading never unpickles and reads at most `MAX_SESSION_BYTES`; every defect is a
`SessionFormatError` whose one-line message names the file and the field path, e.g.
``S.json: events[12].data.x: expected a number in [0, 1], got 1.7``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.editing.events import Event
from engine.errors import OntologyError, SessionFormatError
from engine.fileio import atomic_write_json
from engine.limits import MAX_FRAME_PIXELS
from engine.ontology import Ontology
from engine.sessions.check import (
    EVENT_DATA,
    EVENT_OPTIONAL,
    FRAME_REQUIRED,
    MAX_FPS,
    MAX_SECONDS,
    MEDIA_COUNT_FIELDS,
    MEDIA_FRAME_FIELDS,
    SESSION_EVENT_KINDS,
    TOP,
    Checker,
    check_pixels,
    describe,
    frame_count,
    frame_index,
)
from engine.types import QUALITY_MAX, QUALITY_MIN, MediaInfo, ShapeType

SESSION_FORMAT = "framewise-session"
SESSION_VERSION = 1
MAX_SESSION_BYTES = 256 * 1024 * 1024
SCHEMA_PATH = Path(__file__).parent / "schemas" / "session-v1.schema.json"


@dataclass(frozen=True)
class SegmenterInfo:
    """The segmenter a session was recorded with: backend, model (weights) and start quality."""

    backend: str
    model: str
    quality: float

    @classmethod
    def of(cls, segmenter: Any, quality: float) -> SegmenterInfo:
        """From a `Segmenter` (its ``name`` and ``model``) and the Editor's starting quality."""
        return cls(str(segmenter.name), str(segmenter.model), float(quality))

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "model": self.model, "quality": self.quality}


@dataclass
class Session:
    """A validated session: what `load_session` returns and `engine.sessions.replay` consumes."""

    media: MediaInfo
    ontology: Ontology
    segmenter: SegmenterInfo
    events: list[Event] = field(default_factory=list)
    version: int = SESSION_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SESSION_FORMAT,
            "version": self.version,
            "media": media_to_json(self.media),
            "ontology": self.ontology.to_json(),
            "segmenter": self.segmenter.to_json(),
            "events": [event.to_json() for event in self.events],
        }


# -- export ---------------------------------------------------------------------------


def media_to_json(media: MediaInfo) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": media.name,
        "fingerprint": media.fingerprint,
        "width": media.width,
        "height": media.height,
        "frames": media.frames,
        "fps": media.fps,
    }
    if media.timestamps:
        data["timestamps"] = list(media.timestamps)
    return data


_BOX_KEYS = ("x0", "y0", "x1", "y1")
OPEN_SEGMENTER_FIELDS = ("backend", "model", "quality")
"""Extra data of the Editor's ``open`` events: the segmenter in use. A session keeps it in
its top-level ``segmenter``, so exported ``open`` events keep the version-1 layout."""


def _clip(value: Any) -> float:
    return min(max(float(value), 0.0), 1.0)


def _event_json(event: Event) -> dict[str, Any]:
    data = event.to_json()
    if event.kind == "open":
        data["data"] = {k: v for k, v in data["data"].items() if k not in OPEN_SEGMENTER_FIELDS}
    elif event.kind == "box":
        # The Editor accepts a box dragged partly off the frame and clips it before
        # segmenting; storing the clipped box replays identically and stays in [0, 1].
        data["data"] = {**data["data"], **{k: _clip(data["data"][k]) for k in _BOX_KEYS}}
    elif event.kind == "edit" and isinstance(data["data"].get("shape"), dict):
        # A vertex dragged past the frame edge covers no pixel there: keep it on the edge.
        shape = dict(data["data"]["shape"])
        if shape.get("type") == ShapeType.BOUNDING_BOX:
            shape["box"] = [_clip(v) for v in shape["box"]]
        elif shape.get("type") == ShapeType.POLYGON:
            shape["parts"] = [[[[_clip(x), _clip(y)] for x, y in ring] for ring in part] for part in shape["parts"]]
        data["data"] = {**data["data"], "shape": shape}
    return data


def session_from_log(
    events: Iterable[Event],
    media: MediaInfo,
    ontology: Ontology,
    segmenter_info: SegmenterInfo | Mapping[str, Any],
) -> dict[str, Any]:
    """The session JSON (a dict) of one media's events, validated before it is returned.

    events: the media's events in order (``editor.log.events`` or ``project.events(name)``).
    segmenter_info: a `SegmenterInfo` or a mapping with ``backend``, ``model``, ``quality``.
    Raises `SessionFormatError` when the log cannot make a valid session (e.g. an event
    on a frame the media does not have).
    """
    if isinstance(segmenter_info, SegmenterInfo):
        segmenter_json = segmenter_info.to_json()
    else:
        segmenter_json = {k: segmenter_info[k] for k in ("backend", "model", "quality")}
    data = {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "media": media_to_json(media),
        "ontology": ontology.to_json(),
        "segmenter": segmenter_json,
        "events": [_event_json(event) for event in events],
    }
    parse_session(data, source="session export")
    return data


def recorded_segmenter(events: Iterable[Event]) -> SegmenterInfo | None:
    """The segmenter named by the first ``open`` event that records one (backend, model and
    the Editor's quality when it opened the media), or None for logs from before the Editor
    recorded it."""
    for event in events:
        if event.kind == "open" and all(key in event.data for key in OPEN_SEGMENTER_FIELDS):
            data = event.data
            return SegmenterInfo(str(data["backend"]), str(data["model"]), float(data["quality"]))
    return None


# Editor state each kind sets, and the data field holding the new value.
_STATE_FIELDS = {"class": "name", "sam": "on", "quality": "value", "permanent": "on"}


def _event_key(event: Event) -> tuple:
    return (event.kind, event.frame_index, json.dumps(event.data, sort_keys=True, default=str), event.time)


def events_of_media(all_events: Iterable[Event], media_events: Iterable[Event]) -> list[Event]:
    """One media's events from a log of several, replayable on their own.

    all_events: the whole log in order (``project.events()``); media_events: the media's
    part of it (``project.events(name)``). Class, SAM, quality and permanent changes made
    before the media was opened or while another media was open still hold when its
    events resume, so they are carried in as state events (frame None, the time of the
    event they precede) wherever they differ from what replaying the media's own events
    would give.
    """
    pending = Counter(_event_key(event) for event in media_events)
    actual: dict[str, Any] = {}  # the Editor's state after each event of the log
    replayed: dict[str, Any] = {}  # the state a replay of the kept events would reach
    kept: list[Event] = []
    for event in all_events:
        key = _event_key(event)
        ours = pending[key] > 0
        if ours:
            pending[key] -= 1
            for kind, name in _STATE_FIELDS.items():
                if kind in actual and replayed.get(kind) != actual[kind]:
                    kept.append(Event(kind, None, {name: actual[kind]}, event.time))
                    replayed[kind] = actual[kind]
            kept.append(event)
        if event.kind in _STATE_FIELDS:
            value = event.data[_STATE_FIELDS[event.kind]]
            actual[event.kind] = value
            if ours:
                replayed[event.kind] = value
    return kept


def write_session(path: str | Path, session: Mapping[str, Any] | Session) -> Path:
    """Write a session (dict or `Session`) atomically as indented UTF-8 JSON."""
    data = session.to_json() if isinstance(session, Session) else dict(session)
    return atomic_write_json(path, data)


# -- loading and validation (field checks in engine.sessions.check) --------------------


def load_session(path: str | Path, *, max_bytes: int = MAX_SESSION_BYTES) -> Session:
    """Read and validate a session file; raises `SessionFormatError` naming file and field."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise SessionFormatError(f"{path}: no such session file") from None
    except IsADirectoryError:
        raise SessionFormatError(f"{path}: is a folder, not a session file") from None
    except OSError as exc:
        raise SessionFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(raw) > max_bytes:
        raise SessionFormatError(f"{path}: larger than {max_bytes / 2**20:g} MiB; refusing to read a session this big")
    return parse_session(decode_json(raw, str(path)), source=str(path))


def decode_json(raw: bytes, source: str) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, bounded nesting (a truncated file fails here)."""

    def reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SessionFormatError(f"{source}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    if not text.strip():
        raise SessionFormatError(f"{source}: empty file, not a session")
    try:
        return json.loads(text, parse_constant=reject_constant)
    except json.JSONDecodeError as exc:
        raise SessionFormatError(
            f"{source}: not valid JSON, truncated or corrupt ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except ValueError as exc:
        raise SessionFormatError(f"{source}: not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise SessionFormatError(f"{source}: JSON nested too deeply") from exc


def _parse_media(c: Checker, value: Any) -> MediaInfo:
    m = c.object(value, "media", ("name", "fingerprint", "width", "height", "frames", "fps"), ("timestamps",))
    frames = frame_count(c, m["frames"], "media.frames")
    timestamps: tuple[float, ...] = ()
    if "timestamps" in m:
        items = c.array(m["timestamps"], "media.timestamps")
        if len(items) != frames:
            raise c.fail("media.timestamps", f"{len(items)} timestamps for {frames} frames")
        timestamps = tuple(
            c.number(t, f"media.timestamps[{i}]", -MAX_SECONDS, MAX_SECONDS) for i, t in enumerate(items)
        )
        for i in range(1, len(timestamps)):
            if timestamps[i] < timestamps[i - 1]:
                raise c.fail(f"media.timestamps[{i}]", f"{timestamps[i]!r} is earlier than the frame before it")
    width = c.integer(m["width"], "media.width", 1, MAX_FRAME_PIXELS)
    height = c.integer(m["height"], "media.height", 1, MAX_FRAME_PIXELS)
    check_pixels(c, width, height, "media")
    return MediaInfo(
        name=c.string(m["name"], "media.name", non_empty=True),
        fingerprint=c.string(m["fingerprint"], "media.fingerprint"),
        width=width,
        height=height,
        frames=frames,
        fps=c.number(m["fps"], "media.fps", 0.0, MAX_FPS, exclusive_low=True),
        timestamps=timestamps,
    )


def _parse_event(c: Checker, value: Any, path: str, frames: int) -> Event:
    e = c.object(value, path, ("kind", "frame", "data", "time"))
    kind = c.string(e["kind"], f"{path}.kind")
    if kind not in SESSION_EVENT_KINDS:
        raise c.fail(f"{path}.kind", f"unknown event kind {kind!r}; known: {', '.join(SESSION_EVENT_KINDS)}")
    frame = e["frame"]
    if frame is None and kind in FRAME_REQUIRED:
        raise c.fail(f"{path}.frame", f"a {kind} event needs a frame index, got null")
    if frame is not None:
        frame = frame_index(c, frame, f"{path}.frame")
        if frame >= frames:
            raise c.fail(f"{path}.frame", f"frame {frame} is beyond the media's {frames} frames")
    fields, optional = EVENT_DATA[kind], EVENT_OPTIONAL.get(kind, {})
    data = c.object(e["data"], f"{path}.data", fields, optional)
    parsed = {name: check(c, data[name], f"{path}.data.{name}") for name, check in (fields | optional).items()
              if name in data}
    for name in MEDIA_FRAME_FIELDS.get(kind, ()):
        if parsed[name] >= frames:
            raise c.fail(f"{path}.data.{name}", f"frame {parsed[name]} is beyond the media's {frames} frames")
    for name in MEDIA_COUNT_FIELDS.get(kind, ()):
        if parsed[name] > frames:  # one undo step per frame written
            raise c.fail(f"{path}.data.{name}", f"{parsed[name]} is more than the media's {frames} frames")
    if kind == "box" and not (parsed["x0"] < parsed["x1"] and parsed["y0"] < parsed["y1"]):
        raise c.fail(f"{path}.data", f"empty box {[parsed[k] for k in _BOX_KEYS]}: need x0 < x1 and y0 < y1")
    return Event(kind, frame, parsed, c.number(e["time"], f"{path}.time"))


def parse_session(data: Any, *, source: str = "session") -> Session:
    """Validate decoded JSON and build a `Session`; ``source`` names the file in errors."""
    c = Checker(source)
    if not isinstance(data, dict):
        raise c.fail(TOP, f"expected a session object, got {describe(data)}")
    if data.get("format") != SESSION_FORMAT:
        raise c.fail("format", f"expected {SESSION_FORMAT!r}, got {describe(data.get('format'))}: not a framewise session")
    version = c.integer(data.get("version"), "version", 1)
    if version > SESSION_VERSION:
        raise c.fail(
            "version", f"version {describe(version)} is newer than this framewise supports ({SESSION_VERSION})"
        )
    c.object(data, TOP, ("format", "version", "media", "ontology", "segmenter", "events"))
    media = _parse_media(c, data["media"])
    try:
        ontology = Ontology.from_json(c.array(data["ontology"], "ontology"), source="ontology")
    except OntologyError as exc:
        message = str(exc).removeprefix("ontology: ")
        raise SessionFormatError(f"{source}: ontology: {message}") from exc
    s = c.object(data["segmenter"], "segmenter", ("backend", "model", "quality"))
    segmenter = SegmenterInfo(
        backend=c.string(s["backend"], "segmenter.backend", non_empty=True),
        model=c.string(s["model"], "segmenter.model"),
        quality=c.number(s["quality"], "segmenter.quality", QUALITY_MIN, QUALITY_MAX),
    )
    events = [
        _parse_event(c, item, f"events[{i}]", media.frames) for i, item in enumerate(c.array(data["events"], "events"))
    ]
    return Session(media=media, ontology=ontology, segmenter=segmenter, events=events, version=version)
