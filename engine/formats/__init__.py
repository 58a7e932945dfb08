"""Exports and imports: pure converters from a neutral `Dataset` plus thin writers.

Converters (no file access): `coco.to_coco` -> dict, `yolo.to_yolo` / `mot.to_mot` ->
{relative path: text}, `cvat_video.to_cvat_video` -> XML text of one media,
`davis.to_davis` -> (relative path, index mask) pairs. Writers: `writers.export_dataset`
(`writers.ExportOptions`; frames beside the labels: `media_frames.write_frames`).
Importers: `coco_import.import_coco`, `cvat_import.import_cvat_video`,
`cvat_images.import_cvat_images` -> `Dataset`.
Heavy modules (geometry, PIL, defusedxml) load only when a converter runs.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import SessionFormatError
from engine.formats.coco_import import import_coco
from engine.formats.cvat_images import import_cvat_images
from engine.formats.cvat_import import import_cvat_video
from engine.formats.dataset import Dataset, ImportSummary, media_stem
from engine.formats.davis_import import import_davis
from engine.formats.labelme_import import import_labelme
from engine.formats.labelstudio_import import import_label_studio
from engine.formats.mot_import import import_mot
from engine.formats.project_io import dataset_from_project, dataset_to_project
from engine.formats.writers import FORMATS, export_dataset
from engine.formats.yolo_import import import_yolo

IMPORT_FORMATS = ("coco", "cvat-video", "cvat-images", "label-studio", "labelme", "yolo", "mot", "davis")


def import_dataset(fmt: str, path: str | Path, *, media: str | Path | None = None) -> Dataset:
    """Read ``path`` in format ``fmt`` (one of `IMPORT_FORMATS`) as a `Dataset`.

    media: for ``yolo`` labels without their images, the video or image folder they label."""
    if media is not None and fmt != "yolo":
        raise SessionFormatError(f"a media is given only to a yolo import (YOLO files hold no frame size), not {fmt}")
    if fmt == "coco":
        return import_coco(path)
    if fmt == "cvat-video":
        return import_cvat_video(path)
    if fmt == "cvat-images":
        return import_cvat_images(path)
    if fmt == "label-studio":
        return import_label_studio(path)
    if fmt == "labelme":
        return import_labelme(path)
    if fmt == "yolo":
        return import_yolo(path, media=media)
    if fmt == "mot":
        return import_mot(path)
    if fmt == "davis":
        return import_davis(path)
    raise SessionFormatError(f"unknown import format {fmt!r}; formats: {', '.join(IMPORT_FORMATS)}")


__all__ = [
    "FORMATS",
    "IMPORT_FORMATS",
    "Dataset",
    "ImportSummary",
    "dataset_from_project",
    "dataset_to_project",
    "export_dataset",
    "import_dataset",
    "media_stem",
]
