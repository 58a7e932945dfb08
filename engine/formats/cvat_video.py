"""`to_cvat_video`: one media of a `Dataset` as CVAT for video 1.1 XML (pure; returns text).

- ``<meta><task>``: name and ``source`` = the media name, ``size`` = frames,
  ``mode`` interpolation, ``original_size``; ``labels`` = the whole ontology (name,
  colour, type: ``bbox`` for bounding_box classes, else CVAT's name of the shape; ``any``
  for a class that holds masks) with the attributes below declared. No ``dumped`` date, so
  equal data gives equal files.
- The tracks and their elements are planned by `engine.formats.cvat_tracks`: one track
  per object, every label a keyframe, ``outside="1"`` only where the object ends (after
  its last label when frames follow, and at gaps), labels with several parts or holes as
  pixel-exact ``<mask>`` shapes in tracks of their own, box labels of polygon classes as
  4-point polygons, point labels as one-point ``<points>`` (pixel centres: x + 0.5 on
  CVAT's pixel-edge canvas). Elements are written as CVAT 2.x writes them: ``frame``,
  ``keyframe``, ``outside``, ``occluded``, the coordinates (2 decimals, pixel edges;
  a mask's ``rle``, ``left``, ``top``, ``width``, ``height``), ``z_order``.
- Per-element attributes: ``source``, ``score``, ``confirmed``, ``review`` (framewise's
  label fields), ``object_id``, then every own attribute of the class (declared as text
  attributes; ``""`` where the label has none, as CVAT gives every declared attribute a
  value); the ``occluded``/``z_order`` label attributes are the element's own.
- What the file cannot hold exactly is reported once per media as a `FormatWarning`
  (`cvat_tracks.TrackPlan.notes`).
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator
from functools import partial

from engine.errors import FormatWarning
from engine.formats.cvat_mask import CvatMask
from engine.formats.cvat_tracks import Element, Track, TrackPlan, plan_shapes, plan_tracks, shape_source
from engine.formats.dataset import Dataset
from engine.formats.points import exported
from engine.types import Box, LabelSource, MediaInfo, ShapeType

# CVAT's label types (cvat/apps/engine/models.py LabelType); boxes are "bbox".
CVAT_TYPES = {ShapeType.BOUNDING_BOX: "bbox", ShapeType.POLYGON: "polygon", ShapeType.POLYLINE: "polyline",
              ShapeType.POINT: "points"}


def to_cvat_video(dataset: Dataset, media_name: str) -> str:
    """CVAT for video 1.1 XML text of one media's labels."""
    return "".join(cvat_video_chunks(dataset, media_name))


def cvat_video_chunks(dataset: Dataset, media_name: str, *, checked: bool = False) -> Iterator[str]:
    """The text of `to_cvat_video` in pieces, one track at a time (``checked``: the caller
    already ran ``dataset.check()``). Everything that can be refused is refused by this call,
    before the first piece; what the file changes is issued here as `FormatWarning`."""
    if not checked:
        dataset.check()
    info = dataset.media_named(media_name)
    labels = [label for label in dataset.labels_of(info.name) if exported(label.shape)]
    plan = plan_tracks(dataset.ontology, info, labels)
    for note in plan.notes(info.name):
        warnings.warn(note, FormatWarning, stacklevel=2)
    extra = plan.extra
    return _chunks(
        _task(dataset, info, plan, video=True),
        (partial(_track, planned, extra.get(planned.class_name, [])) for planned in plan.tracks),
    )


def to_cvat_images(dataset: Dataset, media_name: str) -> str:
    """CVAT for images 1.1 XML text of one media's labels."""
    return "".join(cvat_images_chunks(dataset, media_name))


def cvat_images_chunks(dataset: Dataset, media_name: str, *, checked: bool = False) -> Iterator[str]:
    """CVAT for images 1.1 in pieces, one ``<image>`` per labelled frame of a video (CVAT
    lists every frame; work here follows the labels) and per image of an image folder. A
    video is an ``interpolation`` task with frames named ``frame_000123`` as CVAT names
    video frames; an image folder an ``annotation`` task with the file names. Each label
    is one shape, chosen as for CVAT for video (`cvat_tracks.plan_shapes`)."""
    if not checked:
        dataset.check()
    info = dataset.media_named(media_name)
    labels = [label for label in dataset.labels_of(info.name) if exported(label.shape)]
    plan = plan_shapes(dataset.ontology, info, labels)
    for note in plan.notes(info.name):
        warnings.warn(note, FormatWarning, stacklevel=2)
    frames: dict[int, list[Element]] = {}
    for element in plan.shapes:
        frames.setdefault(element.frame, []).append(element)
    if info.frame_names:  # an image folder: every image, as CVAT lists them (its files exist)
        frames = {frame: frames.get(frame, []) for frame in range(min(info.frames, len(info.frame_names)))} | frames
    images = [_image(info, frame, elements, plan) for frame, elements in sorted(frames.items())]
    return _chunks(_task(dataset, info, plan, video=not info.frame_names), images)


