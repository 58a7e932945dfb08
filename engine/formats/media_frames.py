"""Writing the labelled frames themselves beside an export (``framewise export --with-frames``),
so a dataset is self-contained.

`write_frames(dataset, out_dir, frames, name, locate)` writes each (media, frame index) of
``frames`` to ``out_dir / name(info, frame_index)``, atomically, never leaving ``out_dir``:
an image-folder frame is its original file, copied byte for byte (its name keeps the real
file name, so the suffix matches the content); a video frame is decoded and encoded by the
suffix of its name (``.jpg``: JPEG quality 95; ``.png`` lossless). ``locate(info)`` gives
the path of a media (`MediaLocator`: the media name as the project holds it, absolute or
relative to the working folder, else relative to the project folder); a media whose content
no longer matches its fingerprint, or that is missing, is refused with one line before
anything is written.

A format calls it with its own layout: COCO with ``images/<subset>/<file_name>`` for every
image entry; YOLO with the image path of each label file (`yolo.image_path`) for the
labelled frames (`labelled_frames` gives the labelled (media, frame) pairs in export order).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from engine.errors import ExportError, FramewiseError
from engine.fileio import atomic_write_bytes
from engine.formats.dataset import Dataset
from engine.formats.inputs import inside, safe_relative
from engine.formats.points import exported
from engine.media.fingerprint import media_fingerprint
from engine.media.open import open_media
from engine.types import MediaInfo

JPEG_QUALITY = 95

FrameName = Callable[[MediaInfo, int], str]
"""(media, frame index) -> the frame's path relative to the export folder."""


class MediaLocator:
    """Finds a dataset's media on disk: the name as it is (absolute, or relative to the
    working folder), else relative to ``base`` (the project folder); checks the fingerprint."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = base

    def __call__(self, info: MediaInfo) -> Path:
        candidates = [Path(info.name).expanduser()]
        if self.base is not None and not candidates[0].is_absolute():
            candidates.append(self.base / info.name)
        for path in candidates:
            if path.exists():
                if info.fingerprint and media_fingerprint(path) != info.fingerprint:
                    raise ExportError(
                        f"{path}: media {info.name!r} has changed since it was labelled (its fingerprint differs); "
                        "export without --with-frames, or restore the media"
                    )
                return path
        tried = ", ".join(str(p) for p in candidates)
        raise ExportError(f"media {info.name!r} not found (looked at {tried}); --with-frames needs the media")


def labelled_frames(dataset: Dataset) -> list[tuple[MediaInfo, int]]:
    """The (media, frame index) pairs holding an exportable label, in export order."""
    media = {info.name: info for info in dataset.media}
    seen: dict[tuple[str, int], tuple[MediaInfo, int]] = {}
    for label in dataset.sorted_labels():
        if exported(label.shape):
            seen.setdefault((label.media, label.frame_index), (media[label.media], label.frame_index))
    return list(seen.values())


def write_frames(
    dataset: Dataset,
    out_dir: str | Path,
    frames: Iterable[tuple[MediaInfo, int]],
    name: FrameName,
    locate: Callable[[MediaInfo], Path] | None = None,
) -> list[Path]:
    """Write the frames (see the module doc); returns the paths written."""
    out = Path(out_dir)
    locate = locate or MediaLocator()
    by_media: dict[str, list[int]] = {}
    infos: dict[str, MediaInfo] = {}
    for info, frame_index in frames:
        by_media.setdefault(info.name, []).append(frame_index)
        infos[info.name] = info
    paths = {key: locate(infos[key]) for key in by_media}  # every media found before the first write
    written: list[Path] = []
    for key, indexes in by_media.items():
        info, path = infos[key], paths[key]
        if info.frame_names and (path.is_dir() or path.name == info.frame_names[0]):  # a folder or one image
            for frame_index in indexes:
                relative = safe_relative(info.frame_names[frame_index], where=f"media {key!r}: frame name")
                source = inside(path, relative, where=key) if path.is_dir() else path
                written.append(_copy(source, _target(out, name(info, frame_index))))
            continue
        try:
            with open_media(path) as media:
                for frame_index in sorted(set(indexes)):
                    written.append(_encode(media.frame(frame_index), _target(out, name(info, frame_index))))
        except FramewiseError as exc:
            if isinstance(exc, ExportError):
                raise
            raise ExportError(f"{path}: cannot read the frames of media {key!r}: {exc}") from exc
    return written


def _target(out: Path, relative: str) -> Path:
    try:
        return inside(out, safe_relative(relative, where="frame file"), where="frame file")
    except FramewiseError as exc:
        raise ExportError(f"{out}: {exc}") from exc


def _copy(source: Path, target: Path) -> Path:
    try:
        with source.open("rb") as handle:
            return atomic_write_bytes(target, handle.read())
    except OSError as exc:
        raise ExportError(f"{source}: cannot read ({exc.strerror or exc})") from exc


def _encode(frame: np.ndarray, target: Path) -> Path:
    import cv2

    suffix = target.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if suffix in (".jpg", ".jpeg") else []
    pixels = frame[..., ::-1] if frame.ndim == 3 else frame  # RGB -> OpenCV's BGR
    ok, encoded = cv2.imencode(suffix or ".jpg", np.ascontiguousarray(pixels), params)
    if not ok:
        raise ExportError(f"{target}: image encoding failed")
    return atomic_write_bytes(target, encoded.tobytes())

