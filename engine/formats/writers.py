"""Thin writers: run a converter and write its files atomically under an output folder.

Layouts (relative to ``out_dir``):
- coco: ``annotations/instances_<subset>.json`` (compact JSON; subset ``default``), Datumaro's
  and CVAT's ``coco_instances`` layout; with frames, ``images/<subset>/<file_name>``
- yolo: ``data.yaml`` and ``labels/train/[<media stem>/]<frame>.txt`` per labelled frame; with
  frames, ``images/train/[<media stem>/]<frame>`` (the Ultralytics layout; no media folder for one media)
- cvat-video: ``<media stem>.xml`` per media
- cvat-images: ``<media stem>.xml`` per media (CVAT for images 1.1)
- mot: ``<media stem>/gt/gt.txt``, ``gt/labels.txt``, ``seqinfo.ini`` per media
- davis: ``<media stem>/<frame:05d>.png`` per labelled frame
- label-studio: ``label-studio.json`` (the tasks; `engine.formats.labelstudio`)
- labelme: ``<media stem>/<frame name stem>.json`` per labelled frame (`engine.formats.labelme`)
Point labels go into coco, cvat-video, cvat-images, labelme and label-studio
(`engine.formats.points`); yolo, mot and davis leave them out with a counting `FormatWarning`.
Files of earlier exports that this one does not write are left alone here; the CLI's
``--overwrite`` (`engine.formats.outdir.export_staged`) clears them.
``ExportOptions.with_frames`` also writes the labelled frames (`engine.formats.media_frames`)
for the formats in `FRAME_FORMATS`; the others refuse it in one line.

Work and memory follow the labels, never a media's declared frame count or the whole
output: COCO and CVAT text is streamed to its file piece by piece, DAVIS masks are made
one frame at a time, and only labelled frames get per-frame output. `Dataset.check` first
refuses media whose declared size breaks `engine.limits`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from engine.errors import ExportError, FormatWarning, SessionFormatError
from engine.fileio import atomic_write_bytes, atomic_write_chunks
from engine.formats.coco import coco_json_chunks, coco_parts
from engine.formats.cvat_video import cvat_image_name, cvat_images_chunks, cvat_video_chunks
from engine.formats.dataset import Dataset, frame_file_name, portable
from engine.formats.davis import OverlapCount, davis_palette, encode_indexed_png, to_davis
from engine.formats.inputs import inside, safe_relative
from engine.formats.labelme import labelme_files
from engine.formats.labelstudio import label_studio_files
from engine.formats.media_frames import MediaLocator, labelled_frames, write_frames
from engine.formats.mot import to_mot
from engine.formats.points import POINTLESS_FORMATS, without_points
from engine.formats.yolo import image_path, media_folders, to_yolo
from engine.types import MediaInfo

FORMATS = ("coco", "yolo", "cvat-video", "cvat-images", "mot", "davis", "label-studio", "labelme")
COCO_SUBSET = "default"
COCO_FILE = f"annotations/instances_{COCO_SUBSET}.json"
COCO_IMAGES = f"images/{COCO_SUBSET}"
FRAME_FORMATS = ("coco", "yolo", "labelme", "cvat-images")
"""The formats that can write the frames too (``--with-frames``)."""


@dataclass(frozen=True)
class ExportOptions:
    """with_frames: also write the frames each format's layout names (`FRAME_FORMATS`).
    locate: media -> its path on disk (default `media_frames.MediaLocator()`: the name as is)."""

    with_frames: bool = False
    locate: Callable[[MediaInfo], Path] | None = None


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


def write_coco(dataset: Dataset, out_dir: str | Path, options: ExportOptions | None = None) -> list[Path]:
    out = Path(out_dir)
    frames: list[Path] = []
    if options is not None and options.with_frames:
        parts = coco_parts(dataset)
        stems = dataset.stems()
        frames = write_frames(
            dataset, out, parts.frames,
            lambda info, k: f"{COCO_IMAGES}/{frame_file_name(info, k, stems[info.name])}", options.locate,
        )
    chunks = (chunk.encode("utf-8") for chunk in coco_json_chunks(dataset))
    written = atomic_write_chunks(_target(out, COCO_FILE), chunks)
    if not frames:  # Datumaro's coco_instances reader wants the images folder, even empty
        _target(out, COCO_IMAGES).mkdir(parents=True, exist_ok=True)
    return [written, *frames]


def write_yolo(dataset: Dataset, out_dir: str | Path, options: ExportOptions | None = None) -> list[Path]:
    files = to_yolo(dataset)  # checks the dataset before any frame is written
    frames: list[Path] = []
    if options is not None and options.with_frames:
        folders = media_folders(dataset)
        frames = write_frames(
            dataset, out_dir, labelled_frames(dataset),
            lambda info, k: image_path(info, k, folders[info.name]), options.locate,
        )
    return [*write_files(files, out_dir), *frames]


def write_cvat_video(dataset: Dataset, out_dir: str | Path) -> list[Path]:
    dataset.check()
    stems, out = dataset.stems(), Path(out_dir)
    # every media is checked (by cvat_video_chunks) before the first file is written
    files = [(f"{stems[info.name]}.xml", cvat_video_chunks(dataset, info.name, checked=True)) for info in dataset.media]
    return [atomic_write_chunks(_target(out, name), (c.encode("utf-8") for c in chunks)) for name, chunks in files]


def write_cvat_images(dataset: Dataset, out_dir: str | Path, options: ExportOptions | None = None) -> list[Path]:
    dataset.check()
    stems, out = dataset.stems(), Path(out_dir)
    # every media is checked (by cvat_images_chunks) before the first file is written
    files = [(f"{stems[info.name]}.xml", cvat_images_chunks(dataset, info.name, checked=True)) for info in dataset.media]
    written = [atomic_write_chunks(_target(out, name), (c.encode("utf-8") for c in chunks)) for name, chunks in files]
    if options is not None and options.with_frames:
        # where Datumaro's cvat reader looks: images/<subset = the XML's stem>/<the <image> name>
        # (a video's frames keep CVAT's extensionless name, frame_000123, and hold JPEG)
        wanted = [(info, k) for info in dataset.media if info.frame_names for k in range(len(info.frame_names))]
        wanted += [(info, k) for info, k in labelled_frames(dataset) if not info.frame_names]
        written += write_frames(
            dataset, out, wanted, lambda info, k: f"images/{stems[info.name]}/{cvat_image_name(info, k)}",
            options.locate,
        )
    return written


def write_mot(dataset: Dataset, out_dir: str | Path) -> list[Path]:
    return write_files(to_mot(dataset), out_dir)


def write_davis(dataset: Dataset, out_dir: str | Path) -> list[Path]:
    out = Path(out_dir)
    palette = davis_palette()
    overlaps = OverlapCount()
    written = [
        atomic_write_bytes(_target(out, rel), encode_indexed_png(index, palette))
        for rel, index in to_davis(dataset, overlaps)
    ]
    if overlaps.pixels:
        warnings.warn(overlaps.message(), FormatWarning, stacklevel=2)
    return written


def write_label_studio(dataset: Dataset, out_dir: str | Path) -> list[Path]:
    return write_files(label_studio_files(dataset), out_dir)


def write_labelme(dataset: Dataset, out_dir: str | Path, options: ExportOptions | None = None) -> list[Path]:
    files = labelme_files(dataset)  # checks the dataset before any frame is written
    frames: list[Path] = []
    if options is not None and options.with_frames:
        # each JSON's image beside it, as LabelMe opens them: every image of a folder, a
        # video's labelled frames
        stems = dataset.stems()
        labelled = labelled_frames(dataset)
        wanted = [(info, k) for info in dataset.media if info.frame_names for k in range(len(info.frame_names))]
        wanted += [(info, k) for info, k in labelled if not info.frame_names]
        frames = write_frames(
            dataset, out_dir, wanted, lambda info, k: frame_file_name(info, k, stems[info.name]), options.locate
        )
    return [*write_files(files, out_dir), *frames]


WRITERS: dict[str, Callable[[Dataset, str | Path], list[Path]]] = {
    "coco": write_coco,
    "yolo": write_yolo,
    "cvat-video": write_cvat_video,
    "cvat-images": write_cvat_images,
    "mot": write_mot,
    "davis": write_davis,
    "label-studio": write_label_studio,
    "labelme": write_labelme,
}

FRAME_WRITERS: dict[str, Callable[[Dataset, str | Path, ExportOptions], list[Path]]] = {
    "coco": write_coco,
    "yolo": write_yolo,
    "labelme": write_labelme,
    "cvat-images": write_cvat_images,
}
"""The writers of `FRAME_FORMATS`, called with the options."""


def export_dataset(
    dataset: Dataset, fmt: str, out_dir: str | Path, options: ExportOptions | None = None
) -> list[Path]:
    """Write ``dataset`` in format ``fmt`` (one of `FORMATS`) under ``out_dir``."""
    if fmt not in WRITERS:
        raise ExportError(f"unknown export format {fmt!r}; formats: {', '.join(FORMATS)}")
    if fmt in POINTLESS_FORMATS:  # no single keypoint there: point labels left out, counted
        dataset = without_points(dataset, fmt)
    # no export holds a local absolute path: such a media is written by its file name
    dataset, originals = portable(dataset)
    if options is not None and options.with_frames:
        find = options.locate or MediaLocator()
        options = replace(options, locate=lambda info: find(originals[info.name]))
        if fmt not in FRAME_FORMATS:
            raise ExportError(f"--with-frames: the {fmt} export cannot write frames yet; formats: {', '.join(FRAME_FORMATS)}")
        return FRAME_WRITERS[fmt](dataset, out_dir, options)
    return WRITERS[fmt](dataset, out_dir)
