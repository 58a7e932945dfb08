"""Conversions between project database rows / JSON and the engine's types."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from engine.editing.events import Event
from engine.editing.history import ObjectRecord, Row
from engine.errors import ProjectError, SessionFormatError
from engine.types import Label, LabelSource, MediaInfo, shape_from_json, shape_to_json


def dumps(value: Any) -> str:
    """Compact JSON; numpy scalars and arrays become plain numbers and lists."""
    return json.dumps(value, separators=(",", ":"), default=_plain)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def label_from_row(row: tuple, media: str, *, where: str) -> Label:
    """(frame_index, object_id, class_name, shape, source, score, confirmed, review, attributes)."""
    frame_index, object_id, class_name, shape, source, score, confirmed, review, attributes = row
    try:
        parsed = shape_from_json(json.loads(shape), source=f"{where}: label {media}#{frame_index}/{object_id}")
        attrs = json.loads(attributes)
        return Label(
            object_id=int(object_id),
            frame_index=int(frame_index),
            class_name=class_name,
            shape=parsed,
            source=LabelSource(source),
            score=float(score),
            confirmed=bool(confirmed),
            review=bool(review),
            media=media,
            attributes=attrs,
        )
    except (ValueError, TypeError, OverflowError, RecursionError, SessionFormatError) as exc:
        # (a crafted or damaged database: text where numbers belong, JSON that is not a shape)
        what = f"label ({media!r}, frame {frame_index}, object {object_id})"
        raise ProjectError(f"{where}: {what} is corrupt ({_short(exc)})") from exc


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def row_to_json(row: Row | None) -> str | None:
    """A label or object row as the JSON kept in the undo history (None stays None)."""
    if row is None:
        return None
    if isinstance(row, ObjectRecord):
        return dumps({"table": "object", "media": row.media, "object_id": row.object_id,
                      "class_name": row.class_name, "name": row.name})
    return dumps(
        {
            "table": "label",
            "media": row.media,
            "frame_index": row.frame_index,
            "object_id": row.object_id,
            "class_name": row.class_name,
            "shape": shape_to_json(row.shape, decimals=None),
            "source": row.source,
            "score": row.score,
            "confirmed": row.confirmed,
            "review": row.review,
            "attributes": dict(row.attributes),
        }
    )


def row_from_json(text: str | None, *, where: str) -> Row | None:
    """The inverse of `row_to_json`."""
    if text is None:
        return None
    try:
        data = json.loads(text)
        if data.pop("table") == "object":
            return ObjectRecord(**data)
        data["shape"] = shape_from_json(data["shape"], source=where)
        if "source" in data:
            data["source"] = LabelSource(data["source"])
        return Label(**data)
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError, SessionFormatError) as exc:
        raise ProjectError(f"{where}: corrupt undo record ({_short(exc)})") from exc


def media_from_row(row: tuple, *, where: str = "project") -> MediaInfo:
    """(name, fingerprint, width, height, frames, fps, timestamps, frame_names)."""
    name, fingerprint, width, height, frames, fps, timestamps, frame_names = row
    try:
        return MediaInfo(
            name=name,
            fingerprint=fingerprint,
            width=int(width),
            height=int(height),
            frames=int(frames),
            fps=float(fps),
            timestamps=tuple(float(t) for t in json.loads(timestamps)),
            frame_names=tuple(json.loads(frame_names)),
        )
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ProjectError(f"{where}: media {name!r} is corrupt ({_short(exc)})") from exc


def event_from_row(row: tuple, *, where: str) -> Event:
    """(seq, kind, frame_index, data, time)."""
    seq, kind, frame_index, data, when = row
    try:
        return Event(kind, None if frame_index is None else int(frame_index), json.loads(data), float(when))
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise ProjectError(f"{where}: event {seq} is corrupt ({_short(exc)})") from exc