def _chunks(task: ET.Element, children: Iterable[Callable[[], ET.Element]]) -> Iterator[str]:
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    meta = ET.SubElement(root, "meta")
    meta.append(task)
    ET.indent(root, space="  ")
    makers = list(children)
    if makers:
        meta.tail = "\n  "  # (as if the children were in the tree: ET.indent's layout)
    head = ET.tostring(root, encoding="unicode")
    yield '<?xml version="1.0" encoding="utf-8"?>\n' + head.removesuffix("</annotations>")
    for position, make in enumerate(makers):
        child = make()
        ET.indent(child, space="  ", level=1)
        child.tail = "\n  " if position + 1 < len(makers) else "\n"
        yield ET.tostring(child, encoding="unicode")
    yield "</annotations>\n"


def cvat_image_name(info: MediaInfo, frame: int) -> str:
    """An ``<image>``'s name: an image folder's file name, else CVAT's ``frame_000123``."""
    return info.frame_names[frame] if frame < len(info.frame_names) else f"frame_{frame:06d}"


def _image(info: MediaInfo, frame: int, elements: list[Element], plan: TrackPlan) -> Callable[[], ET.Element]:
    def make() -> ET.Element:
        name = cvat_image_name(info, frame)
        image = ET.Element(
            "image", {"id": str(frame), "name": name, "width": str(info.width), "height": str(info.height)}
        )
        ordered = sorted(elements, key=lambda e: (int(e.label.attributes.get("z_order", "0")), e.label.object_id))
        for element in ordered:
            label = element.label
            head = {"label": label.class_name, "source": shape_source([label])}
            image.append(_element(element, label.object_id, plan.extra.get(label.class_name, []), head))
        return image

    return make


def _task(dataset: Dataset, info: MediaInfo, plan: TrackPlan, *, video: bool) -> ET.Element:
    task = ET.Element("task")
    for tag, text in (
        ("id", "0"),
        ("name", info.name),
        ("size", str(info.frames)),
        ("mode", "interpolation" if video else "annotation"),
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
        masks = entry.name in plan.mask_classes
        ET.SubElement(label, "type").text = "any" if masks else CVAT_TYPES.get(entry.shape, "any")
        attributes = ET.SubElement(label, "attributes")
        _declare(attributes, "source", "select", LabelSource.MANUAL.value, "\n".join(s.value for s in LabelSource))
        _declare(attributes, "score", "text", "1", "")
        _declare(attributes, "confirmed", "checkbox", "true", "false\ntrue")
        _declare(attributes, "review", "checkbox", "false", "false\ntrue")
        _declare(attributes, "object_id", "text", "", "")
        for name in plan.extra.get(entry.name, []):
            _declare(attributes, name, "text", "", "")
    if video:  # CVAT gives a video task its frame size and file; an image task neither
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


def _track(planned: Track, extra: list[str]) -> ET.Element:
    track = ET.Element("track", {"id": str(planned.track_id), "label": planned.class_name, "source": planned.source})
    for element in planned.elements:
        track.append(_element(element, planned.object_id, extra))
    return track


def _element(element: Element, object_id: int, extra: list[str], head: dict[str, str] | None = None) -> ET.Element:
    """A shape element: in a track (``head`` None) with ``frame``, ``keyframe``, ``outside``
    first; in an image with ``head`` (``label``, ``source``) first, as CVAT orders them."""
    label = element.label
    occluded = str(label.attributes.get("occluded", "0")).strip().lower() in ("1", "true")
    if head is None:
        attributes = {"frame": str(element.frame), "keyframe": "1", "outside": "1" if element.outside else "0"}
    else:
        attributes = dict(head)
    attributes["occluded"] = "1" if occluded else "0"
    geometry = element.geometry
    if isinstance(geometry, Box):
        attributes.update(xtl=_f(geometry.x0), ytl=_f(geometry.y0), xbr=_f(geometry.x1), ybr=_f(geometry.y1))
    elif isinstance(geometry, CvatMask):
        attributes.update(rle=geometry.text(), left=str(geometry.left), top=str(geometry.top),
                          width=str(geometry.width), height=str(geometry.height))
    else:
        attributes["points"] = ";".join(f"{_f(x)},{_f(y)}" for x, y in geometry)
    attributes["z_order"] = str(int(label.attributes.get("z_order", "0")))
    node = ET.Element(element.kind, attributes)
    values = {
        "source": str(label.source),
        "score": repr(float(label.score)),
        "confirmed": "true" if label.confirmed else "false",
        "review": "true" if label.review else "false",
        "object_id": str(object_id),
    }
    values.update({name: str(label.attributes.get(name, "")) for name in extra})
    for name, value in values.items():
        ET.SubElement(node, "attribute", {"name": name}).text = value
    return node


def _f(value: float) -> str:
    return f"{float(value) + 0.0:.2f}"
