"""`to_davis`: a `Dataset` as DAVIS-style indexed masks (pure; `writers.write_davis` saves PNGs).

For every media with at least one label, one ``<media stem>/<frame:05d>.png`` per frame
(frames without labels are all background), each an 8-bit palette PNG whose pixel value is
the object id (0 = background) with the DAVIS palette (the PASCAL VOC colour map). Shapes
are rasterised by pixel-centre sampling, boxes filled; where objects overlap the higher
object id is painted last and wins. Object ids above 255 do not fit and raise `ExportError`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np

from engine.errors import ExportError
from engine.formats.dataset import Dataset
from engine.formats.shapes import is_empty, quantise, raster_crop
from engine.types import Label


def davis_palette() -> np.ndarray:
    """256×3 uint8 RGB: the PASCAL VOC / DAVIS colour map (1 = dark red, 2 = green, …)."""
    palette = np.zeros((256, 3), np.uint8)
    for index in range(256):
        code, r, g, b = index, 0, 0, 0
        for bit in range(8):
            r |= ((code >> 0) & 1) << (7 - bit)
            g |= ((code >> 1) & 1) << (7 - bit)
            b |= ((code >> 2) & 1) << (7 - bit)
            code >>= 3
        palette[index] = (r, g, b)
    return palette


def to_davis(dataset: Dataset) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (relative path, H×W uint8 object-id mask) for every frame of every labelled media."""
    dataset.check()
    stems = dataset.stems()
    for label in dataset.labels:
        if label.object_id > 255:
            raise ExportError(f"object id {label.object_id} in {label.media!r} does not fit a DAVIS 8-bit mask")
    for info in dataset.media:
        labels = [label for label in dataset.labels_of(info.name) if not is_empty(label.shape)]
        if not labels:
            continue
        by_frame: dict[int, list[Label]] = {}
        for label in labels:
            by_frame.setdefault(label.frame_index, []).append(label)
        for frame_index in range(info.frames):
            index = np.zeros((info.height, info.width), np.uint8)
            for label in by_frame.get(frame_index, []):
                crop, x0, y0 = raster_crop(quantise(label.shape), info.height, info.width)
                window = index[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]]
                window[crop] = label.object_id
            yield f"{stems[info.name]}/{frame_index:05d}.png", index


def encode_indexed_png(index: np.ndarray, palette: np.ndarray | None = None) -> bytes:
    """PNG bytes of an H×W uint8 index image with a 256-colour palette (mode ``P``)."""
    from PIL import Image

    pixels = np.ascontiguousarray(index, np.uint8)
    image = Image.frombytes("P", (pixels.shape[1], pixels.shape[0]), pixels.tobytes())
    image.putpalette((davis_palette() if palette is None else palette).reshape(-1).tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
