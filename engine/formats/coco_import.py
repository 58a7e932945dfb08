"""`import_coco`: a COCO instances file back to a `Dataset`.

Reads what `to_coco` writes exactly (ontology from ``categories``' extra fields, media from
``videos`` / image ``video`` + ``frame_index``, objects from ``track_id``, label fields),
and plain COCO files too:
- images without ``video`` are grouped by the folder of their ``file_name``: one image-folder
  media per folder (naturally sorted), named by that folder under the COCO file's folder;
  a folder whose images differ in size becomes one single-image media per image;
- categories without ``shape`` are ``polygon`` when any of their annotations has a
  segmentation, else ``bounding_box``; missing colours and hotkeys get the defaults;
- annotations without ``track_id`` become one object each.
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
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from engine.errors import OntologyError, SessionFormatError
from engine.formats.dataset import Dataset
from engine.formats.inputs import (
    MAX_IMPORT_BYTES,
    JsonFields,
    check_frame_size,
    check_frames,
    check_id,
    content_key,
    inside,
    media_name,
    read_capped,
    safe_relative,
)
from engine.formats.rle import RLEError, rle_to_mask
from engine.formats.shapes import clip_to_frame
from engine.geometry import mask_to_polygon
from engine.limits import MAX_FRAMES, MAX_ID
from engine.media.images import natural_sort_key
from engine.ontology import Ontology
from engine.types import Box, Label, LabelSource, MediaInfo, Polygon, ShapeType


def import_coco(path: str | Path, *, max_bytes: int = MAX_IMPORT_BYTES) -> Dataset:
    """Read a COCO JSON file (at most ``max_bytes``) as a `Dataset`."""
    path = Path(path)
    raw = read_capped(path, max_bytes)
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON, or an integer of over 4300 digits
        raise SessionFormatError(f"{path}: not a UTF-8 JSON file ({exc})") from exc
    except RecursionError as exc:
        raise SessionFormatError(f"{path}: JSON nested too deeply") from exc
    dataset = from_coco(data, source=str(path), root=path.parent)
    dataset.source_key = content_key(raw)
    return dataset




@dataclass
class _Image:
    image_id: int
    file_name: PurePosixPath
    width: int
    height: int
    video: str | None
    frame_index: int | None

    @property
    def video_frame(self) -> int:
        """The frame index of a video's image (`_image` requires one when ``video`` is set)."""
        assert self.frame_index is not None, f"image {self.image_id} of a video without frame_index"
        return self.frame_index


def from_coco(data: object, *, source: str = "coco", root: Path | None = None) -> Dataset:
    """A `Dataset` from a parsed COCO dictionary; ``root`` is the folder file names live in."""
    top = JsonFields(source)
    if not isinstance(data, dict):
        raise SessionFormatError(f"{source}: expected a JSON object at the top level")
    categories = top.list_of(data, "categories")
    image_items = top.list_of(data, "images")
    annotation_items = top.list_of(data, "annotations")
    images = [_read_image(top, item, f"images[{i}]") for i, item in enumerate(image_items)]
    by_id: dict[int, _Image] = {}
    for index, image in enumerate(images):
        if image.image_id in by_id:
            raise SessionFormatError(f"{source}: images[{index}].id: duplicate id {image.image_id}")
        by_id[image.image_id] = image
    category_by_id, category_items = _read_categories(top, categories)
    media, place = _media(top, data, images, root)
    annotations = [
        _read_annotation(top, item, f"annotations[{i}]", by_id, category_by_id)
        for i, item in enumerate(annotation_items)
    ]
    ontology = _ontology(top, category_items, annotations)
    labels: list[Label] = []
    seen: dict[tuple[str, int, int], str] = {}
    next_id = max([a.track_id or 0 for a in annotations] + [0]) + 1
    for ann in annotations:
        media_name, frame_index = place[ann.image_id]
        class_name = category_by_id[ann.category_id]["name"]
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
        shape = clip_to_frame(_shape(top, ann, ontology[class_name].shape, image), image.width, image.height)
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
    names = _object_names(top, data)
    media_names = {info.name for info in media}
    for media_name, object_id in names:
        if media_name not in media_names:
            raise top.fail("objects", f"object {object_id} names unknown media {media_name!r}")
    return Dataset(ontology, media, labels, names)


def _read_image(top: JsonFields, item: object, where: str) -> _Image:
    if not isinstance(item, dict):
        raise top.fail(where, "expected an object")
    image_id = top.get(item, "id", where, int)
    file_name = safe_relative(top.get(item, "file_name", where, str), where=f"{top.source}: {where}.file_name")
    width = top.get(item, "width", where, int)
    height = top.get(item, "height", where, int)
    if width <= 0 or height <= 0:
        raise top.fail(f"{where}.width", f"image size {width}x{height} must be positive")
    check_frame_size(width, height, f"{top.source}: {where}.width")
    video = top.get(item, "video", where, str, required=False)
    frame_index = top.get(item, "frame_index", where, int, required=video is not None)
    if frame_index is not None:
        check_id(frame_index, f"{top.source}: {where}.frame_index", high=MAX_FRAMES - 1)
    if video is not None:
        video = media_name(video, where=f"{top.source}: {where}.video")
    return _Image(image_id, file_name, width, height, video, frame_index)


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


