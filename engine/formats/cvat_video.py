"""`to_cvat_video`: one media of a `Dataset` as CVAT for video 1.1 XML (pure; returns text).

- ``<meta><task>``: name and ``source`` = the media name, ``size`` = frames,
  ``mode`` interpolation, ``original_size``; ``labels`` = the whole ontology (name,
  colour, type: ``bbox`` for bounding_box classes, else CVAT's name of the shape) with the
  attributes below declared. No ``dumped`` date, so equal data gives equal files.
- One ``<track>`` per object (``id`` = object id − 1, as CVAT counts from 0), its class as
  ``label``. A track holds one shape kind and one class; an object that mixes them raises
  `ExportError`.
- Every label is a ``keyframe="1"`` element (``<box xtl ytl xbr ybr>`` or ``<polygon
  points="x1,y1;x2,y2;…">``, pixel-edge coordinates, 2 decimals). After the last label of a
  track, and after each labelled frame followed by a gap, an ``outside="1"`` copy of the
  shape closes the track, so CVAT shows exactly the labelled frames.
- Polygons: CVAT polygons are one ring, so each label keeps the **exterior ring of its
  largest part** (by area); holes and the other parts are dropped.
- Per-shape attributes: ``source``, ``score``, ``confirmed``, ``review`` (framewise's label
  fields) plus the label's own attributes (declared as text attributes of its class).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from engine.errors import ExportError
from engine.formats.dataset import Dataset
from engine.formats.shapes import is_empty, largest_part, quantise
from engine.types import Box, Label, LabelSource, MediaInfo, Polygon, ShapeType

RESERVED_ATTRIBUTES = ("source", "score", "confirmed", "review")
# CVAT's label types (cvat/apps/engine/models.py LabelType); boxes are "bbox".
CVAT_TYPES = {ShapeType.BOUNDING_BOX: "bbox", ShapeType.POLYGON: "polygon", ShapeType.POLYLINE: "polyline",
              ShapeType.POINT: "points"}


def to_cvat_video(dataset: Dataset, media_name: str) -> str:
    """CVAT for video 1.1 XML text of one media's labels."""
    return "".join(cvat_video_chunks(dataset, media_name))


def cvat_video_chunks(dataset: Dataset, media_name: str, *, checked: bool = False) -> Iterator[str]:
    """The text of `to_cvat_video` in pieces, one track at a time (``checked``: the caller
    already ran ``dataset.check()``). Everything that can be refused is refused by this call,
    before the first piece."""
    if not checked:
        dataset.check()
    info = dataset.media_named(media_name)
    labels = [label for label in dataset.labels_of(info.name) if not is_empty(label.shape)]
    extra = _extra_attributes(labels)
    tracks: dict[int, list[Label]] = {}
    for label in labels:
        tracks.setdefault(label.object_id, []).append(label)
    for object_id, track_labels in tracks.items():
        _check_track(object_id, track_labels, info)
    return _chunks(dataset, info, tracks, extra)


def _chunks(
    dataset: Dataset, info: MediaInfo, tracks: dict[int, list[Label]], extra: dict[str, list[str]]
) -> Iterator[str]:
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    meta.append(_task(dataset, info, extra))
    ET.indent(root, space="  ")
    if tracks:
        meta.tail = "\n  "  # (as if the tracks were in the tree: ET.indent's layout)
    head = ET.tostring(root, encoding="unicode")
    yield '<?xml version="1.0" encoding="utf-8"?>\n' + head.removesuffix("</annotations>")
    order = sorted(tracks)
    for position, object_id in enumerate(order):
        track = _track(object_id, tracks[object_id], info, extra)
        ET.indent(track, space="  ", level=1)
        track.tail = "\n  " if position + 1 < len(order) else "\n"
        yield ET.tostring(track, encoding="unicode")
    yield "</annotations>\n"


def _extra_attributes(labels: list[Label]) -> dict[str, list[str]]:
    """Class name -> sorted names of the labels' own attributes."""
    out: dict[str, set[str]] = {}
    for label in labels:
        for key in label.attributes:
            if key in RESERVED_ATTRIBUTES:
                raise ExportError(
                    f"object {label.object_id} frame {label.frame_index}: attribute {key!r} clashes with "
                    "framewise's own CVAT attribute"
                )
            out.setdefault(label.class_name, set()).add(str(key))
    return {name: sorted(keys) for name, keys in out.items()}


