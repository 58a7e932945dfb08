"""CVAT's ``<mask>`` shape: run-length encoding of a pixel mask and the shapes it becomes.

CVAT 2.x writes a mask as ``<mask rle="…" left="L" top="T" width="W" height="H">``
(cvat/apps/dataset_manager/formats/cvat.py, ``dump_as_cvat_annotation`` and
``dump_as_cvat_interpolation``): the mask cropped to its pixels' bounding box, columns
``L..L+W-1`` and rows ``T..T+H-1``, read **row by row**, as alternating run lengths that
start with a run of background (``0`` when the first pixel is set: cvat-core's
``mask2Rle``), the numbers joined by ``", "``. CVAT keeps it as
``points = rle + [L, T, L+W-1, T+H-1]``.

Framewise labels are polygons, so a mask comes in as its exact pixel outline
(`engine.geometry.mask_to_polygon` without simplification, which rasterises back to the
same pixels) and goes out as the pixels of the label (`engine.formats.shapes.raster_crop`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.formats.shapes import raster_crop
from engine.geometry import mask_to_polygon
from engine.limits import MAX_FRAME_PIXELS
from engine.types import Polygon, Shape


@dataclass(frozen=True)
class CvatMask:
    """A mask in CVAT's terms: ``rle`` over the ``width``×``height`` crop at (left, top)."""

    rle: tuple[int, ...]
    left: int
    top: int
    width: int
    height: int

    def text(self) -> str:
        """The ``rle`` attribute as CVAT writes it (``"3, 1, 2"``)."""
        return ", ".join(str(count) for count in self.rle)


class CvatMaskError(ValueError):
    """A ``<mask>`` whose numbers do not describe its crop; the message says why."""


def encode_mask(crop: np.ndarray, left: int, top: int) -> CvatMask | None:
    """The `CvatMask` of an h×w bool ``crop`` placed at (left, top), tightened to the set
    pixels' bounding box as CVAT does; None when no pixel is set."""
    crop = np.asarray(crop, bool)
    rows = np.flatnonzero(crop.any(axis=1))
    cols = np.flatnonzero(crop.any(axis=0))
    if not rows.size:
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    flat = crop[y0:y1, x0:x1].ravel()  # row by row
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    counts = np.diff(np.concatenate([[0], change, [flat.size]])).tolist()
    if flat[0]:
        counts = [0] + counts
    return CvatMask(tuple(int(c) for c in counts), left + x0, top + y0, x1 - x0, y1 - y0)


def decode_mask(mask: CvatMask) -> np.ndarray:
    """The height×width bool crop of a `CvatMask`; `CvatMaskError` if the runs do not
    cover the crop exactly (checked with Python integers before anything is allocated)."""
    if mask.width <= 0 or mask.height <= 0:
        raise CvatMaskError(f"width and height must be positive, got {mask.width}x{mask.height}")
    pixels = mask.width * mask.height
    if pixels > MAX_FRAME_PIXELS:
        raise CvatMaskError(f"{mask.width}x{mask.height} is over the limit of {MAX_FRAME_PIXELS} pixels")
    if len(mask.rle) > pixels + 1:
        raise CvatMaskError(f"{len(mask.rle)} runs for {pixels} pixels")
    if any(count < 0 for count in mask.rle):
        raise CvatMaskError("negative run length")
    total = sum(mask.rle)
    if total != pixels:
        raise CvatMaskError(f"the runs sum to {total}, not width*height = {pixels}")
    values = np.zeros(len(mask.rle), bool)
    values[1::2] = True
    return np.repeat(values, np.asarray(mask.rle, np.int64)).reshape(mask.height, mask.width)


def parse_rle(text: str) -> tuple[int, ...]:
    """The numbers of an ``rle`` attribute (``"3, 1, 2"``; CVAT reads ``split(",")``)."""
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise CvatMaskError(f"expected comma-separated integers, got {text[:60]!r}") from None


def mask_polygon(mask: CvatMask) -> Polygon:
    """The exact pixel outline of a mask, in frame pixel edges (empty for an empty mask)."""
    traced = mask_to_polygon(decode_mask(mask), tolerance=0.0, min_area=0.0)
    offset = np.array([mask.left, mask.top], np.float64)
    return Polygon(tuple(tuple(np.asarray(ring, np.float64) + offset for ring in part) for part in traced.parts))


def shape_mask(shape: Shape, height: int, width: int) -> CvatMask | None:
    """The `CvatMask` of a label's pixels inside a ``height``×``width`` frame, or None
    when it covers no pixel centre."""
    crop, x0, y0 = raster_crop(shape, height, width)
    return encode_mask(crop, x0, y0)
