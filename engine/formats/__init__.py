"""Exports and imports: pure converters from a neutral `Dataset` plus thin writers.

Converters (no file access): `coco.to_coco` -> dict, `yolo.to_yolo` / `mot.to_mot` ->
{relative path: text}, `cvat_video.to_cvat_video` -> XML text of one media,
`davis.to_davis` -> (relative path, index mask) pairs. Writers: `writers.export_dataset`.
Importers: `coco_import.import_coco`, `cvat_import.import_cvat_video` -> `Dataset`.
Heavy modules (geometry, PIL, defusedxml) load only when a converter runs.
"""

from __future__ import annotations

from pathlib import Path

from engine.errors import SessionFormatError
from engine.formats.coco_import import import_coco
from engine.formats.cvat_import import import_cvat_video
from engine.formats.dataset import Dataset, ImportSummary, media_stem
from engine.formats.project_io import dataset_from_project, dataset_to_project
from engine.formats.writers import FORMATS, export_dataset

IMPORT_FORMATS = ("coco", "cvat-video")


def import_dataset(fmt: str, path: str | Path) -> Dataset:
    """Read ``path`` in format ``fmt`` (one of `IMPORT_FORMATS`) as a `Dataset`."""
    if fmt == "coco":
        return import_coco(path)
    if fmt == "cvat-video":
        return import_cvat_video(path)
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
