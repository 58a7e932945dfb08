"""`to_davis`: a `Dataset` as DAVIS-style indexed masks (pure; `writers.write_davis` saves PNGs).

One ``<media stem>/<frame:05d>.png`` per frame that holds a label, an 8-bit palette PNG
whose pixel value is the object id (0 = background) with the DAVIS palette (the PASCAL VOC
colour map). Frames without labels get **no** PNG: the export's work and size follow the
labels, not the frame count (a partly labelled 10-hour video does not become a million
blank PNGs); a tool that wants a mask for every frame of a sequence reads a missing one as
all background (frame 0 is written whenever it is labelled, as ``--init-masks`` and the
DAVIS semi-supervised protocol need). Shapes
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
    """Yield (relative path, H×W uint8 object-id mask) for every labelled frame, one frame at a time."""
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
        for frame_index in sorted(by_frame):
            index = np.zeros((info.height, info.width), np.uint8)
            for label in by_frame[frame_index]:
                crop, x0, y0 = raster_crop(quantise(label.shape), info.height, info.width)
                window = index[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]]
                window[crop] = label.object_id
            yield f"{stems[info.name]}/{frame_index:05d}.png", index


def encode_indexed_png(index: np.ndarray, palette: np.ndarray | None = None) -> bytes:
    """PNG bytes of an H×W uint8 index image with a 256-colour palette (mode ``P``)."""
    from PIL import Image

    pixels = np.ascontiguousarray(index, np.uint8)
    # frombuffer shares the array's memory (frombytes would copy a frame of up to 256 MB)
    image = Image.frombuffer("P", (pixels.shape[1], pixels.shape[0]), pixels, "raw", "P", 0, 1)
    image.putpalette((davis_palette() if palette is None else palette).reshape(-1).tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
