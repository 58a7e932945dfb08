"""What a CVAT for video export writes for one media's objects: tracks and their elements.

Pure planning, no XML (`engine.formats.cvat_video` writes the plan):

- every label is one keyframe element (``keyframe="1"``, ``outside="0"``) of its object's
  track (``id`` = object id − 1); consecutive labels follow each other with nothing
  between; an ``outside="1"`` copy closes a run only where the object really ends: on the
  frame after a label that the next label does not follow (a gap, or the end of the
  labels before the end of the media). So CVAT shows exactly the labelled frames and
  interpolates nothing;
- the element's shape follows the **class**: a bounding_box class writes ``<box>``; a
  polygon class writes ``<polygon>`` for a one-part polygon without holes and for a box
  label (its four corners: a CVAT track holds one shape type, and a polygon-typed label
  holds polygons), and a ``<mask>`` (`engine.formats.cvat_mask`, the label's pixels,
  lossless at pixel level) for a label with several parts or holes. CVAT has no mask
  tracks (its importer keeps a mask track's first shape), so each mask is a track of its
  own, as CVAT writes its own masks: the mask and an outside copy on the next frame, and
  its object keeps an outside marker there. Every element carries the ``object_id``
  attribute, by which framewise puts masks back on their objects;
- a point label (of a point class) is a ``<points>`` element of one point, at the pixel
  centre on CVAT's pixel-edge canvas (`engine.formats.points.to_edges`: x + 0.5), in its
  object's track like any other shape;
- lossy cases are counted in `TrackPlan.notes`: a polygon label of a box class is
  written as its bounding box; a multi-part label that covers no pixel centre (no mask to
  write) as its largest part's outer ring.
``occluded`` (``1``/``true``) and ``z_order`` label attributes are written as the
element's own ``occluded`` and ``z_order``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.errors import ExportError
from engine.formats.cvat_mask import CvatMask, shape_mask
from engine.formats.points import to_edges
from engine.formats.shapes import has_holes, largest_part, outer_bounds, quantise, region_of
from engine.ontology import Ontology
from engine.types import Box, Label, LabelSource, MediaInfo, Point, Polygon, ShapeType

RESERVED_ATTRIBUTES = ("source", "score", "confirmed", "review", "object_id")
"""Framewise's own per-element attributes (label fields and the object id)."""
ELEMENT_ATTRIBUTES = ("occluded", "z_order")
"""Label attributes written as the CVAT element's own XML attributes."""


@dataclass(frozen=True)
class Element:
    """One shape element: ``kind`` ``box`` (``geometry`` a `Box`), ``polygon`` (an M×2
    ring), ``points`` (a 1×2 array, on CVAT's pixel-edge canvas) or ``mask`` (a
    `CvatMask`), on ``frame``, of ``label`` (its fields and attributes)."""

    label: Label
    frame: int
    outside: bool
    kind: str
    geometry: Box | np.ndarray | CvatMask


@dataclass(frozen=True)
class Track:
    track_id: int
    object_id: int
    class_name: str
    source: str
    elements: list[Element]


@dataclass
class TrackPlan:
    """The tracks of one media in file order, the classes that hold masks (their CVAT
    label type is ``any``), each class's own attribute names, and the counts behind
    `notes`."""

    tracks: list[Track] = field(default_factory=list)
    shapes: list[Element] = field(default_factory=list)
    mask_classes: set[str] = field(default_factory=set)
    extra: dict[str, list[str]] = field(default_factory=dict)
    masks: int = 0
    boxes_as_polygons: int = 0
    polygons_as_boxes: int = 0
    outer_rings: int = 0

    def notes(self, media: str) -> list[str]:
        """One line per kind of change the file makes to the labels (empty: none)."""
        out = []
        if self.masks and self.tracks:
            out.append(
                f"{media}: {self.masks} labels with several parts or holes written as CVAT <mask> shapes "
                "(pixel-exact), each in a track of its own (CVAT has no mask tracks); framewise puts them back "
                "on their objects by the object_id attribute"
            )
        elif self.masks:
            out.append(f"{media}: {self.masks} labels with several parts or holes written as CVAT <mask> shapes (pixel-exact)")
        if self.polygons_as_boxes:
            out.append(f"{media}: {self.polygons_as_boxes} polygon labels of box classes simplified to their bounding boxes")
        if self.outer_rings:
            out.append(
                f"{media}: {self.outer_rings} labels with several parts or holes covering no pixel centre "
                "simplified to their largest part's outer ring"
            )
        return out


