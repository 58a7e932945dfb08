"""`import_davis`: DAVIS-style index masks (one PNG per frame, pixel value = object id) back to
a `Dataset`.

``path`` is one sequence folder of ``<frame>.png`` (the frame index is the number in the
name: ``00000.png`` is frame 0), or a folder of sequence folders (each one media, in name
order; DAVIS' ``Annotations/480p/``). Each sequence is a media named after its folder; its
frame count is the number of images in the matching ``JPEGImages/<res>/<seq>/`` folder when
there is one (the DAVIS layout), else the highest frame index + 1; its size is the PNGs'
(all equal). PNGs may be palette (mode ``P``) or greyscale (``L``, or ``LA``: its grey
channel); the palette is ignored. A grey mask holding only 0 and 255 is DAVIS-2016's binary
annotation: 255 there is the one object (id 1), not void.

Every object id (1..254) on a frame becomes a polygon label of that object: its exact
pixel outline (`engine.geometry.mask_to_polygon` with tolerance 0: parts, holes and 1-px
pieces kept), which rasterises back to the same pixels, so DAVIS export -> import -> export
gives identical PNGs. 255 is DAVIS' *void* (unlabelled border) and is skipped. DAVIS holds
no classes: every object gets the one polygon class ``class_name`` (default ``object``).
Labels are confirmed ``manual`` ones.
"""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from pathlib import Path

import numpy as np

from engine.errors import FramewiseError, OntologyError, SessionFormatError
from engine.formats.dataset import Dataset
from engine.formats.inputs import check_frame_size, check_frames, content_key, media_name, read_capped
from engine.geometry import mask_to_polygon
from engine.media.image_headers import check_header
from engine.ontology import Ontology
from engine.types import Label, LabelSource, MediaInfo, ShapeType

VOID = 255
_FRAME = re.compile(r"^(\d{1,9})\.png$", re.IGNORECASE)


def import_davis(path: str | Path, *, class_name: str = "object") -> Dataset:
    """Read a DAVIS sequence folder, or a folder of them, as a `Dataset`."""
    path = Path(path)
    if not path.is_dir():
        raise SessionFormatError(f"{path}: expected a folder of DAVIS masks (<frame>.png) or of sequence folders")
    if _pngs(path):
        sequences = [path]
    else:
        sequences = sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink() and _pngs(p))
        if not sequences:
            raise SessionFormatError(f"{path}: no DAVIS masks (<frame>.png) in the folder or its sub-folders")
    media: list[MediaInfo] = []
    labels: list[Label] = []
    keys: list[bytes] = []
    for sequence in sequences:
        info, sequence_labels = _sequence(sequence, class_name, keys)
        media.append(info)
        labels.extend(sequence_labels)
    try:
        ontology = Ontology.from_json([{"name": class_name, "shape": ShapeType.POLYGON}], source=str(path))
    except OntologyError as exc:
        raise SessionFormatError(f"{path}: class name: {exc}") from exc
    dataset = Dataset(ontology, media, labels)
    dataset.source_key = content_key(b"\0".join(keys))
    return dataset


def _pngs(folder: Path) -> dict[int, Path]:
    out: dict[int, Path] = {}
    for entry in folder.iterdir():
        match = _FRAME.match(entry.name)
        if match and entry.is_file() and not entry.is_symlink():
            index = int(match.group(1))
            if index in out:
                raise SessionFormatError(f"{entry}: frame {index} has two masks ({out[index].name})")
            out[index] = entry
    return out


def _frame_count(folder: Path, last: int) -> int:
    """The frames of ``Annotations/<res>/<seq>`` from ``JPEGImages/<res>/<seq>`` when it exists."""
    parts = folder.parts
    if "Annotations" in parts:
        at = len(parts) - 1 - parts[::-1].index("Annotations")
        images = Path(*parts[:at], "JPEGImages", *parts[at + 1 :])
        if images.is_dir() and not images.is_symlink():
            count = sum(1 for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
            if count > last:
                return count
    return last + 1


def _read_index(file: Path, keys: list[bytes]) -> np.ndarray:
    from PIL import Image

    data = read_capped(file)
    keys.append(hashlib.sha256(data).digest())
    try:
        check_header(file, data)  # the declared size within the limits before decoding
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            if image.mode == "LA":  # grey with an alpha channel (some DAVIS-2016 annotations)
                image = image.getchannel("L")
            if image.mode not in ("P", "L"):
                raise SessionFormatError(f"{file}: a {image.mode} PNG; DAVIS masks are palette or grey (8-bit ids)")
            index = np.array(image, np.uint8)
            if image.mode == "L" and index.max(initial=0) == VOID and np.isin(index, (0, VOID)).all():
                return (index == VOID).astype(np.uint8)  # DAVIS-2016: a binary grey mask, 255 = the object
            return index
    except FramewiseError as exc:
        if isinstance(exc, SessionFormatError):
            raise
        raise SessionFormatError(f"{file}: {exc}") from exc
    except (OSError, SyntaxError, ValueError, zlib.error) as exc:  # what Pillow raises for a broken PNG
        raise SessionFormatError(f"{file}: not a readable PNG ({' '.join(str(exc).split())})") from None


def _sequence(folder: Path, class_name: str, keys: list[bytes]) -> tuple[MediaInfo, list[Label]]:
    pngs = _pngs(folder)
    frames = _frame_count(folder, max(pngs))
    check_frames(frames, str(folder))
    name = media_name(folder.name, where=str(folder))
    labels: list[Label] = []
    size: tuple[int, int] | None = None
    for frame_index in sorted(pngs):
        index = _read_index(pngs[frame_index], keys)
        if size is None:
            size = (index.shape[1], index.shape[0])
            check_frame_size(*size, str(pngs[frame_index]))
        elif (index.shape[1], index.shape[0]) != size:
            raise SessionFormatError(
                f"{pngs[frame_index]}: {index.shape[1]}x{index.shape[0]}, but the sequence's masks are {size[0]}x{size[1]}"
            )
        for object_id in np.unique(index).tolist():
            if object_id in (0, VOID):
                continue
            polygon = mask_to_polygon(index == object_id, tolerance=0, min_area=0)
            labels.append(Label(object_id, frame_index, class_name, polygon, source=LabelSource.MANUAL, media=name))
    assert size is not None
    return MediaInfo(name, "", size[0], size[1], frames, 0.0), labels
