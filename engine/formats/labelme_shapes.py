"""LabelMe shapes to framewise shapes (`engine.formats.labelme_import` reads the files)."""

from __future__ import annotations

import base64
import binascii
import io
import math

import numpy as np

from engine.formats.inputs import JsonFields
from engine.formats.points import from_edges
from engine.formats.shapes import clip_to_frame
from engine.geometry import mask_to_polygon
from engine.types import Box, Polygon, Shape


def _points(top: JsonFields, item: dict, where: str) -> np.ndarray:
    points = top.get(item, "points", where, list)
    out = []
    for index, point in enumerate(points):
        if not isinstance(point, list) or len(point) != 2:
            raise top.fail(f"{where}.points[{index}]", "expected [x, y]")
        out.append([top.number(v, f"{where}.points[{index}]") for v in point])
    return np.asarray(out, np.float64).reshape(-1, 2)


def read_shape(top: JsonFields, item: dict, kind: str, where: str, width: int, height: int) -> Shape:
    points = _points(top, item, where)
    if kind == "polygon":
        if len(points) < 3:
            raise top.fail(f"{where}.points", f"polygon with {len(points)} points (need at least 3)")
        shape: Shape = Polygon(((points,),))
    elif kind == "point":
        if len(points) != 1:
            raise top.fail(f"{where}.points", f"a point needs 1 point, got {len(points)}")
        shape = from_edges(float(points[0][0]), float(points[0][1]))
    elif kind == "rectangle" or kind == "circle":
        if len(points) != 2:
            raise top.fail(f"{where}.points", f"a {kind} needs 2 points, got {len(points)}")
        if kind == "circle":
            shape = _circle(points)
            if not np.isfinite(shape.parts[0][0]).all() or math.hypot(*(points[1] - points[0])) <= 0:
                raise top.fail(f"{where}.points", "a circle needs a finite, non-zero radius")
        else:
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
            if x1 <= x0 or y1 <= y0:
                raise top.fail(f"{where}.points", "empty rectangle")
            shape = Box(float(x0), float(y0), float(x1), float(y1))
    else:
        shape = _mask(top, item, points, where, width, height)
    clipped = clip_to_frame(shape, width, height)
    if clipped is None:
        raise top.fail(where, f"the shape lies wholly outside its {width}x{height} image")
    return clipped


def _circle(points: np.ndarray) -> Polygon:
    (cx, cy), (px, py) = points
    r = math.hypot(px - cx, py - cy)
    angles = np.arange(64) * (2 * math.pi / 64)
    return Polygon(((np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1),),))


def _mask(top: JsonFields, item: dict, points: np.ndarray, where: str, width: int, height: int) -> Polygon:
    from PIL import Image, UnidentifiedImageError

    if len(points) != 2:
        raise top.fail(f"{where}.points", f"a mask needs 2 points (its box), got {len(points)}")
    (x1, y1), (x2, y2) = points.astype(int)
    if not (0 <= x1 <= x2 < width and 0 <= y1 <= y2 < height):
        raise top.fail(f"{where}.points", f"mask box {points.tolist()} is not inside the {width}x{height} image")
    text = top.get(item, "mask", where, str)
    try:
        image = Image.open(io.BytesIO(base64.b64decode(text, validate=True)))
        if image.size != (x2 - x1 + 1, y2 - y1 + 1):  # checked before the pixels are decoded
            raise top.fail(f"{where}.mask", f"{image.size[0]}x{image.size[1]} image for a {x2 - x1 + 1}x{y2 - y1 + 1} box")
        crop = np.asarray(image) != 0
    except (binascii.Error, ValueError, OSError, UnidentifiedImageError) as exc:
        raise top.fail(f"{where}.mask", f"not a base64 PNG ({exc})") from None
    if crop.ndim == 3:
        crop = crop.any(axis=2)
    mask = np.zeros((height, width), bool)
    mask[y1 : y2 + 1, x1 : x2 + 1] = crop
    polygon = mask_to_polygon(mask, tolerance=0, min_area=0)
    if not polygon.parts:
        raise top.fail(f"{where}.mask", "empty mask")
    return polygon
