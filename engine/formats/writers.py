"""Thin writers: run a converter and write its files atomically under an output folder.

Layouts (relative to ``out_dir``):
- coco: ``annotations.json`` (compact JSON)
- yolo: ``data.yaml`` and ``labels/<media stem>/<frame>.txt`` per labelled frame
- cvat-video: ``<media stem>.xml`` per media
- mot: ``<media stem>/gt/gt.txt``, ``gt/labels.txt``, ``seqinfo.ini`` per media
- davis: ``<media stem>/<frame:05d>.png`` per labelled frame
Files of earlier exports that this one does not write are left alone.

Work and memory follow the labels, never a media's declared frame count or the whole
output: COCO and CVAT text is streamed to its file piece by piece, DAVIS masks are made
one frame at a time, and only labelled frames get per-frame output. `Dataset.check` first
refuses media whose declared size breaks `engine.limits`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.errors import ExportError, SessionFormatError
from engine.fileio import atomic_write_bytes, atomic_write_chunks
from engine.formats.coco import coco_json_chunks
from engine.formats.cvat_video import cvat_video_chunks
from engine.formats.dataset import Dataset
from engine.formats.davis import davis_palette, encode_indexed_png, to_davis
from engine.formats.inputs import inside, safe_relative
from engine.formats.mot import to_mot
from engine.formats.yolo import to_yolo

FORMATS = ("coco", "yolo", "cvat-video", "mot", "davis")
COCO_FILE = "annotations.json"


def _target(out_dir: Path, relative: str) -> Path:
    """``out_dir / relative``, refusing a name that would leave ``out_dir``."""
    try:
        path = safe_relative(relative, where="export file")
        # a folder on the way that is a symlink out of out_dir is refused too
        return inside(out_dir, path, where="export file")
    except SessionFormatError as exc:
        raise ExportError(f"{out_dir}: {exc}") from exc


def write_files(files: dict[str, str], out_dir: str | Path) -> list[Path]:
    """Write relative path -> UTF-8 text, atomically each; returns the paths written."""
    out = Path(out_dir)
    return [atomic_write_bytes(_target(out, rel), text.encode("utf-8")) for rel, text in files.items()]


def write_coco(dataset: Dataset, out_dir: str | Path) -> list[Path]:
    chunks = (chunk.encode("utf-8") for chunk in coco_json_chunks(dataset))
    return [atomic_write_chunks(Path(out_dir) / COCO_FILE, chunks)]


def write_yolo(dataset: Dataset, out_dir: str | Path) -> list[Path]:
    return write_files(to_yolo(dataset), out_dir)


def write_cvat_video(dataset: Dataset, out_dir: str | Path) -> list[Path]:
    dataset.check()
    stems, out = dataset.stems(), Path(out_dir)
    # every media is checked (by cvat_video_chunks) before the first file is written
    files = [(f"{stems[info.name]}.xml", cvat_video_chunks(dataset, info.name, checked=True)) for info in dataset.media]
    return [atomic_write_chunks(_target(out, name), (c.encode("utf-8") for c in chunks)) for name, chunks in files]


def write_mot(dataset: Dataset, out_dir: str | Path) -> list[Path]:
    return write_files(to_mot(dataset), out_dir)


def write_davis(dataset: Dataset, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    palette = davis_palette()
    return [
        atomic_write_bytes(_target(out, rel), encode_indexed_png(index, palette)) for rel, index in to_davis(dataset)
    ]


WRITERS: dict[str, Callable[[Dataset, str | Path], list[Path]]] = {
    "coco": write_coco,
    "yolo": write_yolo,
    "cvat-video": write_cvat_video,
    "mot": write_mot,
    "davis": write_davis,
}


def export_dataset(dataset: Dataset, fmt: str, out_dir: str | Path) -> list[Path]:
    """Write ``dataset`` in format ``fmt`` (one of `FORMATS`) under ``out_dir``."""
    if fmt not in WRITERS:
        raise ExportError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    return WRITERS[fmt](dataset, out_dir)