def _read_annotation(
    top: JsonFields, item: object, where: str, images: dict[int, _Image], categories: dict[int, dict]
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
    attributes = top.text_map(item, "attributes", where)
    return _Annotation(
        where, image_id, category_id, segmentation, bbox, track_id, score, source, confirmed, review, attributes
    )


def _ontology(top: JsonFields, items: list[dict], annotations: list[_Annotation]) -> Ontology:
    segmented = {a.category_id for a in annotations if a.segmentation}
    entries = []
    for item in items:
        entry = {"name": item["name"]}
        entry["shape"] = item.get("shape") or (ShapeType.POLYGON if item["id"] in segmented else ShapeType.BOUNDING_BOX)
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


def _media(
    top: JsonFields, data: dict, images: list[_Image], root: Path | None
) -> tuple[list[MediaInfo], dict[int, tuple[str, int]]]:
    """The media and each image id's (media name, frame index)."""
    declared: dict[str, dict] = {}
    if "videos" in data:
        for index, item in enumerate(top.list_of(data, "videos")):
            where = f"videos[{index}]"
            if not isinstance(item, dict):
                raise top.fail(where, "expected an object")
            name = media_name(top.get(item, "name", where, str), where=f"{top.source}: {where}.name")
            for key in ("width", "height", "frames"):
                if top.get(item, key, where, int) <= 0:
                    raise top.fail(f"{where}.{key}", "must be positive")
            check_frame_size(item["width"], item["height"], f"{top.source}: {where}.width")
            check_frames(item["frames"], f"{top.source}: {where}.frames")
            top.number(item.get("fps", 0.0), f"{where}.fps")
            top.get(item, "fingerprint", where, str, required=False)
            declared[name] = item
    groups: dict[str, list[_Image]] = {}
    for image in images:
        if image.video is not None:
            groups.setdefault(image.video, []).append(image)
    media: list[MediaInfo] = []
    place: dict[int, tuple[str, int]] = {}
    for name, group in groups.items():
        info = _video_media(top, name, group, declared.get(name))
        media.append(info)
        place.update({image.image_id: (name, image.video_frame) for image in group})
    loose = [image for image in images if image.video is None]
    for info, frames in _folder_media(top, loose, root):
        media.append(info)
        place.update({image.image_id: (info.name, k) for k, image in enumerate(frames)})
    order = {name: index for index, name in enumerate(declared)}
    media.sort(key=lambda info: order.get(info.name, len(order)))
    return media, place


def _video_media(top: JsonFields, name: str, group: list[_Image], declared: dict | None) -> MediaInfo:
    width, height = group[0].width, group[0].height
    frames_seen: dict[int, _Image] = {}
    for image in group:
        if (image.width, image.height) != (width, height):
            raise top.fail(f"image {image.image_id}", f"size differs from the other frames of {name!r}")
        if image.video_frame in frames_seen:
            raise top.fail(f"image {image.image_id}.frame_index", f"frame {image.frame_index} of {name!r} twice")
        frames_seen[image.video_frame] = image
    frames = max(frames_seen) + 1
    fps, fingerprint = 0.0, ""
    if declared is not None:
        if (declared["width"], declared["height"]) != (width, height):
            raise top.fail(f"videos[{name!r}]", "size differs from its images")
        if declared["frames"] < frames:
            raise top.fail(f"videos[{name!r}].frames", f"{declared['frames']} but an image has frame {frames - 1}")
        frames = declared["frames"]
        fps = float(declared.get("fps", 0.0))
        fingerprint = declared.get("fingerprint", "")
    if frames > MAX_FRAMES:  # the lists below are one entry per frame
        raise top.fail(f"videos[{name!r}].frames", f"{frames} frames is over the limit of {MAX_FRAMES}")
    frame_names: tuple[str, ...] = ()
    if all(k in frames_seen for k in range(frames)):
        basenames = [frames_seen[k].file_name.name for k in range(frames)]
        if basenames != [f"{k:06d}.jpg" for k in range(frames)]:
            frame_names = tuple(basenames)
    return MediaInfo(name, fingerprint, width, height, frames, fps, (), frame_names)


def _folder_media(top: JsonFields, images: list[_Image], root: Path | None):
    """Plain COCO images as image-folder media (one per folder, or per image on mixed sizes)."""
    folders: dict[PurePosixPath, list[_Image]] = {}
    for image in images:
        folders.setdefault(image.file_name.parent, []).append(image)
    for folder, group in folders.items():
        group.sort(key=lambda image: natural_sort_key(image.file_name.name))
        where = f"images[file_name={group[0].file_name}]"
        folder_name = _path_name(top, root, folder, where)
        if len({(i.width, i.height) for i in group}) == 1 and len({i.file_name for i in group}) == len(group):
            first = group[0]
            names = tuple(image.file_name.name for image in group)
            yield MediaInfo(folder_name, "", first.width, first.height, len(group), 0.0, (), names), group
        else:
            for image in group:
                name = _path_name(top, root, image.file_name, f"images[{image.image_id}]")
                yield MediaInfo(name, "", image.width, image.height, 1, 0.0, (), (image.file_name.name,)), [image]


def _path_name(top: JsonFields, root: Path | None, relative: PurePosixPath, where: str) -> str:
    if root is None:
        return relative.as_posix()
    return inside(root, relative, where=f"{top.source}: {where}").as_posix()


def _shape(top: JsonFields, ann: _Annotation, class_shape: ShapeType, image: _Image) -> Box | Polygon:
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
