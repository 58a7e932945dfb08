"""Keypoint labels (`Point`) in the exports and imports: which formats hold them, the
coordinate shift between framewise's pixel centres and the tools' pixel edges, and the
warning for the formats that have no single keypoint.

- A `Point` sits at a pixel **centre** (pixel (i, j) is the point (i, j): see
  `engine.types`). CVAT, LabelMe and Label Studio place shapes on a canvas of pixel
  **edges** (the image spans [0, W] × [0, H]; a box around pixel 0 is 0..1), so a point on
  pixel i's centre is i + 0.5 there: `to_edges` / `from_edges` convert. COCO keypoints are
  pixel indices (detectron2 adds 0.5 to reach edges), so COCO writes the centre as it is.
- `POINT_FORMATS` write points; `POINTLESS_FORMATS` (YOLO, MOT, DAVIS) have no single
  keypoint of a class (YOLO pose is a skeleton per box; MOT and DAVIS hold boxes and masks):
  `without_points` leaves them out with a `FormatWarning` naming the format and the count.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

from engine.errors import FormatWarning
from engine.formats.dataset import Dataset
from engine.formats.shapes import is_empty, rounded
from engine.types import Label, Point, Shape

POINT_FORMATS = ("coco", "cvat-video", "cvat-images", "labelme", "label-studio")
"""The export formats that write point labels."""
POINTLESS_FORMATS = ("yolo", "mot", "davis")
"""The export formats without a native single keypoint: their point labels are left out."""
EDGE_OFFSET = 0.5
"""A pixel centre's distance from the pixel's top-left edge."""


def to_edges(point: Point) -> tuple[float, float]:
    """(x, y) of a (rounded) point on the tools' pixel-edge canvas, rounded as exports write."""
    return rounded(point.x + EDGE_OFFSET), rounded(point.y + EDGE_OFFSET)


def from_edges(x: float, y: float) -> Point:
    """The framewise point (pixel centre) of a tool's canvas position ``(x, y)``."""
    return Point(x - EDGE_OFFSET + 0.0, y - EDGE_OFFSET + 0.0)


def exported(shape: Shape) -> bool:
    """True for a shape the point-capable exports write: a point, or a region with area."""
    return isinstance(shape, Point) or not is_empty(shape)


def point_labels(labels: list[Label]) -> int:
    """How many of ``labels`` are points."""
    return sum(1 for label in labels if isinstance(label.shape, Point))


def without_points(dataset: Dataset, fmt: str) -> Dataset:
    """``dataset`` without its point labels, with one `FormatWarning` that names ``fmt`` and
    counts them (none: ``dataset`` itself)."""
    skipped = point_labels(dataset.labels)
    if not skipped:
        return dataset
    warnings.warn(
        f"{fmt}: {skipped} point label(s) left out: {fmt} has no single keypoint "
        f"(point labels travel in {', '.join(POINT_FORMATS)})",
        FormatWarning,
        stacklevel=3,
    )
    labels = [label for label in dataset.labels if not isinstance(label.shape, Point)]
    return replace(dataset, labels=labels)
