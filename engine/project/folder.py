"""A project for one command: opened, or created when missing and taken back when the command fails.

    with open_or_create("runs/p", ontology) as (project, created):
        dataset_to_project(dataset, project)   # raises: a project created here is removed again

A command that fails leaves the disk as it found it: no new folder, no half-filled project.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from engine.errors import ProjectError
from engine.ontology import Ontology
from engine.project.files import SIDE_SUFFIXES, check_database_files
from engine.project.schema import PROJECT_FILE
from engine.project.store import Project


@contextmanager
def open_or_create(folder: str | Path, ontology: Ontology | None = None) -> Iterator[tuple[Project, bool]]:
    """``(project, created)`` for ``folder``: its project, or a new one with ``ontology``'s
    classes (the default ontology when None) when the folder holds none.

    The project is closed on leaving. When the block raises and the project was created
    here, its database files and the folders made for it are removed again; an existing
    project keeps whatever its own transactions committed (make the block one transaction
    to leave it unchanged).
    """
    folder = Path(folder)
    if (folder / PROJECT_FILE).exists():
        with Project.open(folder) as project:
            yield project, False
        return
    if folder.exists() and not folder.is_dir():
        raise ProjectError(f"{folder}: not a folder")
    check_database_files(folder / PROJECT_FILE)  # before: a failed create removes its files
    made = missing_folders(folder)
    try:
        project = Project.create(folder, ontology)
    except BaseException:
        remove_new_project(folder, made)
        raise
    try:
        with project:
            yield project, True
    except BaseException:
        remove_new_project(folder, made)
        raise


def missing_folders(folder: Path) -> list[Path]:
    """The folders from ``folder`` up that do not exist yet, outermost first."""
    missing = []
    current = Path(folder)
    while not current.exists() and current.parent != current:
        missing.append(current)
        current = current.parent
    return missing[::-1]


def remove_new_project(folder: Path, made: list[Path]) -> None:
    """Delete a just-created project's database files, then the folders in ``made`` (those
    created for it, outermost first) that are empty again. Never removes anything else."""
    for suffix in ("", *SIDE_SUFFIXES):
        (folder / f"{PROJECT_FILE}{suffix}").unlink(missing_ok=True)
    for path in reversed(made):
        try:
            path.rmdir()
        except OSError:  # not empty (something else was put there): keep it
            break
