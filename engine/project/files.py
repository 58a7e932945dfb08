"""The files of a project's database on disk, checked before SQLite opens or creates them.

SQLite keeps a database in ``project.sqlite`` and, beside it, a write-ahead log
(``-wal``), its shared-memory index (``-shm``) and a rollback journal (``-journal``). It
opens the side files by name and follows links: a ``project.sqlite-wal`` linking elsewhere
would make SQLite read or write another file, and a folder or FIFO in its place only gives
"unable to open database file". Each is refused first, with one line saying which and why.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from engine.errors import ProjectError

SIDE_SUFFIXES = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database: ``project.sqlite`` + suffix."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_database_files(path: Path) -> None:
    """Raise `ProjectError` when the database ``path`` or one of its side files (those that
    exist) is a symbolic link or not a regular file: framewise opens only plain files."""
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SIDE_SUFFIXES)):
        try:
            mode = os.lstat(candidate).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise ProjectError(f"{candidate}: cannot be checked ({exc.strerror or exc})") from exc
        if stat.S_ISLNK(mode):
            raise ProjectError(
                f"{candidate.parent}: {candidate.name} is a symbolic link: framewise does not follow links for its "
                "database files; remove it"
            )
        if not stat.S_ISREG(mode):
            raise ProjectError(
                f"{candidate.parent}: {candidate.name} is {_kind(mode)}, not a regular file: framewise keeps its "
                "database in plain files; remove it"
            )
