"""Project work the window starts from its menus (runs on the editor thread)."""

from __future__ import annotations

from pathlib import Path

from engine.errors import ExportError


def export_labels(editor, fmt: str, folder: str | Path) -> Path:
    """Export the open project's labels in ``fmt`` (coco, yolo, cvat-video, mot, davis) to ``folder``."""
    from engine.formats.dataset import Dataset
    from engine.formats.writers import export_dataset

    store = editor.store
    if not hasattr(store, "integrity_check"):
        raise ExportError("exporting needs a project: start the editor with --project DIR")
    export_dataset(Dataset.from_project(store), fmt, folder)
    return Path(folder)
