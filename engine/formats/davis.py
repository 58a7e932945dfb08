"""`to_davis`: a `Dataset` as DAVIS-style indexed masks (pure; `writers.write_davis` saves PNGs).

One ``<media stem>/<frame:05d>.png`` per frame that holds a label, an 8-bit palette PNG
whose pixel value is the object id (0 = background) with the DAVIS palette (the PASCAL VOC
colour map). Frames without labels get **no** PNG: the export's work and size follow the
labels, not the frame count (a partly labelled 10-hour video does not become a million
blank PNGs); a tool that wants a mask for every frame of a sequence reads a missing one as
all background (frame 0 is written whenever it is labelled, as ``--init-masks`` and the
DAVIS semi-supervised protocol need). Shapes
are rasterised by pixel-centre sampling, boxes filled. A DAVIS mask holds **one object per
pixel**: where objects overlap the higher object id is painted last and wins, and the
pixels so resolved are counted (`OverlapCount`; the writer warns with the count, so an
export never loses pixels silently). Object ids above 255 do not fit and raise `ExportError`.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

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


@dataclass
class OverlapCount:
    """What `to_davis` resolved: pixels that more than one object covered (each kept by the
    highest id) and the frames holding them."""

    pixels: int = 0
    frames: int = 0

    def message(self) -> str:
        return (
            f"DAVIS export: {self.pixels} pixels on {self.frames} frames were covered by more than one object; "
            "each pixel went to the highest object id (a DAVIS mask holds one object per pixel)"
        )


def to_davis(dataset: Dataset, overlaps: OverlapCount | None = None) -> Iterator[tuple[str, np.ndarray]]:
    """Yield (relative path, H×W uint8 object-id mask) for every labelled frame, one frame at a time;
    ``overlaps`` (when given) counts the pixels resolved by id as the frames are made."""
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
            shared = np.zeros((info.height, info.width), bool) if overlaps is not None else None
            for label in by_frame[frame_index]:
                crop, x0, y0 = raster_crop(quantise(label.shape), info.height, info.width)
                rows, cols = slice(y0, y0 + crop.shape[0]), slice(x0, x0 + crop.shape[1])
                window = index[rows, cols]
                if shared is not None:
                    shared[rows, cols] |= crop & (window != 0)
                window[crop] = label.object_id
            if overlaps is not None and shared is not None and (count := int(np.count_nonzero(shared))):
                overlaps.pixels += count
                overlaps.frames += 1
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
