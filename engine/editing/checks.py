"""What the Editor refuses, as pure checks: each raises `EditorStateError` with the message
the person sees, or returns quietly."""

from __future__ import annotations

from collections.abc import Iterable

from engine.errors import EditorStateError
from engine.types import LABEL_SHAPES, Label, LabelClass, Shape


def check_sam_capable(label_class: LabelClass) -> None:
    """SAM makes polygons and boxes only."""
    if not label_class.sam_capable:
        raise EditorStateError(
            f"class {label_class.name!r} is a {label_class.shape} class: "
            "SAM works only with polygon and bounding-box classes"
        )


def check_can_prompt(sam_mode: bool, label_class: LabelClass) -> None:
    """A click or a box needs SAM mode on and a SAM-capable active class."""
    if not sam_mode:
        raise EditorStateError("SAM mode is off: toggle it on (Shift+A) before clicking")
    check_sam_capable(label_class)


def check_shape_fits(object_id: int, label_class: LabelClass, shape: Shape) -> None:
    """A label holds its class's shape type (a box stays a box, a point class takes points)."""
    if not isinstance(shape, LABEL_SHAPES.get(label_class.shape, ())):
        raise EditorStateError(
            f"object {object_id} is a {label_class.shape} ({label_class.name!r}): "
            f"cannot give it a {type(shape).__name__}"
        )


def check_class_change(object_id: int, current: LabelClass, new: LabelClass) -> None:
    """An object moves only to a class of the same shape type."""
    if current.shape != new.shape:
        raise EditorStateError(
            f"object {object_id} is a {current.shape}: class {new.name!r} takes {new.shape} shapes"
        )


def check_keyframes(object_id: int, ends: Iterable[Label]) -> None:
    """Interpolation runs between labels a person confirmed, of one shape type."""
    ends = list(ends)
    for end in ends:
        if not end.confirmed:
            raise EditorStateError(
                f"object {object_id} on frame {end.frame_index} is not confirmed ({end.source}): "
                "interpolation runs between confirmed labels"
            )
    kinds = {type(end.shape).__name__.lower(): end.frame_index for end in ends}
    if len(kinds) > 1:  # (an apply under another class gave the object a box on one frame)
        where = " and ".join(f"a {kind} on frame {frame}" for kind, frame in kinds.items())
        raise EditorStateError(f"object {object_id} is {where}: interpolation needs one shape type at both ends")
