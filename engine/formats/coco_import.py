"""`import_coco`: a COCO instances file back to a `Dataset`.

Reads what `to_coco` writes exactly (ontology from ``categories``' extra fields, media from
``videos`` / image ``video`` + ``frame_index``, objects from ``track_id``, label fields),
and plain COCO files too:
- images without ``video`` are grouped by the folder of their ``file_name`` (`coco_media`):
  one image-folder media per folder, named by that folder's resolved path under the image
  root: the file's folder, or ``images/<subset>/`` for Datumaro's layout
  (``annotations/instances_<subset>.json``);
- categories without ``shape`` are ``polygon`` when any of their annotations has a
  segmentation other than the four corners of its ``bbox`` (how CVAT writes a box), else
  ``bounding_box``; missing colours and hotkeys get the defaults; a category without
  annotations whose name is another's ``supercategory`` (Roboflow's dataset-named id 0)
  is not a class;
- annotations without ``track_id`` take ``attributes.track_id`` (CVAT; ids shifted by one
  when they start at 0), else become one object each;
- typed attribute values, foreign category ids and ``iscrowd`` are kept as `coco_fields` says;
- a category with one keypoint is a ``point`` class, its annotations' ``keypoints`` its
  points (`coco_points`; unlabelled ones, ``v`` = 0, left out with a `FormatWarning`).
Shapes: polygon lists -> one part per list (holes cannot be expressed that way); RLE ->
the exact traced outline of its mask (`mask_to_polygon` with tolerance 0); for
``bounding_box`` classes, and annotations without segmentation, the ``bbox``. Coordinates
are clamped into their image (`clip_to_frame`); a shape wholly outside it is refused.
Every malformed field raises `SessionFormatError` naming the file and the field; every
number and text must also fit the project (`engine.formats.inputs`: ids within 64 bits,
frames and frame sizes within `engine.limits`, text encodable as UTF-8).
"""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import FormatWarning, OntologyError, SessionFormatError
from engine.formats.coco_fields import CATEGORY_KEY, CROWD_KEY, TRACK_KEY, attribute_text
from engine.formats.coco_media import CocoImage, read_image
from engine.formats.coco_media import media as read_media
from engine.formats.coco_points import read_point, single_keypoint
from engine.formats.dataset import Dataset
from engine.formats.inputs import MAX_IMPORT_BYTES, JsonFields, check_id, check_text, content_key, read_capped
from engine.formats.rle import RLEError, rle_to_mask
from engine.formats.shapes import clip_to_frame
from engine.geometry import mask_to_polygon
from engine.limits import MAX_ID
from engine.ontology import Ontology
from engine.types import Box, Label, LabelSource, Polygon, ShapeType

_DATUMARO_FILE = re.compile(r"instances_(.+)\.json")


