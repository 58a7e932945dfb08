"""Per-object colours and the id/name tag drawn beside each label on the canvas.

Two objects of one class must be told apart: each object gets its class's colour with
the hue turned and the brightness stepped by its id (golden-ratio steps, so neighbouring
ids land far apart while every object stays near its class's hue).
"""

from __future__ import annotations

import colorsys
import tkinter as tk

import numpy as np

from engine.types import Box, Label, Point, Polygon
from ui.viewport import Viewport

HUE_SPREAD = 0.30  # at most ±0.15 of a turn (±54°) from the class's hue
GOLDEN = 0.6180339887


def parse_colour(colour: str) -> tuple[float, float, float]:
    """"#rrggbb" -> (r, g, b) in [0, 1]; anything else -> the default orange."""
    text = colour.lstrip("#")
    if len(text) != 6:
        text = "ff7f0e"
    try:
        return tuple(int(text[k : k + 2], 16) / 255 for k in (0, 2, 4))  # type: ignore[return-value]
    except ValueError:
        return (1.0, 0.498, 0.055)


def object_colour(class_colour: str, object_id: int) -> str:
    """The colour object ``object_id`` of a class coloured ``class_colour`` is drawn in:
    the class hue turned by a step of the id, brightness alternating; "#rrggbb"."""
    hue, saturation, value = colorsys.rgb_to_hsv(*parse_colour(class_colour))
    step = (int(object_id) * GOLDEN) % 1.0 - 0.5
    hue = (hue + step * HUE_SPREAD) % 1.0
    saturation = max(saturation, 0.45)
    value = max(0.55, min(1.0, value * (0.78 if int(object_id) % 2 == 0 else 1.0) + 0.05))
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def object_title(object_id: int, name: str | None) -> str:
    """What the canvas and the track panel call an object: "#3 Lisa", or "#3"."""
    return f"#{object_id} {name}" if name else f"#{object_id}"


def shape_anchor(label: Label) -> tuple[float, float]:
    """Frame pixel (x, y) of the shape's top-left corner, where its tag is drawn."""
    shape = label.shape
    if isinstance(shape, Box):
        return shape.x0, shape.y0
    if isinstance(shape, Point):
        return shape.x, shape.y
    if isinstance(shape, Polygon):
        rings = [ring for part in shape.parts for ring in part if len(ring)]
        if rings:
            points = np.concatenate(rings)
            return float(points[:, 0].min()), float(points[:, 1].min())
    return 0.0, 0.0


def draw_label_tag(canvas: tk.Canvas, view: Viewport, label: Label, colour: str, name: str | None) -> None:
    """The object's id and name over its label's top-left corner, in its colour on a dark
    backing (canvas tags: overlay, label-tag, object-<id>-tag)."""
    x, y = view.edge_to_canvas(*shape_anchor(label))
    tags = ("overlay", "label-tag", f"object-{label.object_id}-tag")
    text = canvas.create_text(x + 2, y - 3, text=object_title(label.object_id, name), anchor="sw", fill=colour,
                              font=("TkDefaultFont", 10, "bold"), tags=tags)
    box = canvas.bbox(text)
    if box:
        backing = canvas.create_rectangle(box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1, fill="#101010", outline="",
                                          tags=("overlay", "label-tag-backing"))
        canvas.tag_lower(backing, text)
