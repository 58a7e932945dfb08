"""`import_cvat_video`: a CVAT for video 1.1 XML file (one task) back to a `Dataset`.

The XML is parsed with ``defusedxml`` (no DTDs, entities or external references). The task
becomes one media (``<source>`` or else ``<name>``, ``size``, ``original_size``), the task's
labels the ontology (``type`` bbox or rectangle -> bounding_box, polygon -> polygon; without a
type a label's shape follows its tracks), each track one object (id = track id + 1).
Every element with ``outside="0"`` becomes a label; ``outside="1"`` elements only end a
track. Label fields come from the ``source``/``score``/``confirmed``/``review``
attributes when present; otherwise from the file: ``keyframe="0"`` elements (CVAT's
interpolated frames) are unconfirmed with source ``interpolated``, keyframes confirmed
with the track's source mapped (manual/file -> manual, auto -> propagated, else sam).
Other attributes become the label's attributes. Only ``box`` and ``polygon`` elements are
supported; anything else in a track raises `SessionFormatError`. Coordinates must be finite
and are clamped into the frame, as CVAT clips shapes to the frame (`clip_to_frame`); a
shape wholly outside it is refused. ``size`` and the frame size must be within
`engine.limits`, track ids within 64 bits, text encodable as UTF-8.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from engine.errors import OntologyError, SessionFormatError
from engine.formats.dataset import Dataset
from engine.formats.inputs import (
    MAX_IMPORT_BYTES,
    check_frame_size,
    check_frames,
    check_id,
    check_text,
    content_key,
    media_name,
    read_capped,
)
from engine.formats.shapes import clip_to_frame
from engine.limits import MAX_ID
from engine.ontology import Ontology
from engine.types import Box, Label, LabelSource, MediaInfo, Polygon, ShapeType

# CVAT's label types ("bbox" since 2.x; "rectangle" is what older files and shapes say).
_SHAPES = {"bbox": ShapeType.BOUNDING_BOX, "rectangle": ShapeType.BOUNDING_BOX, "polygon": ShapeType.POLYGON,
           "polyline": ShapeType.POLYLINE, "points": ShapeType.POINT}
_TRACK_SOURCES = {"manual": LabelSource.MANUAL, "file": LabelSource.MANUAL, "auto": LabelSource.PROPAGATED}


def import_cvat_video(path: str | Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> Dataset:
    """Read a CVAT for video 1.1 XML file (at most ``max_bytes``) as a `Dataset`."""
    path = Path(path)
    raw = read_capped(path, max_bytes)
    dataset = from_cvat_video(raw, source=str(path))
    dataset.source_key = content_key(raw)
    return dataset


def parse_xml(data: bytes, source: str):
    """The root element of ``data``, parsed without DTDs or entity expansion."""
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        reason = f"{type(exc).__name__}: DTDs and entities are not allowed"
        raise SessionFormatError(f"{source}: refused XML ({reason})") from exc
    except SafeET.ParseError as exc:
        raise SessionFormatError(f"{source}: not well-formed XML ({exc})") from exc


def from_cvat_video(data: bytes, *, source: str = "cvat") -> Dataset:
    """A `Dataset` from the bytes of a CVAT for video XML file."""
    root = parse_xml(data, source)
    if root.tag != "annotations":
        raise SessionFormatError(f"{source}: root element is <{root.tag}>, expected <annotations>")
    task = root.find("meta/task")
    if task is None:
        raise SessionFormatError(f"{source}: meta/task: missing (project exports are not supported)")
    info = _media(task, source, root.find("meta"))
    tracks = root.findall("track")
    classes = _classes(task, tracks, source)
    ontology = _ontology(classes, source)
    labels: list[Label] = []
    seen_ids: set[int] = set()
    for index, track in enumerate(tracks):
        where = f"track[{index}]"
        track_id = check_id(_int(track.get("id"), f"{where}@id", source), f"{source}: {where}@id", high=MAX_ID - 1)
        if track_id + 1 in seen_ids:
            raise SessionFormatError(f"{source}: {where}@id: invalid or duplicate track id {track_id}")
        seen_ids.add(track_id + 1)
        class_name = track.get("label")
        if class_name not in ontology:
            raise SessionFormatError(f"{source}: {where}@label: unknown label {class_name!r}")
        default_source = _TRACK_SOURCES.get(track.get("source", "manual"), LabelSource.SAM)
        frames: set[int] = set()
        for child in track:
            element_where = f"{where}/{child.tag}[frame={child.get('frame')}]"
            if child.tag not in ("box", "polygon"):
                raise SessionFormatError(f"{source}: {element_where}: shape type <{child.tag}> is not supported")
            frame = _int(child.get("frame"), f"{element_where}@frame", source)
            if not 0 <= frame < info.frames:
                raise SessionFormatError(f"{source}: {element_where}@frame: outside 0..{info.frames - 1}")
            if frame in frames:
                raise SessionFormatError(f"{source}: {element_where}@frame: frame {frame} twice in one track")
            frames.add(frame)
            shape = _shape(child, element_where, source)
            if _flag(child.get("outside", "0"), f"{element_where}@outside", source):
                continue  # (an object that left the frame: its marker may lie wholly outside)
            clipped = clip_to_frame(shape, info.width, info.height)
            if clipped is None:
                raise SessionFormatError(
                    f"{source}: {element_where}: the shape lies wholly outside the {info.width}x{info.height} frame"
                )
            keyframe = _flag(child.get("keyframe", "1"), f"{element_where}@keyframe", source)
            fields = _fields(child, element_where, source, keyframe, default_source)
            labels.append(
                Label(track_id + 1, frame, class_name, clipped, media=info.name, **fields)
            )
    return Dataset(ontology, [info], labels)


def _text(parent, path: str, source: str, *, required: bool = True) -> str | None:
    element = parent.find(path)
    if element is None:
        if required:
            raise SessionFormatError(f"{source}: meta/task/{path}: missing")
        return None
    return (element.text or "").strip()


def _int(text: str | None, where: str, source: str) -> int:
    try:
        return int(text if text is not None else "")  # None fails as an empty value does
    except (TypeError, ValueError):
        raise SessionFormatError(f"{source}: {where}: expected an integer, got {text!r}") from None


def _float(text: str | None, where: str, source: str) -> float:
    try:
        value = float(text if text is not None else "")  # None fails as an empty value does
    except (TypeError, ValueError):
        raise SessionFormatError(f"{source}: {where}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise SessionFormatError(f"{source}: {where}: expected a finite number, got {text!r}")
    return value


def _flag(text: str, where: str, source: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise SessionFormatError(f"{source}: {where}: expected 0 or 1, got {text!r}")


def _media(task, source: str, meta=None) -> MediaInfo:
    # CVAT writes <source> inside <task>; releases before 2.x put it in <meta>.
    name = _text(task, "source", source, required=False) or (
        (meta.findtext("source") or "").strip() if meta is not None else ""
    ) or _text(task, "name", source)
    name = media_name(name, where=f"{source}: meta/task/source")
    frames = _int(_text(task, "size", source), "meta/task/size", source)
    width = _int(_text(task, "original_size/width", source), "meta/task/original_size/width", source)
    height = _int(_text(task, "original_size/height", source), "meta/task/original_size/height", source)
    if frames <= 0 or width <= 0 or height <= 0:
        raise SessionFormatError(f"{source}: meta/task: size {frames} and frame size {width}x{height} must be positive")
    check_frames(frames, f"{source}: meta/task/size")
    check_frame_size(width, height, f"{source}: meta/task/original_size")
    return MediaInfo(name=name, fingerprint="", width=width, height=height, frames=frames, fps=0.0)


def _classes(task, tracks, source: str) -> list[dict]:
    """Ontology entries from the task's labels; untyped labels take their tracks' shape."""
    used: dict[str, ShapeType] = {}
    for track in tracks:
        for child in track:
            used.setdefault(track.get("label", ""), ShapeType.BOUNDING_BOX if child.tag == "box" else ShapeType.POLYGON)
            break
    entries = []
    for index, label in enumerate(task.findall("labels/label")):
        name = (label.findtext("name") or "").strip()
        kind = (label.findtext("type") or "").strip()
        if kind and kind not in _SHAPES and kind != "any":
            raise SessionFormatError(f"{source}: meta/task/labels/label[{index}]/type: unsupported type {kind!r}")
        entry = {"name": name, "shape": _SHAPES.get(kind) or used.get(name, ShapeType.POLYGON)}
        colour = (label.findtext("color") or "").strip()
        if colour:
            entry["colour"] = colour
        entries.append(entry)
    return entries


def _ontology(entries: list[dict], source: str) -> Ontology:
    try:
        return Ontology.from_json(entries, source=f"{source}: meta/task/labels")
    except OntologyError as exc:
        message = str(exc) if str(exc).startswith(source) else f"{source}: meta/task/labels: {exc}"
        raise SessionFormatError(message) from exc


def _shape(element, where: str, source: str) -> Box | Polygon:
    if element.tag == "box":
        x0, y0, x1, y1 = (_float(element.get(k), f"{where}@{k}", source) for k in ("xtl", "ytl", "xbr", "ybr"))
        if x1 <= x0 or y1 <= y0:
            raise SessionFormatError(f"{source}: {where}: empty box {x0:g},{y0:g},{x1:g},{y1:g}")
        return Box(x0, y0, x1, y1)
    text = element.get("points")
    if not text:
        raise SessionFormatError(f"{source}: {where}@points: missing")
    points = []
    for pair in text.strip().split(";"):
        xy = pair.split(",")
        if len(xy) != 2:
            raise SessionFormatError(f"{source}: {where}@points: {pair!r} is not x,y")
        points.append((_float(xy[0], f"{where}@points", source), _float(xy[1], f"{where}@points", source)))
    if len(points) < 3:
        raise SessionFormatError(f"{source}: {where}@points: polygon with {len(points)} points (need at least 3)")
    return Polygon(((np.asarray(points, np.float64),),))


def _fields(element, where: str, source: str, keyframe: bool, default_source: LabelSource) -> dict:
    values: dict[str, str] = {}
    for attribute in element.findall("attribute"):
        name = attribute.get("name")
        if not name:
            raise SessionFormatError(f"{source}: {where}/attribute: missing name")
        values[check_text(name, f"{source}: {where}/attribute@name")] = check_text(
            attribute.text or "", f"{source}: {where}/attribute[{name}]"
        )
    text = values.pop("source", None)
    if text is None:
        label_source = default_source if keyframe else LabelSource.INTERPOLATED
    else:
        try:
            label_source = LabelSource(text)
        except ValueError:
            raise SessionFormatError(f"{source}: {where}/attribute[source]: unknown source {text!r}") from None
    score = _float(values.pop("score", "1.0"), f"{where}/attribute[score]", source)
    confirmed = _flag(values.pop("confirmed", "true" if keyframe else "false"), f"{where}/attribute[confirmed]", source)
    review = _flag(values.pop("review", "false"), f"{where}/attribute[review]", source)
    return {"source": label_source, "score": score, "confirmed": confirmed, "review": review, "attributes": values}
