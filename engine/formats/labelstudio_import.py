"""`import_label_studio`: a Label Studio JSON export (a list of tasks) back to a `Dataset`.

Reads each task's first annotation that is not cancelled (``predictions``, other
annotations and result types other than ``rectanglelabels``, ``polygonlabels``,
``keypointlabels`` and ``videorectangle`` are left out, counted in a note), with coordinates in percent of
``original_width`` / ``original_height``:
- ``rectanglelabels`` -> a box; a rotated one (``rotation`` ≠ 0) becomes the box around it
  (counted); ``polygonlabels`` -> a polygon (the regions of one object on one image, as
  framewise writes the parts of a polygon, become one label); ``keypointlabels`` -> a point
  (``x``, ``y`` on Label Studio's pixel-edge canvas; the pixel centre is 0.5 px less:
  `engine.formats.points`; the drawn ``width`` is not kept).
- ``videorectangle`` -> one object: a confirmed ``manual`` label on each keyframe and,
  between keyframes, labels interpolated as Label Studio shows them
  (`engine.formats.labelstudio_video.expand`: source ``interpolated``, unconfirmed).
  A video's frame size is the result's ``original_width`` / ``original_height``, else the
  task data's ``width`` / ``height``; without either the import stops and says so.
- Media: tasks framewise wrote carry ``data.framewise`` and are placed back on their media
  and frame. Other image tasks are grouped by the folder of their image URL (the ``d``
  parameter of ``/data/local-files/?d=…``; ``upload/<project>`` for ``/data/upload/…``, whose
  ``<8 hex>-`` upload prefix is taken off the file name); a folder of mixed sizes becomes one
  media per image. A video task's media is named by its video URL. Nothing a URL names is
  ever opened.
- Classes: in order of first use; ``polygon`` when any polygon uses the name, ``point``
  for keypoints (a name used by keypoints and other regions is refused), else
  ``bounding_box``. Labels without a class name are left out (counted).
Malformed input raises `SessionFormatError` naming the file, task and field.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.errors import FormatWarning, OntologyError, SessionFormatError
from engine.formats.dataset import Dataset
from engine.formats.inputs import MAX_IMPORT_BYTES, check_id, content_key, read_capped
from engine.formats.labelstudio_media import Reader, Task, read_size, task_media
from engine.formats.labelstudio_video import Keyframe, expand, shown_frames
from engine.formats.points import from_edges
from engine.formats.shapes import clip_to_frame
from engine.limits import MAX_ID
from engine.ontology import Ontology
from engine.types import Box, Label, LabelSource, MediaInfo, Polygon, Shape, ShapeType

MAX_IMPORTED_LABELS = 5_000_000
"""Labels one import may make (video regions are expanded to every frame they show on)."""

_TYPES = {"rectanglelabels": ShapeType.BOUNDING_BOX, "polygonlabels": ShapeType.POLYGON,
          "keypointlabels": ShapeType.POINT, "videorectangle": None}


@dataclass
class LabelStudioImport:
    dataset: Dataset
    notes: list[str] = field(default_factory=list)


def import_label_studio(path: str | Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> Dataset:
    """Read a Label Studio JSON export (at most ``max_bytes``) as a `Dataset`; what it cannot
    carry exactly is reported as `FormatWarning`s."""
    path = Path(path)
    raw = read_capped(path, max_bytes)
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise SessionFormatError(f"{path}: not a UTF-8 JSON file ({exc})") from exc
    except RecursionError as exc:
        raise SessionFormatError(f"{path}: JSON nested too deeply") from exc
    result = from_label_studio(data, source=str(path))
    for note in result.notes:
        warnings.warn(note, FormatWarning, stacklevel=2)
    result.dataset.source_key = content_key(raw)
    return result.dataset


@dataclass
class _Region:
    where: str
    class_name: str
    kind: ShapeType
    fields: dict
    value: dict


def from_label_studio(data: object, *, source: str = "label-studio") -> LabelStudioImport:
    """A `Dataset` from a parsed Label Studio export (a list of tasks, or one task)."""
    reader = Reader(source)
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise SessionFormatError(f"{source}: expected a JSON list of tasks at the top level")
    tasks = [_read_task(reader, item, f"tasks[{i}]") for i, item in enumerate(items)]
    regions = {id(task): [_read_region(reader, task, r, k) for k, r in enumerate(task.results)] for task in tasks}
    ids = [region.fields["object"] for rs in regions.values() for region in rs if region and "object" in region.fields]
    reader.next_id = max(ids + [0]) + 1
    media, place = task_media(reader, tasks)
    for task in tasks:
        if id(task) not in place:  # an image with no size given: only possible without regions
            if any(regions[id(task)]):
                raise reader.fail(task.where, "regions without original_width / original_height")
            continue
        info, frame_index = place[id(task)]
        for region in regions[id(task)]:
            if region is not None:
                _add_region(reader, task, region, info, frame_index)
    ontology = _ontology(reader)
    dataset = Dataset(ontology, media, list(reader.labels.values()), reader.names)
    return LabelStudioImport(dataset, _notes(reader.counts))


def _ontology(reader: Reader) -> Ontology:
    entries = [{"name": name, "shape": shape} for name, shape in reader.classes.items()]
    if not entries:
        raise SessionFormatError(f"{reader.top.source}: no box, polygon or keypoint labels to import")
    try:
        return Ontology.from_json(entries, source=f"{reader.top.source}: classes")
    except OntologyError as exc:
        raise SessionFormatError(f"{reader.top.source}: classes: {exc}") from exc


def _notes(counts: dict[str, int]) -> list[str]:
    texts = {
        "annotations": "further annotations of a task left out (the first one not cancelled is read)",
        "rotated": "rotated rectangles imported as the upright box around them",
        "unlabelled": "regions without a class name left out",
        "labels": "regions with several class names imported with the first",
    }
    notes = []
    for key, n in sorted(counts.items()):
        if key.startswith("type:"):
            notes.append(f"label-studio: {n} results of type {key[5:]!r} left out (not a box or polygon)")
        else:
            notes.append(f"label-studio: {n} {texts[key]}")
    return notes


def _read_task(reader: Reader, item: object, where: str) -> Task:
    top = reader.top
    if not isinstance(item, dict):
        raise reader.fail(where, "expected a task object")
    data = top.get(item, "data", where, dict)
    annotations = top.get(item, "annotations", where, list, required=False, default=[])
    chosen: list[dict] | None = None
    for index, annotation in enumerate(annotations):
        at = f"{where}.annotations[{index}]"
        if not isinstance(annotation, dict):
            raise reader.fail(at, "expected an object")
        if annotation.get("was_cancelled") is True:
            continue
        if chosen is not None:
            reader.count("annotations")
            continue
        chosen = top.get(annotation, "result", at, list, required=False, default=[])
        for k, result in enumerate(chosen):
            if not isinstance(result, dict):
                raise reader.fail(f"{at}.result[{k}]", "expected an object")
    chosen = chosen or []
    block = top.get(data, "framewise", f"{where}.data", dict, required=False)
    types = {r.get("type") for r in chosen if isinstance(r.get("type"), str)}
    if "video" in data or "videorectangle" in types:
        kind, key = "video", "video"
    else:
        kind, key = "image", "image"
    if key not in data:
        texts = [k for k, v in data.items() if isinstance(v, str) and k != "framewise"]
        if len(texts) != 1:
            raise reader.fail(f"{where}.data", f"no {key!r} URL (and not one text field to take as it)")
        key = texts[0]
    url = top.get(data, key, f"{where}.data", str)
    if not url.strip():
        raise reader.fail(f"{where}.data.{key}", "empty URL")
    task = Task(where, kind, url, block, chosen)
    if "width" in data or "height" in data:
        task.size = read_size(reader, data, f"{where}.data", "width", "height")
    return task


def _read_region(reader: Reader, task: Task, item: dict, k: int) -> _Region | None:
    top = reader.top
    where = f"{task.where}.annotations.result[{k}]"
    kind = top.get(item, "type", where, str)
    if kind not in _TYPES:
        reader.count(f"type:{kind}")
        return None
    if "original_width" in item or "original_height" in item:
        size = read_size(reader, item, where, "original_width", "original_height")
        if task.size is not None and task.size != size:
            raise reader.fail(where, f"original size {size[0]}x{size[1]} differs from the task's {task.size}")
        task.size = size
    value = top.get(item, "value", where, dict)
    names = top.get(value, "labels" if kind == "videorectangle" else kind, f"{where}.value", list, required=False)
    if not names:
        reader.count("unlabelled")
        return None
    if len(names) > 1:
        reader.count("labels")
    class_name = names[0]
    if not isinstance(class_name, str) or not class_name.strip():
        raise reader.fail(f"{where}.value", f"class name {class_name!r} is not a text")
    fields = _fields(reader, item, where)
    shape = _TYPES[kind] or ShapeType.BOUNDING_BOX
    have = reader.classes.get(class_name)
    if have is not None and ShapeType.POINT in (have, shape) and have != shape:
        raise reader.fail(where, f"class {class_name!r} has keypoints and other regions (a class holds one shape)")
    if have != ShapeType.POLYGON:
        reader.classes[class_name] = shape
    return _Region(where, class_name, shape, {**fields, "video": kind == "videorectangle"}, value)


def _fields(reader: Reader, item: dict, where: str) -> dict:
    top = reader.top
    block = top.get(item, "framewise", where, dict, required=False)
    if block is None:
        return {"source": LabelSource.MANUAL, "score": 1.0, "confirmed": True, "review": False, "attributes": {}}
    where = f"{where}.framewise"
    fields: dict = {"object": check_id(top.get(block, "object", where, int), f"{top.source}: {where}.object", low=1)}
    if "name" in block:
        fields["name"] = top.get(block, "name", where, str)
    text = top.get(block, "source", where, str, required=False, default=LabelSource.MANUAL.value)
    try:
        fields["source"] = LabelSource(text)
    except ValueError:
        raise reader.fail(f"{where}.source", f"unknown source {text!r}") from None
    fields["score"] = top.number(block.get("score", 1.0), f"{where}.score")
    fields["confirmed"] = top.get(block, "confirmed", where, bool, required=False, default=True)
    fields["review"] = top.get(block, "review", where, bool, required=False, default=False)
    fields["attributes"] = top.text_map(block, "attributes", where)
    return fields


def _add_region(reader: Reader, task: Task, region: _Region, info: MediaInfo, frame_index: int) -> None:
    fields = dict(region.fields)
    object_id = fields.pop("object", None)
    if object_id is None:
        if reader.next_id > MAX_ID:
            raise reader.fail(region.where, "no object id left")
        object_id, reader.next_id = reader.next_id, reader.next_id + 1
    name = fields.pop("name", None)
    if name is not None:
        reader.names[(info.name, object_id)] = name
    video = fields.pop("video")
    if video:
        if frame_index >= 0:
            raise reader.fail(region.where, "a video rectangle on an image task")
        for frame, shape, keyframe in _video_boxes(reader, region, info):
            source = LabelSource.MANUAL if keyframe else LabelSource.INTERPOLATED
            label = Label(object_id, frame, region.class_name, shape, source, 1.0, keyframe, False, info.name, {})
            _put(reader, label, region.where)
        return
    if frame_index < 0:
        raise reader.fail(region.where, f"a {region.kind} region on a video task (Label Studio has video rectangles only)")
    shape = _image_shape(reader, region, info)
    key = (info.name, frame_index, object_id)
    have = reader.labels.get(key)
    if have is not None and isinstance(have.shape, Polygon) and isinstance(shape, Polygon):
        if have.class_name != region.class_name:
            raise reader.fail(region.where, f"object {object_id} has two classes on one image")
        reader.labels[key] = replace(have, shape=Polygon(have.shape.parts + shape.parts))
        return
    _put(reader, Label(object_id, frame_index, region.class_name, shape, media=info.name, **fields), region.where)


def _put(reader: Reader, label: Label, where: str) -> None:
    key = (label.media, label.frame_index, label.object_id)
    if key in reader.labels:
        raise reader.fail(where, f"object {label.object_id} has two labels on frame {label.frame_index}")
    if len(reader.labels) >= MAX_IMPORTED_LABELS:
        raise reader.fail(where, f"more than {MAX_IMPORTED_LABELS} labels")
    reader.labels[key] = label


def _number(reader: Reader, item: dict, key: str, where: str, default: float | None = None) -> float:
    if key not in item and default is not None:
        return default
    if key not in item:
        raise reader.fail(where, f"missing key {key!r}")
    return reader.top.number(item[key], f"{where}.{key}")


def _box(reader: Reader, values: tuple[float, ...], info: MediaInfo, where: str) -> Box:
    x, y, w, h, rotation = values
    if w <= 0 or h <= 0:
        raise reader.fail(where, f"empty box (width {w:g}%, height {h:g}%)")
    px, py, pw, ph = (_px(x, info.width), _px(y, info.height), _px(w, info.width), _px(h, info.height))
    if rotation % 360:
        reader.count("rotated")
        angle = math.radians(rotation)
        c, s = math.cos(angle), math.sin(angle)
        corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]]) @ np.array([[c, s], [-s, c]]) + [px, py]
        (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
        box = Box(float(x0), float(y0), float(x1), float(y1))
    else:
        box = Box(px, py, px + pw, py + ph)
    clipped = _clipped(reader, box, info, where)
    assert isinstance(clipped, Box)
    return clipped


def _px(percent: float, size: int) -> float:
    """Percent of ``size`` in pixels, to 1e-6 px (what the percent text can say)."""
    return round(percent * size / 100, 6) + 0.0


def _clipped(reader: Reader, shape: Shape, info: MediaInfo, where: str) -> Shape:
    clipped = clip_to_frame(shape, info.width, info.height)
    if clipped is None:
        raise reader.fail(where, f"the shape lies wholly outside its {info.width}x{info.height} frame")
    return clipped


def _image_shape(reader: Reader, region: _Region, info: MediaInfo) -> Shape:
    where, value = f"{region.where}.value", region.value
    if region.kind == ShapeType.POINT:
        x, y = (_px(_number(reader, value, k, where), size) for k, size in (("x", info.width), ("y", info.height)))
        return _clipped(reader, from_edges(x, y), info, where)
    if region.kind == ShapeType.BOUNDING_BOX:
        keys = ("x", "y", "width", "height")
        values = tuple(_number(reader, value, k, where) for k in keys) + (_number(reader, value, "rotation", where, 0.0),)
        box = _box(reader, values, info, where)
        assert isinstance(box, Box)
        return box
    points = reader.top.get(value, "points", where, list)
    ring = []
    for index, point in enumerate(points):
        if not isinstance(point, list) or len(point) != 2:
            raise reader.fail(f"{where}.points[{index}]", "expected [x, y]")
        x, y = (reader.top.number(v, f"{where}.points[{index}]") for v in point)
        ring.append((_px(x, info.width), _px(y, info.height)))
    if len(ring) < 3:
        raise reader.fail(f"{where}.points", f"polygon with {len(ring)} points (need at least 3)")
    return _clipped(reader, Polygon(((np.asarray(ring, np.float64),),)), info, where)


def _video_boxes(reader: Reader, region: _Region, info: MediaInfo):
    where = f"{region.where}.value"
    items = reader.top.get(region.value, "sequence", where, list)
    keys: dict[int, Keyframe] = {}
    for index, item in enumerate(items):
        at = f"{where}.sequence[{index}]"
        if not isinstance(item, dict):
            raise reader.fail(at, "expected an object")
        frame = reader.top.get(item, "frame", at, int)
        if not 1 <= frame <= info.frames:
            raise reader.fail(f"{at}.frame", f"{frame} is outside the video's frames 1..{info.frames}")
        if frame in keys:
            raise reader.fail(f"{at}.frame", f"keyframe {frame} twice")
        enabled = reader.top.get(item, "enabled", at, bool, required=False, default=True)
        x, y, w, h = (_number(reader, item, k, at) for k in ("x", "y", "width", "height"))
        keys[frame] = Keyframe(frame, enabled, x, y, w, h, _number(reader, item, "rotation", at, 0.0))
    sequence = [keys[frame] for frame in sorted(keys)]
    if shown_frames(sequence, info.frames) > MAX_IMPORTED_LABELS:
        raise reader.fail(where, f"the region shows on more than {MAX_IMPORTED_LABELS} frames")
    for box in expand(sequence, info.frames):
        yield box.frame - 1, _box(reader, box.values, info, f"{where}.sequence[frame={box.frame}]"), box.keyframe
