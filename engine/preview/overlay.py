"""Previews: frames with the selection in blue, prompts, and labels drawn on top."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from engine.types import Box, Label, Point, Polygon

SELECTION_RGB = (30, 120, 255)
INCLUDE_RGB = (40, 200, 60)
EXCLUDE_RGB = (230, 40, 40)


def hex_to_rgb(colour: str) -> tuple[int, int, int]:
    """"#rrggbb" -> (r, g, b)."""
    value = colour.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16))


def blend_mask(image: np.ndarray, mask: np.ndarray, rgb: tuple[int, int, int], alpha: float = 0.5) -> np.ndarray:
    """Tint the H×W bool ``mask`` region of an H×W×3 uint8 image with ``rgb`` (in place)."""
    if mask is not None and mask.any():
        region = image[mask].astype(np.float32)
        image[mask] = (region * (1 - alpha) + np.array(rgb, np.float32) * alpha).astype(np.uint8)
    return image


def draw_shape(image: np.ndarray, shape: Polygon | Box | Point, rgb: tuple[int, int, int], thickness: int = 2) -> np.ndarray:
    """Outline a polygon (all rings) or a box, or ring a point, on an H×W×3 uint8 RGB image (in place)."""
    if isinstance(shape, Point):
        cv2.circle(image, (int(round(shape.x)), int(round(shape.y))), 4, rgb, thickness, cv2.LINE_AA)
        return image
    if isinstance(shape, Box):
        p0 = (int(round(shape.x0)), int(round(shape.y0)))
        p1 = (int(round(shape.x1)) - 1, int(round(shape.y1)) - 1)
        cv2.rectangle(image, p0, p1, rgb, thickness, cv2.LINE_AA)
        return image
    rings = [np.round(ring - 0.5).astype(np.int32).reshape(-1, 1, 2) for part in shape.parts for ring in part]
    cv2.polylines(image, rings, True, rgb, thickness, cv2.LINE_AA)
    return image


def draw_points(
    image: np.ndarray,
    points: np.ndarray | Sequence[tuple[float, float]],
    labels: np.ndarray | Sequence[int],
    radius: int = 5,
) -> np.ndarray:
    """Draw N×2 (x, y) points, green for include (label 1) and red for exclude (0)."""
    for (x, y), label in zip(np.asarray(points).reshape(-1, 2), np.asarray(labels).reshape(-1)):
        centre = (int(round(x)), int(round(y)))
        colour = INCLUDE_RGB if label == 1 else EXCLUDE_RGB
        cv2.circle(image, centre, radius + 1, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.circle(image, centre, radius, colour, -1, cv2.LINE_AA)
    return image


def render_overlay(
    frame: np.ndarray,
    *,
    selection: np.ndarray | None = None,
    points: np.ndarray | Sequence[tuple[float, float]] | None = None,
    point_labels: np.ndarray | Sequence[int] | None = None,
    box: Iterable[float] | None = None,
    labels: Iterable[tuple[Label, str]] = (),
) -> np.ndarray:
    """A preview image, H×W×3 uint8 RGB.

    selection: H×W bool mask shown in blue (the SAM selection).
    points / point_labels: N×2 float and N int prompts (green include, red exclude).
    box: xyxy prompt box in pixel edges, drawn as a thin rectangle on its outer pixels.
    labels: (label, "#rrggbb") pairs drawn as outlines in their class colour.
    """
    image = np.ascontiguousarray(frame, dtype=np.uint8).copy()
    if selection is not None:
        blend_mask(image, selection, SELECTION_RGB)
    for label, colour in labels:
        draw_shape(image, label.shape, hex_to_rgb(colour))
    if box is not None:  # pixel edges: the last pixel inside is x1 - 1 (as in draw_shape)
        x0, y0, x1, y1 = (int(round(c)) for c in box)
        cv2.rectangle(image, (x0, y0), (max(x0, x1 - 1), max(y0, y1 - 1)), SELECTION_RGB, 1, cv2.LINE_AA)
    if points is not None and len(points):
        draw_points(image, points, point_labels if point_labels is not None else np.ones(len(points)))
    return image
