"""COCO run-length encoding of masks.

COCO RLE runs over the mask in column-major (Fortran) order, alternating background and
foreground runs and starting with background (a leading 0 when pixel (0, 0) is set).
``{"size": [h, w], "counts": [...]}`` is the uncompressed form we write; reading also
accepts pycocotools' compressed string form.
"""

from __future__ import annotations

import numpy as np

from engine.limits import MAX_FRAME_PIXELS

MAX_RLE_PIXELS = MAX_FRAME_PIXELS
"""Masks larger than this (16384×16384) are refused before anything is allocated."""


class RLEError(ValueError):
    """An RLE that does not describe an ``h``×``w`` mask; the message names the field."""


def mask_to_rle(mask: np.ndarray) -> dict:
    """Uncompressed COCO RLE of an H×W bool mask: ``{"size": [H, W], "counts": [int, ...]}``."""
    mask = np.asarray(mask, bool)
    height, width = mask.shape
    flat = mask.ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(height), int(width)], "counts": [int(c) for c in counts]}


def rle_to_mask(rle: object) -> np.ndarray:
    """H×W bool mask of a COCO RLE (uncompressed list counts or compressed string).

    Every run is checked with Python integers before anything is allocated: each must lie
    in ``0..height*width`` and there can be at most ``height*width + 1`` of them (a leading
    0, then at least one pixel per run), so the int64 sum below cannot wrap around. (Before
    this check, counts like ``[2**63-1, 2**63-1, 8]`` summed to 6 in int64, passed the
    length check of a 2×3 mask and made ``np.repeat`` write past its buffer: a segfault.)
    Anything inconsistent raises `RLEError`.
    """
    if not isinstance(rle, dict):
        raise RLEError("segmentation: an RLE must be an object with 'size' and 'counts'")
    size, counts = rle.get("size"), rle.get("counts")
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)
    ):
        raise RLEError(f"segmentation.size: expected [height, width] non-negative integers, got {_short(size)}")
    height, width = size
    pixels = height * width
    if pixels > MAX_RLE_PIXELS:
        raise RLEError(f"segmentation.size: {height}x{width} is over the limit of {MAX_RLE_PIXELS} pixels")
    if isinstance(counts, str):
        counts = decode_counts(counts)
    elif not isinstance(counts, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in counts
    ):
        raise RLEError("segmentation.counts: expected a list of integers or a compressed string")
    if len(counts) > pixels + 1:
        raise RLEError(f"segmentation.counts: {len(counts)} runs for {pixels} pixels")
    low, high = min(counts, default=0), max(counts, default=0)  # Python ints: no overflow
    if low < 0:
        raise RLEError(f"segmentation.counts: negative run length {_short(low)}")
    if high > pixels:
        raise RLEError(f"segmentation.counts: run length {_short(high)} is longer than height*width = {pixels}")
    values = np.asarray(counts, np.int64).reshape(-1)  # int64[n], each in 0..pixels <= 2**28
    total = int(values.sum())  # at most (2**28 + 1) * 2**28 < 2**63
    if total != pixels:
        raise RLEError(f"segmentation.counts: runs sum to {total}, not height*width = {pixels}")
    fill = np.zeros(values.size, bool)
    fill[1::2] = True
    flat = np.repeat(fill, values)
    return flat.reshape((width, height)).T.copy()


MAX_CHUNKS = 13
"""Characters of one compressed number: 13 × 5 bits hold any 64-bit value pycocotools
writes. A longer number is refused (decoding an unbounded one is quadratic in its length)."""


def decode_counts(text: str) -> list[int]:
    """pycocotools' compressed counts: 6-bit chunks from ASCII 48, sign-extended, delta-coded.

    The result can hold negative or huge values (the delta coding adds up anything);
    `rle_to_mask` checks every run.
    """
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise RLEError("segmentation.counts: compressed string ends inside a number")
            if shift >= MAX_CHUNKS:
                raise RLEError(f"segmentation.counts: a compressed number longer than {MAX_CHUNKS} characters")
            chunk = ord(text[position]) - 48
            if not 0 <= chunk < 64:
                raise RLEError(f"segmentation.counts: invalid character {text[position]!r}")
            value |= (chunk & 0x1F) << (5 * shift)
            more = bool(chunk & 0x20)
            position += 1
            shift += 1
            if not more and chunk & 0x10:
                value |= -1 << (5 * shift)
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def _short(value: object) -> str:
    """``repr(value)`` cut to 60 characters (a run can have thousands of digits)."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        return "a number of more than 4300 digits"
    return text if len(text) <= 60 else text[:57] + "..."


def encode_counts(counts: list[int]) -> str:
    """The inverse of `decode_counts` (pycocotools' compressed string), for tests and tools."""
    out = []
    for index, count in enumerate(counts):
        value = count - counts[index - 2] if index > 2 else count
        more = True
        while more:
            chunk = value & 0x1F
            value >>= 5
            more = not ((value == 0 and not chunk & 0x10) or (value == -1 and chunk & 0x10))
            if more:
                chunk |= 0x20
            out.append(chr(chunk + 48))
    return "".join(out)


def rle_area(rle: dict) -> int:
    """Foreground pixel count of an uncompressed RLE."""
    return int(sum(rle["counts"][1::2]))