def import_coco(path: str | Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> Dataset:
    """Read a COCO JSON file (at most ``max_bytes``) as a `Dataset`; a folder in the
    Datumaro layout (an export's ``--out``) is read through its one
    ``annotations/instances_<subset>.json``."""
    path = Path(path)
    if path.is_dir():
        path = _annotation_file(path)
    raw = read_capped(path, max_bytes)
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON, or an integer of over 4300 digits
        raise SessionFormatError(f"{path}: not a UTF-8 JSON file ({exc})") from exc
    except RecursionError as exc:
        raise SessionFormatError(f"{path}: JSON nested too deeply") from exc
    dataset = from_coco(data, source=str(path), root=image_root(path))
    dataset.source_key = content_key(raw)
    return dataset


def _annotation_file(folder: Path) -> Path:
    found = sorted(p for p in (folder / "annotations").glob("instances_*.json") if _DATUMARO_FILE.fullmatch(p.name))
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        raise SessionFormatError(
            f"{folder}: a folder, with {what} annotations/instances_<subset>.json; give the COCO .json file itself"
        )
    return found[0]


def image_root(path: Path) -> Path:
    """The folder the images' ``file_name`` are relative to: ``images/<subset>`` beside the
    ``annotations`` folder of a Datumaro-layout file (``annotations/instances_<subset>.json``)
    when that folder exists, else the file's own folder."""
    match = _DATUMARO_FILE.fullmatch(path.name)
    if match and path.parent.name == "annotations":
        images = path.parent.parent / "images" / match.group(1)
        if images.is_dir() and not images.is_symlink():
            return images
    return path.parent


def from_coco(data: object, *, source: str = "coco", root: Path | None = None) -> Dataset:
    """A `Dataset` from a parsed COCO dictionary; ``root`` is the folder file names live in."""
    top = JsonFields(source)
    if not isinstance(data, dict):
        raise SessionFormatError(f"{source}: expected a JSON object at the top level")
    categories = top.list_of(data, "categories")
    image_items = top.list_of(data, "images")
    annotation_items = top.list_of(data, "annotations")
    images = [read_image(top, item, f"images[{i}]") for i, item in enumerate(image_items)]
    by_id: dict[int, CocoImage] = {}
    for index, image in enumerate(images):
        if image.image_id in by_id:
            raise SessionFormatError(f"{source}: images[{index}].id: duplicate id {image.image_id}")
        by_id[image.image_id] = image
    category_by_id, category_items = _read_categories(top, categories)
    media, place = read_media(top, data, images, root)
    annotations = [
        _read_annotation(top, item, f"annotations[{i}]", by_id, category_by_id)
        for i, item in enumerate(annotation_items)
    ]
    _tracks_from_attributes(top, annotations)
    ontology = _ontology(top, category_items, annotations)
    positions = {name: index for index, name in enumerate(ontology.names, start=1)}
    labels: list[Label] = []
    seen: dict[tuple[str, int, int], str] = {}
    next_id = max([a.track_id or 0 for a in annotations] + [0]) + 1
    unlabelled = 0
    for ann in annotations:
        media_name, frame_index = place[ann.image_id]
        class_name = category_by_id[ann.category_id]["name"]
        point = None
        if ontology[class_name].shape == ShapeType.POINT:
            point = read_point(top, ann.keypoints, ann.where, ann.attributes)
            if point is None:
                unlabelled += 1
                continue
        if positions[class_name] != ann.category_id:  # a foreign id: kept for the export
            ann.attributes[CATEGORY_KEY] = str(ann.category_id)
        if ann.track_id is None:
            if next_id > MAX_ID:
                raise top.fail(f"{ann.where}.track_id", f"missing, and no object id is left above the others (max {MAX_ID})")
            object_id, next_id = next_id, next_id + 1
        else:
            object_id = ann.track_id
        key = (media_name, frame_index, object_id)
        if key in seen:
            raise SessionFormatError(
                f"{source}: {ann.where}.track_id: object {object_id} already has a label on that image ({seen[key]})"
            )
        seen[key] = ann.where
        image = by_id[ann.image_id]
        shape = clip_to_frame(point or _shape(top, ann, ontology[class_name].shape, image), image.width, image.height)
        if shape is None:
            raise top.fail(ann.where, f"the shape lies wholly outside its {image.width}x{image.height} image")
        labels.append(
            Label(
                object_id=object_id,
                frame_index=frame_index,
                class_name=class_name,
                shape=shape,
                source=ann.source,
                score=ann.score,
                confirmed=ann.confirmed,
                review=ann.review,
                media=media_name,
                attributes=ann.attributes,
            )
        )
    if unlabelled:
        warnings.warn(f"{source}: {unlabelled} unlabelled keypoints (v=0) left out", FormatWarning, stacklevel=2)
    names = _object_names(top, data)
    media_names = {info.name for info in media}
    for media_name, object_id in names:
        if media_name not in media_names:
            raise top.fail("objects", f"object {object_id} names unknown media {media_name!r}")
    return Dataset(ontology, media, labels, names)


def _read_categories(top: JsonFields, items: list) -> tuple[dict[int, dict], list[dict]]:
    by_id: dict[int, dict] = {}
    for index, item in enumerate(items):
        where = f"categories[{index}]"
        if not isinstance(item, dict):
            raise top.fail(where, "expected an object")
        category_id = top.get(item, "id", where, int)
        top.get(item, "name", where, str)
        for key in ("shape", "color", "colour"):
            top.get(item, key, where, str, required=False)
        if item.get("hotkey") is not None:
            top.get(item, "hotkey", where, str)
        if category_id in by_id:
            raise top.fail(f"{where}.id", f"duplicate category id {category_id}")
        by_id[category_id] = item
    return by_id, list(items)


@dataclass
class _Annotation:
    where: str
    image_id: int
    category_id: int
    segmentation: list | dict
    bbox: list | None
    track_id: int | None
    score: float
    source: LabelSource
    confirmed: bool
    review: bool
    attributes: dict[str, str]
    attribute_track: int | None = None
    keypoints: object = None


def _read_annotation(
    top: JsonFields, item: object, where: str, images: dict[int, CocoImage], categories: dict[int, dict]
) -> _Annotation:
    if not isinstance(item, dict):
        raise top.fail(where, "expected an object")
    image_id = top.get(item, "image_id", where, int)
    if image_id not in images:
        raise top.fail(f"{where}.image_id", f"unknown image id {image_id}")
    category_id = top.get(item, "category_id", where, int)
    if category_id not in categories:
        raise top.fail(f"{where}.category_id", f"unknown category id {category_id}")
    segmentation = top.get(item, "segmentation", where, (list, dict), required=False, default=[])
    bbox = top.get(item, "bbox", where, list, required=False)
    track_id = top.get(item, "track_id", where, int, required=False)
    if track_id is not None and track_id < 1:
        raise top.fail(f"{where}.track_id", f"object ids start at 1, got {track_id}")
    if track_id is not None:
        check_id(track_id, f"{top.source}: {where}.track_id", low=1)
    score = top.number(item.get("score", 1.0), f"{where}.score")
    text = top.get(item, "source", where, str, required=False, default=LabelSource.MANUAL.value)
    try:
        source = LabelSource(text)
    except ValueError:
        raise top.fail(f"{where}.source", f"unknown source {text!r}; known: {', '.join(LabelSource)}") from None
    confirmed = top.get(item, "confirmed", where, bool, required=False, default=True)
    review = top.get(item, "review", where, bool, required=False, default=False)
    attributes, attribute_track = _attributes(top, item, where)
    iscrowd = top.get(item, "iscrowd", where, (int, bool), required=False, default=0)
    if iscrowd not in (0, 1):
        raise top.fail(f"{where}.iscrowd", f"expected 0 or 1, got {iscrowd}")
    if iscrowd:
        attributes[CROWD_KEY] = "1"
    return _Annotation(
        where, image_id, category_id, segmentation, bbox, track_id, score, source, confirmed, review, attributes,
        attribute_track, item.get("keypoints"),
    )


def _attributes(top: JsonFields, item: dict, where: str) -> tuple[dict[str, str], int | None]:
    """The annotation's attributes as text (`coco_fields.attribute_text`) and its
    ``attributes.track_id``, which is not kept as an attribute."""
    values = top.get(item, "attributes", where, dict, required=False, default={})
    out: dict[str, str] = {}
    track = None
    for name, value in values.items():
        check_text(name, f"{top.source}: {where}.attributes")
        field = f"{where}.attributes.{name}"
        if name == TRACK_KEY:  # the object id, not an attribute (null: none)
            if value is not None:
                track = top.get(values, name, f"{where}.attributes", int)
                check_id(track, f"{top.source}: {field}")
            continue
        text = attribute_text(value)
        if text is None:
            raise top.fail(field, f"expected a string, true/false or a finite number, got {type(value).__name__}")
        out[name] = check_text(text, f"{top.source}: {field}")
    return out, track


def _tracks_from_attributes(top: JsonFields, annotations: list[_Annotation]) -> None:
    """``attributes.track_id`` as the object id of annotations without ``track_id``; CVAT's
    track ids start at 0, ours at 1, so they are all shifted by one when one is 0."""
    found = [a.attribute_track for a in annotations if a.track_id is None and a.attribute_track is not None]
    shift = 1 if found and min(found) == 0 else 0
    for ann in annotations:
        if ann.track_id is None and ann.attribute_track is not None:
            if ann.attribute_track + shift > MAX_ID:
                raise top.fail(f"{ann.where}.attributes.track_id", f"over the largest object id {MAX_ID}")
            ann.track_id = ann.attribute_track + shift


def _ontology(top: JsonFields, items: list[dict], annotations: list[_Annotation]) -> Ontology:
    segmented = {a.category_id for a in annotations if a.segmentation and not _box_corners(a)}
    used = {a.category_id for a in annotations}
    supercategories = {item.get("supercategory") for item in items if isinstance(item.get("supercategory"), str)}
    placeholders = [
        item for item in items if item["id"] not in used and "shape" not in item and item["name"] in supercategories
    ]
    entries = []
    for item in items:
        if len(placeholders) < len(items) and any(item is p for p in placeholders):
            continue  # Roboflow's category named after the dataset: a supercategory, not a class
        entry = {"name": item["name"]}
        guess = ShapeType.POLYGON if item["id"] in segmented else ShapeType.BOUNDING_BOX
        entry["shape"] = item.get("shape") or (ShapeType.POINT if single_keypoint(item) else guess)
        colour = item.get("color", item.get("colour"))
        if colour is not None:
            entry["colour"] = colour
        if "hotkey" in item:
            entry["hotkey"] = item["hotkey"]
        entries.append(entry)
    try:
        return Ontology.from_json(entries, source=f"{top.source}: categories")
    except OntologyError as exc:
        message = str(exc) if str(exc).startswith(top.source) else f"{top.source}: categories: {exc}"
        raise SessionFormatError(message) from exc


def _box_corners(ann: _Annotation) -> bool:
    """True when the segmentation is one polygon of the four corners of ``bbox`` (a box)."""
    seg, bbox = ann.segmentation, ann.bbox
    if not (isinstance(seg, list) and len(seg) == 1 and isinstance(seg[0], list) and len(seg[0]) == 8):
        return False
    if not (isinstance(bbox, list) and len(bbox) == 4):
        return False
    values = seg[0] + bbox
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return False
    xs, ys = seg[0][0::2], seg[0][1::2]
    if len(set(xs)) != 2 or len(set(ys)) != 2 or len(set(zip(xs, ys))) != 4:
        return False
    if any(xs[k] != xs[(k + 1) % 4] and ys[k] != ys[(k + 1) % 4] for k in range(4)):
        return False  # a diagonal edge: not a rectangle's outline
    x, y, w, h = bbox
    return all(abs(a - b) <= 0.01 for a, b in ((min(xs), x), (min(ys), y), (max(xs) - min(xs), w), (max(ys) - min(ys), h)))


def _shape(top: JsonFields, ann: _Annotation, class_shape: ShapeType, image: CocoImage) -> Box | Polygon:
    segmentation = ann.segmentation
    if class_shape == ShapeType.BOUNDING_BOX or not segmentation:
        return _bbox(top, ann)
    where = f"{ann.where}.segmentation"
    if isinstance(segmentation, dict):
        size = segmentation.get("size")
        if isinstance(size, list) and len(size) == 2 and size != [image.height, image.width]:  # before allocating
            raise top.fail(f"{where}.size", f"{str(size)[:80]} is not the image's [{image.height}, {image.width}]")
        try:
            mask = rle_to_mask(segmentation)
        except RLEError as exc:
            raise top.fail(ann.where, str(exc)) from exc
        if mask.shape != (image.height, image.width):
            raise top.fail(f"{where}.size", f"{list(mask.shape)} is not the image's [{image.height}, {image.width}]")
        return mask_to_polygon(mask, tolerance=0, min_area=0)
    parts = []
    for index, flat in enumerate(segmentation):
        if not isinstance(flat, list) or len(flat) % 2:
            raise top.fail(f"{where}[{index}]", "expected a flat list [x1, y1, x2, y2, ...]")
        if len(flat) < 6:
            raise top.fail(f"{where}[{index}]", f"polygon with {len(flat) // 2} points (need at least 3)")
        values = [top.number(v, f"{where}[{index}]") for v in flat]
        parts.append((np.asarray(values, np.float64).reshape(-1, 2),))
    return Polygon(tuple(parts))


def _bbox(top: JsonFields, ann: _Annotation) -> Box:
    where = f"{ann.where}.bbox"
    if ann.bbox is None:
        raise top.fail(ann.where, "missing key 'bbox' (and no segmentation)")
    if len(ann.bbox) != 4:
        raise top.fail(where, f"expected [x, y, w, h], got {len(ann.bbox)} values")
    x, y, w, h = (top.number(v, where) for v in ann.bbox)
    if w <= 0 or h <= 0:
        raise top.fail(where, f"empty box (w={w:g}, h={h:g})")
    return Box(x, y, round(x + w, 6) + 0.0, round(y + h, 6) + 0.0)


def _object_names(top: JsonFields, data: dict) -> dict[tuple[str, int], str]:
    names: dict[tuple[str, int], str] = {}
    if "objects" not in data:
        return names
    for index, item in enumerate(top.list_of(data, "objects")):
        where = f"objects[{index}]"
        if not isinstance(item, dict):
            raise top.fail(where, "expected an object")
        key = (top.get(item, "video", where, str), top.get(item, "id", where, int))
        names[key] = top.get(item, "name", where, str)
    return names
