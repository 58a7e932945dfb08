"""Project work the window starts from its menus (runs on the editor thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.errors import ExportError
from engine.formats.outdir import export_staged
from engine.formats.project_io import dataset_from_project
from engine.formats.writers import export_dataset


def export_labels(editor: Any, fmt: str, folder: str | Path, *, replace: bool = False) -> list[Path]:
    """Export the open project's labels in ``fmt`` (one of `engine.formats.FORMATS`) to
    ``folder`` as `framewise export` does: limits checked first, files staged and moved in
    without following a link below ``folder``, nothing left behind when refused; a folder
    that holds files is refused unless ``replace`` (``--overwrite``). The files."""
    store = editor.store
    if not hasattr(store, "integrity_check"):
        raise ExportError("exporting needs a project: start the editor with --project DIR")
    dataset = dataset_from_project(store)
    dataset.check()
    return export_staged(lambda staging: export_dataset(dataset, fmt, staging), Path(folder),
                         existing="overwrite" if replace else "refuse")
