"""Reading CVAT 1.1 XML (both CVAT for video and CVAT for images): the safe parse, the
``<meta>`` of a task or a job export, the labels, and one shape element.

CVAT writes (cvat/apps/dataset_manager/bindings.py, ``TaskData``/``JobData._init_meta``):

- a **task** export: ``<meta><task>`` with ``id``, ``name``, ``size`` (frames),
  ``mode`` (``interpolation`` for a video, ``annotation`` for images), ``start_frame``,
  ``stop_frame``, ``frame_filter`` (``step=N``), ``labels``, and for a video
  ``original_size`` and ``source`` (the video's file name; 1.x put ``source`` in
  ``<meta>``);
- a **job** export: ``<meta><job>`` with ``id``, ``size`` (the job's frames),
  ``start_frame``/``stop_frame`` (of the job, in data frames), ``segments/segment``
  (``start``, ``stop``: the job's first and last task frame), ``labels``; no task name
  or source, and ``original_size`` directly in ``<meta>``;
- a **project** export (``<meta><project>``) holds several tasks: refused here (export
  the task or the job instead).

Frame numbers in the file are data frames, ``start_frame + i * step`` for task frame
``i``; a framewise media indexes the video's frames, so a label goes to frame
``start_frame + i * step`` and the media has ``start_frame + (last task frame) * step + 1``
frames. CVAT interpolates in task frames (`CvatMeta.relative`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.errors import OntologyError, SessionFormatError
from engine.formats.cvat_interpolate import TrackShape
from engine.formats.cvat_mask import CvatMask, CvatMaskError, mask_polygon, parse_rle
from engine.formats.inputs import check_frame_size, check_frames, check_text, media_name
from engine.formats.points import from_edges
from engine.ontology import Ontology
from engine.types import Box, LabelSource, Point, Polygon, ShapeType

# CVAT's label types ("bbox" since 2.x; "rectangle" in older files and in shapes).
SHAPE_TYPES = {"bbox": ShapeType.BOUNDING_BOX, "rectangle": ShapeType.BOUNDING_BOX, "polygon": ShapeType.POLYGON,
               "polyline": ShapeType.POLYLINE, "points": ShapeType.POINT, "mask": ShapeType.POLYGON}
TRACK_SOURCES = {"manual": LabelSource.MANUAL, "file": LabelSource.MANUAL, "auto": LabelSource.PROPAGATED}
SHAPE_TAGS = ("box", "polygon", "mask", "points")
"""The shape elements a framewise label can hold (polylines, ellipses, cuboids, skeletons
are refused with a message naming them; ``<points>`` of one point only)."""
_STEP = re.compile(r"\s*step\s*=\s*(\d+)\s*")


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


def xml_int(text: str | None, where: str, source: str) -> int:
    try:
        return int(text if text is not None else "")  # None fails as an empty value does
    except (TypeError, ValueError):
        raise SessionFormatError(f"{source}: {where}: expected an integer, got {text!r}") from None


def xml_float(text: str | None, where: str, source: str) -> float:
    try:
        value = float(text if text is not None else "")  # None fails as an empty value does
    except (TypeError, ValueError):
        raise SessionFormatError(f"{source}: {where}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise SessionFormatError(f"{source}: {where}: expected a finite number, got {text!r}")
    return value


def xml_flag(text: str, where: str, source: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise SessionFormatError(f"{source}: {where}: expected 0 or 1, got {text!r}")


@dataclass(frozen=True)
class CvatMeta:
    """What the ``<meta>`` of a task or job export says (see the module docstring).

    kind: ``task`` or ``job``; mode: ``interpolation``/``annotation`` (or "");
    width/height: ``original_size`` (0 when absent: image tasks give sizes per image);
    data_start, step: data frame of task frame 0 and the frame step; first, end: the task
    frames the file covers, ``first <= i < end`` (CVAT's interpolation end).
    """

    kind: str
    mode: str
    name: str
    width: int
    height: int
    data_start: int
    step: int
    first: int
    end: int
    labels: Any  # the <labels> element (or None)

    @property
    def frames(self) -> int:
        """Frames of the framewise media: the data frame after the last one covered."""
        return self.data_start + (self.end - 1) * self.step + 1

    def relative(self, frame: int, where: str, source: str) -> int:
        """The task frame of data frame ``frame``; refused outside the task or job."""
        index, rest = divmod(frame - self.data_start, self.step)
        if rest or not self.first <= index < self.end:
            low, high = self.data_start + self.first * self.step, self.frames - 1
            step = f" in steps of {self.step}" if self.step > 1 else ""
            raise SessionFormatError(f"{source}: {where}: frame {frame} is outside {low}..{high}{step}")
        return index

    def data_frame(self, relative: int) -> int:
        return self.data_start + relative * self.step


def read_meta(root, source: str) -> CvatMeta:
    """The `CvatMeta` of a parsed CVAT XML root; `SessionFormatError` naming the field."""
    if root.tag != "annotations":
        raise SessionFormatError(f"{source}: root element is <{root.tag}>, expected <annotations>")
    meta = root.find("meta")
    if meta is None:
        raise SessionFormatError(f"{source}: meta: missing")
    task, kind = meta.find("task"), "task"
    if task is None:
        task, kind = meta.find("job"), "job"
    if task is None:
        if meta.find("project") is not None:
            raise SessionFormatError(
                f"{source}: meta/project: a CVAT project export holds several tasks; export the task or the job"
            )
        raise SessionFormatError(f"{source}: meta/task: missing (neither a task nor a job export)")
    where = f"meta/{kind}"

    def text(path: str) -> str:
        return (task.findtext(path) or "").strip()

    size = xml_int(text("size"), f"{where}/size", source)
    step = 1
    if text("frame_filter"):
        match = _STEP.fullmatch(text("frame_filter"))
        if match is None or int(match.group(1)) < 1:
            raise SessionFormatError(f"{source}: {where}/frame_filter: expected step=N, got {text('frame_filter')!r}")
        step = int(match.group(1))
    start = xml_int(text("start_frame") or "0", f"{where}/start_frame", source)
    first = 0
    if kind == "job" and task.find("segments/segment/start") is not None:
        first = xml_int(text("segments/segment/start"), f"{where}/segments/segment/start", source)
        start -= first * step  # the job's start_frame is its own first frame's
    if size <= 0 or start < 0 or first < 0:
        raise SessionFormatError(f"{source}: {where}: size {size} must be positive and start_frame not negative")
    name = text("source") or (meta.findtext("source") or "").strip()
    if kind == "task":
        name = name or text("name")
    else:
        name = name or f"job_{xml_int(text('id'), f'{where}/id', source)}"
    name = media_name(name, where=f"{source}: {where}/source")
    size_element = task.find("original_size")
    if size_element is None:
        size_element = meta.find("original_size")
    width = height = 0
    if size_element is not None:
        width = xml_int(size_element.findtext("width"), f"{where}/original_size/width", source)
        height = xml_int(size_element.findtext("height"), f"{where}/original_size/height", source)
        if width <= 0 or height <= 0:
            raise SessionFormatError(f"{source}: {where}/original_size: frame size {width}x{height} must be positive")
        check_frame_size(width, height, f"{source}: {where}/original_size")
    found = CvatMeta(kind, text("mode"), name, width, height, start, step, first, first + size, task.find("labels"))
    check_frames(found.frames, f"{source}: {where}/size")
    return found


def ontology(meta: CvatMeta, used: dict[str, ShapeType], source: str) -> Ontology:
    """The labels of the meta as an ontology; a label without a type (or ``any``) takes the
    shape its shapes have in ``used`` (polygon when it has none)."""
    entries = []
    labels = [] if meta.labels is None else meta.labels.findall("label")
    for index, label in enumerate(labels):
        name = (label.findtext("name") or "").strip()
        kind = (label.findtext("type") or "").strip()
        if kind and kind not in SHAPE_TYPES and kind != "any":
            raise SessionFormatError(f"{source}: meta/{meta.kind}/labels/label[{index}]/type: unsupported type {kind!r}")
        shape = used.get(name, ShapeType.POLYGON) if kind in ("", "any", "mask") else SHAPE_TYPES[kind]
        entry = {"name": name, "shape": shape}
        colour = (label.findtext("color") or "").strip()
        if colour:
            entry["colour"] = colour
        entries.append(entry)
    try:
        return Ontology.from_json(entries, source=f"{source}: meta/{meta.kind}/labels")
    except OntologyError as exc:
        message = str(exc) if str(exc).startswith(source) else f"{source}: meta/{meta.kind}/labels: {exc}"
        raise SessionFormatError(message) from exc


def element_shape(element, frame: int, where: str, source: str, *, in_track: bool) -> TrackShape:
    """A ``<box>``, ``<polygon>``, ``<points>`` (one point) or ``<mask>`` element as a
    `TrackShape` (CVAT's numbers)."""
    tag = element.tag
    if tag not in SHAPE_TAGS:
        raise SessionFormatError(
            f"{source}: {where}: shape type <{tag}> is not supported "
            "(framewise labels are boxes, polygons, masks and single points)"
        )
    if tag == "box":
        points = [xml_float(element.get(k), f"{where}@{k}", source) for k in ("xtl", "ytl", "xbr", "ybr")]
        if points[2] <= points[0] or points[3] <= points[1]:
            raise SessionFormatError(f"{source}: {where}: empty box {','.join(f'{p:g}' for p in points)}")
        if xml_float(element.get("rotation", "0"), f"{where}@rotation", source) % 360:
            raise SessionFormatError(f"{source}: {where}@rotation: rotated boxes are not supported")
    elif tag == "polygon":
        points = _points(element.get("points"), f"{where}@points", source)
    elif tag == "points":
        points = _points(element.get("points"), f"{where}@points", source, least=1)
        if len(points) != 2:
            raise SessionFormatError(
                f"{source}: {where}@points: {len(points) // 2} points in one element; framewise point labels "
                "hold one (give each keypoint its own <points>)"
            )
    else:
        numbers = [xml_int(element.get(k), f"{where}@{k}", source) for k in ("left", "top", "width", "height")]
        try:
            rle = parse_rle(element.get("rle") or "")
        except CvatMaskError as exc:
            raise SessionFormatError(f"{source}: {where}@rle: {exc}") from None
        left, top, width, height = numbers
        points = [float(v) for v in rle] + [float(left), float(top), float(left + width - 1), float(top + height - 1)]
    outside = xml_flag(element.get("outside", "0"), f"{where}@outside", source) if in_track else False
    keyframe = xml_flag(element.get("keyframe", "1"), f"{where}@keyframe", source) if in_track else True
    return TrackShape(
        frame=frame,
        kind="rectangle" if tag == "box" else tag,
        points=points,
        outside=outside,
        keyframe=keyframe,
        occluded=xml_flag(element.get("occluded", "0"), f"{where}@occluded", source),
        z_order=xml_int(element.get("z_order", "0"), f"{where}@z_order", source),
        attributes=_attributes(element, where, source),
    )


def used_shape(tag: str) -> ShapeType:
    """The class shape a label's ``<box>``/``<polygon>``/``<mask>``/``<points>`` elements
    give it when its ``<type>`` is ``any`` or missing."""
    if tag in ("box", "rectangle"):
        return ShapeType.BOUNDING_BOX
    return ShapeType.POINT if tag == "points" else ShapeType.POLYGON


def check_kind(kind: str, class_name: str, class_shape: ShapeType, where: str, source: str) -> None:
    """Refuse a ``<points>`` element of a class that is not a point class, and any other
    shape of a point class (a label's shape follows its class)."""
    if (kind == "points") != (class_shape == ShapeType.POINT):
        tag = "box" if kind == "rectangle" else kind
        raise SessionFormatError(f"{source}: {where}: a <{tag}> of the {class_shape} label {class_name!r}")


def _points(text: str | None, where: str, source: str, least: int = 3) -> list[float]:
    if not text:
        raise SessionFormatError(f"{source}: {where}: missing")
    points: list[float] = []
    for pair in text.strip().split(";"):
        xy = pair.split(",")
        if len(xy) != 2:
            raise SessionFormatError(f"{source}: {where}: {pair!r} is not x,y")
        points += [xml_float(xy[0], where, source), xml_float(xy[1], where, source)]
    if len(points) < 2 * least:
        raise SessionFormatError(f"{source}: {where}: polygon with {len(points) // 2} points (need at least 3)")
    return points


def _attributes(element, where: str, source: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for attribute in element.findall("attribute"):
        name = attribute.get("name")
        if not name:
            raise SessionFormatError(f"{source}: {where}/attribute: missing name")
        values[check_text(name, f"{source}: {where}/attribute@name")] = check_text(
            attribute.text or "", f"{source}: {where}/attribute[{name}]"
        )
    return values


def to_shape(shape: TrackShape, where: str, source: str, frame_size: tuple[int, int]) -> Box | Polygon | Point:
    """The framewise shape of a `TrackShape` (a mask becomes its exact pixel outline; it
    must lie in the ``(width, height)`` frame, as CVAT's masks do, and set a pixel; a point
    moves from CVAT's pixel-edge canvas to the pixel centre: `points.from_edges`)."""
    if shape.kind == "rectangle":
        return Box(*shape.points[:4])
    if shape.kind == "points":
        return from_edges(shape.points[0], shape.points[1])
    if shape.kind == "mask":
        *rle, left, top, right, bottom = (int(v) for v in shape.points)
        width, height = frame_size
        if left < 0 or top < 0 or right < left or bottom < top or right >= width or bottom >= height:
            raise SessionFormatError(
                f"{source}: {where}: mask {right - left + 1}x{bottom - top + 1} at ({left}, {top}) is not inside "
                f"the {width}x{height} frame"
            )
        try:
            polygon = mask_polygon(CvatMask(tuple(rle), left, top, right - left + 1, bottom - top + 1))
        except CvatMaskError as exc:
            raise SessionFormatError(f"{source}: {where}: mask: {exc}") from None
        if not polygon.parts:
            raise SessionFormatError(f"{source}: {where}: mask: no pixel is set")
        return polygon
    ring = np.asarray(shape.points, np.float64).reshape(-1, 2)
    return Polygon(((ring,),))


def mask_pixels(shape: TrackShape) -> int:
    """Pixels a mask shape's crop holds (0 for other shapes): importers cap their sum."""
    if shape.kind != "mask":
        return 0
    *_, left, top, right, bottom = shape.points
    return max(int(right - left + 1), 0) * max(int(bottom - top + 1), 0)


MAX_MASK_PIXELS = 1 << 31
"""Mask pixels one import may decode (each mask is at most a frame)."""


def label_fields(shape: TrackShape, where: str, source: str, default_source: LabelSource) -> dict:
    """`Label` keyword fields of a shape: framewise's own attributes (``source``,
    ``score``, ``confirmed``, ``review``) when present, else from the file (a keyframe:
    ``default_source``, confirmed; an interpolated shape: ``interpolated``, unconfirmed);
    ``occluded``/``z_order`` kept as the attributes ``occluded`` = ``1`` and ``z_order``
    when not 0; the other attributes as they are."""
    values = dict(shape.attributes)
    text = values.pop("source", None)
    score = xml_float(values.pop("score", "1.0"), f"{where}/attribute[score]", source)
    confirmed_text = values.pop("confirmed", None)
    review_text = values.pop("review", "false")
    if shape.keyframe:
        label_source = default_source
        if text is not None:
            try:
                label_source = LabelSource(text)
            except ValueError:
                raise SessionFormatError(f"{source}: {where}/attribute[source]: unknown source {text!r}") from None
        confirmed = xml_flag(confirmed_text or "true", f"{where}/attribute[confirmed]", source)
        review = xml_flag(review_text, f"{where}/attribute[review]", source)
    else:
        label_source, confirmed, review = LabelSource.INTERPOLATED, False, False
    values = {name: value for name, value in values.items() if value != ""}  # CVAT gives every attribute a value
    values.pop("occluded", None)
    values.pop("z_order", None)
    if shape.occluded:
        values["occluded"] = "1"
    if shape.z_order:
        values["z_order"] = str(shape.z_order)
    return {"source": label_source, "score": score, "confirmed": confirmed, "review": review, "attributes": values}