def _task(dataset: Dataset, info: MediaInfo, extra: dict[str, list[str]]) -> ET.Element:
    task = ET.Element("task")
    for tag, text in (
        ("id", "0"),
        ("name", info.name),
        ("size", str(info.frames)),
        ("mode", "interpolation"),
        ("overlap", "0"),
        ("bugtracker", ""),
        ("flipped", "False"),
        ("start_frame", "0"),
        ("stop_frame", str(info.frames - 1)),
        ("frame_filter", ""),
    ):
        ET.SubElement(task, tag).text = text
    labels = ET.SubElement(task, "labels")
    for entry in dataset.ontology:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = entry.name
        ET.SubElement(label, "color").text = entry.colour
        ET.SubElement(label, "type").text = CVAT_TYPES.get(entry.shape, "any")
        attributes = ET.SubElement(label, "attributes")
        _declare(attributes, "source", "select", LabelSource.MANUAL.value, "\n".join(s.value for s in LabelSource))
        _declare(attributes, "score", "text", "1", "")
        _declare(attributes, "confirmed", "checkbox", "true", "false\ntrue")
        _declare(attributes, "review", "checkbox", "false", "false\ntrue")
        for name in extra.get(entry.name, []):
            _declare(attributes, name, "text", "", "")
    size = ET.SubElement(task, "original_size")
    ET.SubElement(size, "width").text = str(info.width)
    ET.SubElement(size, "height").text = str(info.height)
    ET.SubElement(task, "source").text = info.name
    return task


def _declare(parent: ET.Element, name: str, input_type: str, default: str, values: str) -> None:
    attribute = ET.SubElement(parent, "attribute")
    ET.SubElement(attribute, "name").text = name
    ET.SubElement(attribute, "mutable").text = "True"
    ET.SubElement(attribute, "input_type").text = input_type
    ET.SubElement(attribute, "default_value").text = default
    ET.SubElement(attribute, "values").text = values


def _check_track(object_id: int, labels: list[Label], info: MediaInfo) -> None:
    classes = {label.class_name for label in labels}
    kinds = {type(label.shape) for label in labels}
    if len(classes) > 1:
        raise ExportError(f"object {object_id} in {info.name!r} has classes {sorted(classes)}; a CVAT track has one")
    if len(kinds) > 1:
        raise ExportError(f"object {object_id} in {info.name!r} mixes boxes and polygons; a CVAT track has one kind")


def _track(object_id: int, labels: list[Label], info: MediaInfo, extra: dict[str, list[str]]) -> ET.Element:
    sources = {label.source for label in labels}
    track = ET.Element(
        "track",
        {
            "id": str(object_id - 1),
            "label": labels[0].class_name,
            "source": "manual" if sources <= {LabelSource.MANUAL, LabelSource.REPLAYED} else "semi-auto",
        },
    )
    for index, label in enumerate(labels):
        track.append(_element(label, label.frame_index, outside=False))
        following = labels[index + 1].frame_index if index + 1 < len(labels) else info.frames
        if following > label.frame_index + 1:
            track.append(_element(label, label.frame_index + 1, outside=True))
    return track


def _element(label: Label, frame_index: int, *, outside: bool) -> ET.Element:
    shape = quantise(label.shape)
    common = {"frame": str(frame_index), "outside": "1" if outside else "0", "occluded": "0", "keyframe": "1"}
    if isinstance(shape, Box):
        element = ET.Element(
            "box",
            {**common, "xtl": _f(shape.x0), "ytl": _f(shape.y0), "xbr": _f(shape.x1), "ybr": _f(shape.y1)},
        )
    else:
        element = ET.Element("polygon", {**common, "points": points_text(shape)})
    element.set("z_order", "0")
    values = {
        "source": str(label.source),
        "score": repr(float(label.score)),
        "confirmed": "true" if label.confirmed else "false",
        "review": "true" if label.review else "false",
    }
    values.update({str(k): str(v) for k, v in sorted(dict(label.attributes).items())})
    for name, value in values.items():
        ET.SubElement(element, "attribute", {"name": name}).text = value
    return element


def points_text(polygon: Polygon) -> str:
    """``x1,y1;x2,y2;…`` of the largest part's exterior ring."""
    ring = largest_part(polygon)
    return ";".join(f"{_f(x)},{_f(y)}" for x, y in ring)


def _f(value: float) -> str:
    return f"{float(value) + 0.0:.2f}"