def plan_tracks(ontology: Ontology, info: MediaInfo, labels: list[Label]) -> TrackPlan:
    """The `TrackPlan` of one media's labels (sorted by frame, empty shapes already left
    out); `ExportError` for an object that changes class or a bad ``z_order``."""
    plan = TrackPlan(extra=_extra_attributes(labels))
    objects: dict[int, list[Label]] = {}
    for label in labels:
        objects.setdefault(label.object_id, []).append(label)
    next_mask_id = max(objects, default=0)
    masks: list[Track] = []
    for object_id in sorted(objects):
        own = objects[object_id]
        classes = sorted({label.class_name for label in own})
        if len(classes) > 1:
            raise ExportError(f"object {object_id} in {info.name!r} has classes {classes}; a CVAT track has one")
        shape_type = ontology[classes[0]].shape
        run: list[Element] = []
        for label in own:
            _z_order(label, info)
            element = _element(plan, shape_type, label, info)
            if element.kind == "mask":
                plan.mask_classes.add(label.class_name)
                closing = [_closing(element)] if label.frame_index + 1 < info.frames else []
                masks.append(Track(next_mask_id, object_id, label.class_name, shape_source([label]), [element, *closing]))
                next_mask_id += 1
            else:
                run.append(element)
        if run:
            elements = []
            for index, element in enumerate(run):
                elements.append(element)
                following = run[index + 1].frame if index + 1 < len(run) else None
                if following != element.frame + 1 and element.frame + 1 < info.frames:
                    elements.append(_closing(element))
            plan.tracks.append(Track(object_id - 1, object_id, classes[0], shape_source(own), elements))
    plan.tracks.extend(masks)
    return plan


def plan_shapes(ontology: Ontology, info: MediaInfo, labels: list[Label]) -> TrackPlan:
    """The elements of CVAT for images for one media's labels (`TrackPlan.shapes`, no
    tracks): each label one shape, chosen as for tracks (masks need no track of their own)."""
    plan = TrackPlan(extra=_extra_attributes(labels))
    for label in labels:
        _z_order(label, info)
        element = _element(plan, ontology[label.class_name].shape, label, info)
        if element.kind == "mask":
            plan.mask_classes.add(label.class_name)
        plan.shapes.append(element)
    return plan


def shape_source(labels: list[Label]) -> str:
    """CVAT's ``source`` of a track or shape: ``manual`` for manual or replayed labels."""
    sources = {label.source for label in labels}
    return "manual" if sources <= {LabelSource.MANUAL, LabelSource.REPLAYED} else "semi-auto"


def _element(plan: TrackPlan, shape_type: ShapeType, label: Label, info: MediaInfo) -> Element:
    frame = label.frame_index
    quantised = quantise(label.shape)
    if isinstance(quantised, Point):
        return Element(label, frame, False, "points", np.array([to_edges(quantised)], np.float64))
    shape = region_of(quantised)
    if shape_type == ShapeType.BOUNDING_BOX:
        if isinstance(shape, Polygon):
            plan.polygons_as_boxes += 1
            shape = outer_bounds(shape)
        return Element(label, frame, False, "box", shape)
    if isinstance(shape, Box):
        plan.boxes_as_polygons += 1
        ring = np.array([[shape.x0, shape.y0], [shape.x1, shape.y0], [shape.x1, shape.y1], [shape.x0, shape.y1]])
        return Element(label, frame, False, "polygon", ring)
    if len(shape.parts) == 1 and not has_holes(shape):
        return Element(label, frame, False, "polygon", np.asarray(shape.parts[0][0], np.float64))
    mask = shape_mask(shape, info.height, info.width)
    if mask is None:
        plan.outer_rings += 1
        return Element(label, frame, False, "polygon", largest_part(shape))
    plan.masks += 1
    return Element(label, frame, False, "mask", mask)


def _closing(element: Element) -> Element:
    return Element(element.label, element.frame + 1, True, element.kind, element.geometry)


def _z_order(label: Label, info: MediaInfo) -> None:
    text = label.attributes.get("z_order", "0")
    try:
        int(text)
    except ValueError:
        raise ExportError(
            f"object {label.object_id} frame {label.frame_index} of {info.name!r}: attribute z_order {text!r} "
            "is not an integer (CVAT's z_order)"
        ) from None


def _extra_attributes(labels: list[Label]) -> dict[str, list[str]]:
    """Class name -> sorted names of the labels' own attributes (written as CVAT text
    attributes; ``occluded``/``z_order`` excepted: they are the element's own)."""
    out: dict[str, set[str]] = {}
    for label in labels:
        for key in label.attributes:
            if key in RESERVED_ATTRIBUTES:
                raise ExportError(
                    f"object {label.object_id} frame {label.frame_index}: attribute {key!r} clashes with "
                    "framewise's own CVAT attribute"
                )
            if key not in ELEMENT_ATTRIBUTES:
                out.setdefault(label.class_name, set()).add(str(key))
    return {name: sorted(keys) for name, keys in out.items()}
