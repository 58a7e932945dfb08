"""`to_coco`: a `Dataset` as a COCO instances dictionary (pure), and `coco_json_chunks`, the
same as compact JSON text in pieces (`writers.write_coco` streams them to the file, so
memory follows the labels, not the frame count).

Layout:
- ``images``: ids from 1 in (media, frame) order; for a video, one per frame that holds an
  exported label (a partly labelled 10-hour video does not list a million unlabelled
  frames: its ``videos`` entry keeps the frame count); for an image folder, one per image
  of the folder, labelled or not (the images exist, and COCO reads an image without
  annotations as a negative). ``file_name`` is ``<media stem>/<frame:06d>.jpg`` for videos
  and ``<media stem>/<real file name>`` for image folders (the frames themselves are not
  written; `engine.formats.media_frames` writes them on request, under
  ``images/<subset>/``); extra fields ``video`` (the media name, or its last component
  when the name is an absolute local path: `coco_fields.portable_names`) and ``frame_index``.
- ``videos`` (extra): per media name, width, height, frames, fps, fingerprint, so an
  import restores the media exactly (per-frame timestamps are not carried).
- ``categories``: the ontology in order, ids from 1 (or the ids a foreign file gave:
  `coco_fields.category_ids`), with extra ``shape``, ``color`` and ``hotkey`` so an
  import restores the ontology.
- ``annotations``: one per label, ids from 1 in (media, frame, object) order.
  Polygons without holes: ``segmentation`` is one flat ``[x1, y1, x2, y2, …]`` list per
  part (pixel-edge coordinates, rounded to 0.01 px), ``bbox`` the exterior vertices' box.
  Polygons with holes: uncompressed RLE (column-major counts) of the rasterised mask,
  ``bbox`` the mask's box. ``area`` is always the rasterised pixel count (pixel-centre
  sampling, see `engine.geometry`), never the box. Boxes: ``segmentation`` the box's four
  corners as one polygon (as CVAT writes them: pycocotools' ``annToMask`` and ``segm``
  evaluation need a segmentation; the category's ``shape`` keeps it a box on import),
  ``bbox`` the box, ``area`` w×h. ``iscrowd`` is 0 (pycocotools reads RLE with iscrowd 0)
  unless an imported label kept 1. Extra: ``track_id`` (the object id), ``score``,
  ``source``, ``confirmed``, ``review``, ``attributes`` (the label's own attributes, typed
  as `coco_fields.attribute_value` says, and ``track_id`` again, where CVAT puts it).
  Point labels: person-keypoints style annotations (``keypoints: [x, y, v]``,
  ``num_keypoints`` 1; their category carries ``keypoints: [<class name>]`` and
  ``skeleton: []``): `engine.formats.coco_points`.
- ``objects`` (extra): ``[{"video", "id", "name"}]`` for named objects.
Labels with an empty shape (no polygon parts, a box without area) are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from engine.formats.coco_fields import category_ids, crowd, exported_attributes, portable_names
from engine.formats.coco_points import category_fields, point_geometry
from engine.formats.dataset import Dataset, frame_file_name
from engine.formats.points import exported
from engine.formats.rle import mask_to_rle, rle_area
from engine.formats.shapes import full_mask, has_holes, outer_bounds, quantise, raster_crop, region_of, rounded
from engine.geometry import mask_to_box
from engine.types import Box, Label, MediaInfo, Point, Polygon, ShapeType

FORMAT_INFO = {"description": "framewise export", "version": "1.0"}


@dataclass
class CocoParts:
    """A COCO file in the order it is written; images and annotations are made on demand.

    head: ``info``, ``licenses``, ``categories`` and ``videos``.
    frames: (media, frame index) of each image, in image id order (id = position + 1).
    labels: the labels with a shape, in annotation order.
    objects: the ``objects`` entries, or None when no object is named.
    """

    dataset: Dataset
    head: dict
    category_ids: dict[str, int]
    frames: list[tuple[MediaInfo, int]]
    labels: list[Label]
    objects: list[dict] | None
    names: dict[str, str]

    def images(self) -> Iterator[dict]:
        stems = self.dataset.stems()
        for position, (info, frame_index) in enumerate(self.frames):
            yield {
                "id": position + 1,
                "file_name": frame_file_name(info, frame_index, stems[info.name]),
                "width": info.width,
                "height": info.height,
                "video": self.names[info.name],
                "frame_index": frame_index,
            }

    def annotations(self) -> Iterator[dict]:
        image_ids = {(info.name, frame_index): k + 1 for k, (info, frame_index) in enumerate(self.frames)}
        media = {info.name: info for info in self.dataset.media}
        for position, label in enumerate(self.labels):
            annotation = {
                "id": position + 1,
                "image_id": image_ids[(label.media, label.frame_index)],
                "category_id": self.category_ids[label.class_name],
            }
            shape = quantise(label.shape)
            if isinstance(shape, Point):
                annotation.update(point_geometry(shape, label.attributes, crowd(label.attributes)))
            else:
                annotation.update(_geometry(region_of(shape), media[label.media], crowd(label.attributes)))
            annotation.update(_label_fields(label))
            yield annotation


def coco_parts(dataset: Dataset) -> CocoParts:
    """The parts of the COCO file of ``dataset`` (raises `ExportError` when it is inconsistent)."""
    dataset.check()
    categories = []
    ids = category_ids(dataset)
    for entry in dataset.ontology:
        category = {
            "id": ids[entry.name],
            "name": entry.name,
            "supercategory": "",
            "shape": str(entry.shape),
            "color": entry.colour,
            "hotkey": entry.hotkey,
        }
        if entry.shape == ShapeType.POINT:
            category.update(category_fields(entry.name))
        categories.append(category)
    names = portable_names(dataset)
    videos = [
        {
            "name": names[info.name],
            "width": info.width,
            "height": info.height,
            "frames": info.frames,
            "fps": info.fps,
            "fingerprint": info.fingerprint,
        }
        for info in dataset.media
    ]
    labels = [label for label in dataset.sorted_labels() if exported(label.shape)]
    labelled: dict[str, set[int]] = {}
    for label in labels:
        labelled.setdefault(label.media, set()).add(label.frame_index)
    frames = []
    for info in dataset.media:
        indexes = labelled.get(info.name, set())
        named = min(len(info.frame_names), info.frames)  # an image folder: every image
        frames += [(info, k) for k in sorted(indexes.union(range(named)) if named else indexes)]
    objects = None
    if dataset.object_names:
        order = {info.name: index for index, info in enumerate(dataset.media)}
        named_objects = sorted(
            dataset.object_names.items(), key=lambda item: (order.get(item[0][0], len(order)), item[0][1])
        )
        objects = [
            {"video": names.get(media, media), "id": object_id, "name": name}
            for (media, object_id), name in named_objects
        ]
    head = {"info": dict(FORMAT_INFO), "licenses": [], "categories": categories, "videos": videos}
    return CocoParts(dataset, head, ids, frames, labels, objects, names)


def to_coco(dataset: Dataset) -> dict:
    """The COCO dictionary of ``dataset`` (raises `ExportError` when it is inconsistent)."""
    parts = coco_parts(dataset)
    result = {**parts.head, "images": list(parts.images()), "annotations": list(parts.annotations())}
    if parts.objects is not None:
        result["objects"] = parts.objects
    return result


def coco_json_chunks(dataset: Dataset) -> Iterator[str]:
    """The compact JSON text of `to_coco` (same characters, ending in a newline), in pieces:
    one image or annotation at a time, so the whole file never sits in memory. An
    inconsistent dataset is refused by this call, before the first piece."""
    return _chunks(coco_parts(dataset))


def _chunks(parts: CocoParts) -> Iterator[str]:
    yield _dump(parts.head)[:-1]  # (without its closing brace)
    for key, items in (("images", parts.images()), ("annotations", parts.annotations())):
        yield f',"{key}":['
        for position, item in enumerate(items):
            yield ("," if position else "") + _dump(item)
        yield "]"
    if parts.objects is not None:
        yield ',"objects":' + _dump(parts.objects)
    yield "}\n"


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _geometry(shape: Box | Polygon, info: MediaInfo, iscrowd: int = 0) -> dict:
    """segmentation, area, bbox and iscrowd of one rounded shape."""
    if isinstance(shape, Box):
        w, h = rounded(shape.x1 - shape.x0), rounded(shape.y1 - shape.y0)
        x0, y0, x1, y1 = shape.x0, shape.y0, shape.x1, shape.y1
        return {
            "segmentation": [[x0, y0, x1, y0, x1, y1, x0, y1]],
            "area": round(w * h, 4) + 0.0,
            "bbox": [x0, y0, w, h],
            "iscrowd": iscrowd,
        }
    if has_holes(shape):
        mask = full_mask(shape, info.height, info.width)
        rle = mask_to_rle(mask)
        box = mask_to_box(mask) or Box(0.0, 0.0, 0.0, 0.0)
        bbox = [box.x0, box.y0, box.x1 - box.x0, box.y1 - box.y0]
        return {"segmentation": rle, "area": float(rle_area(rle)), "bbox": bbox, "iscrowd": iscrowd}
    crop, _, _ = raster_crop(shape, info.height, info.width)
    bounds = outer_bounds(shape)
    return {
        "segmentation": [[float(v) for v in part[0].reshape(-1)] for part in shape.parts],
        "area": float(crop.sum()),
        "bbox": [bounds.x0, bounds.y0, rounded(bounds.x1 - bounds.x0), rounded(bounds.y1 - bounds.y0)],
        "iscrowd": iscrowd,
    }


def _label_fields(label: Label) -> dict:
    return {
        "track_id": label.object_id,
        "score": float(label.score),
        "source": str(label.source),
        "confirmed": bool(label.confirmed),
        "review": bool(label.review),
        "attributes": exported_attributes(label.attributes, label.object_id),
    }
