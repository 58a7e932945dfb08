"""Putting export files into the user's ``--out`` folder without ever leaving it.

``--out`` itself is the user's choice: it may be a symbolic link, and it is opened (and so
resolved) once, in `OutFolder`. Nothing *below* it is written, replaced or created through
a link: every folder on the way to a target is opened relative to its parent with
``O_NOFOLLOW`` (a link put there meanwhile fails the open instead of being followed), and
the file is renamed into that folder's descriptor, which replaces a directory entry and
never writes through one. `OutFolder.check` refuses, with one line, a target that is a link
or not a plain file, and a folder on the way that is a link or not a folder, so an export
checks every target first and moves nothing when one is refused.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from engine.errors import ExportError
from engine.project.folder import missing_folders

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class OutFolder:
    """An open ``--out`` folder (a context manager); targets are paths relative to it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise ExportError(f"{path}: cannot open the output folder ({exc.strerror or exc})") from exc

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> OutFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check(self, relative: PurePosixPath, *, folder: bool = False) -> None:
        """`ExportError` unless ``relative`` can be written without following a link:
        each existing folder on the way is a real folder, the target is missing or a file
        (a real folder when ``folder``)."""
        fd = os.dup(self._fd)
        current = self.path
        try:
            for index, part in enumerate(relative.parts):
                current = current / part
                last = index == len(relative.parts) - 1
                try:
                    mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
                except FileNotFoundError:
                    return  # this and what is below it will be created
                except OSError as exc:
                    raise ExportError(f"{current}: cannot check ({exc.strerror or exc}); nothing was written") from exc
                if stat.S_ISLNK(mode):
                    raise _refuse(current, self.path, "is a symbolic link")
                if last and folder:
                    if not stat.S_ISDIR(mode):
                        raise _refuse(current, self.path, "exists and is not a folder")
                    return
                if last and not stat.S_ISREG(mode):
                    raise _refuse(current, self.path, "exists and is not a plain file")
                if not last:
                    if not stat.S_ISDIR(mode):
                        raise _refuse(current, self.path, "exists and is not a folder")
                    fd = self._enter(fd, part, current)
        finally:
            os.close(fd)

    def place(self, source: Path, relative: PurePosixPath) -> Path:
        """Move the file ``source`` (a staged file on the same file system) to ``relative``."""
        fd, current = self._descend(os.dup(self._fd), relative.parts[:-1])
        try:
            target = current / relative.name
            try:
                if stat.S_ISLNK(os.stat(relative.name, dir_fd=fd, follow_symlinks=False).st_mode):
                    raise _refuse(target, self.path, "is a symbolic link")
            except FileNotFoundError:
                pass
            try:
                os.replace(source, relative.name, dst_dir_fd=fd)
            except OSError as exc:
                raise ExportError(f"{target}: cannot write ({exc.strerror or exc})") from exc
            return target
        finally:
            os.close(fd)

    def make_folder(self, relative: PurePosixPath) -> Path:
        """Create the folder ``relative`` (and those on the way), never through a link."""
        fd, current = self._descend(os.dup(self._fd), relative.parts)
        os.close(fd)
        return current

    def _descend(self, fd: int, parts: tuple[str, ...]) -> tuple[int, Path]:
        """Make (when missing) and enter each folder of ``parts`` below ``fd`` (the out
        folder's descriptor, owned from here on), never through a link: the innermost
        folder's descriptor (the caller closes it) and path; on failure every descriptor
        is closed."""
        current = self.path
        try:
            for part in parts:
                current = current / part
                try:
                    os.mkdir(part, dir_fd=fd)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise ExportError(f"{current}: cannot create the folder ({exc.strerror or exc})") from exc
                fd = self._enter(fd, part, current)
        except BaseException:
            os.close(fd)
            raise
        return fd, current

    def _enter(self, fd: int, part: str, where: Path) -> int:
        """The folder ``part`` of the open folder ``fd``, not following a link; ``fd`` is
        closed when that succeeds (the caller still owns it when this raises)."""
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _refuse(where, self.path, "is a symbolic link or not a folder") from exc
            raise ExportError(f"{where}: cannot open ({exc.strerror or exc})") from exc
        os.close(fd)
        return child


def _refuse(path: Path, out: Path, what: str) -> ExportError:
    return ExportError(
        f"{path}: {what}; an export never writes through links or over folders below --out {out} "
        "(remove it, or choose another --out); nothing was written"
    )


STAGING_PREFIX = ".framewise-export-"
TRASH_PREFIX = ".framewise-old-"
EXISTING = ("merge", "refuse", "overwrite")
"""What `export_staged` does with what ``--out`` already holds: ``merge`` (replace the files
written, keep the others: the UI's export), ``refuse`` (a non-empty ``--out`` is refused:
``framewise export``), ``overwrite`` (``framewise export --overwrite``: everything in it is
replaced, so no file of an earlier export is left for a trainer to read)."""


def export_staged(write: Callable[[Path], list[Path]], out: Path, *, existing: str = "merge") -> list[Path]:
    """Run ``write(folder)`` into a hidden staging folder inside ``out``, check every target
    (nothing below ``out`` is written through a symbolic link: `OutFolder`), then
    move the files into place: a failed or refused export leaves ``out`` as it was, and
    removes ``out`` (and the parents) when this command created it. ``existing``: see
    `EXISTING`. With ``overwrite`` the old entries are first moved aside (renamed, never
    followed) into a hidden folder in ``out``, moved back if placing the new files fails,
    and deleted once the new files are in."""
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {EXISTING}, got {existing!r}")
    made = missing_folders(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    except OSError as exc:
        if made:
            shutil.rmtree(made[0], ignore_errors=True)
        raise ExportError(f"{out}: cannot write ({exc.strerror or exc})") from exc
    trash: Path | None = None
    moved: list[str] = []
    placed: list[Path] = []
    try:
        relatives = [PurePosixPath(path.relative_to(staging).as_posix()) for path in write(staging)]
        # empty folders the writer made are part of the layout (Datumaro wants COCO's images/)
        folders = [
            PurePosixPath(path.relative_to(staging).as_posix())
            for path in sorted(staging.rglob("*"))
            if path.is_dir() and not path.is_symlink() and not any(path.iterdir())
        ]
        old = _entries(out, staging)
        if existing == "overwrite" and old:
            trash = Path(tempfile.mkdtemp(prefix=TRASH_PREFIX, dir=out))
            for name in old:
                try:
                    os.rename(out / name, trash / name)  # the entry itself: a link is moved, not followed
                except OSError as exc:
                    raise ExportError(f"{out / name}: cannot move aside ({exc.strerror or exc}); nothing was replaced") from exc
                moved.append(name)
        with OutFolder(out) as folder:
            for relative in relatives:  # all checked before the first one moves
                folder.check(relative)
            for relative in folders:
                folder.check(relative, folder=True)
            old = [name for name in old if not name.startswith((STAGING_PREFIX, TRASH_PREFIX))]
            if existing == "refuse" and old:
                shown = ", ".join(sorted(old)[:3]) + (", …" if len(old) > 3 else "")
                raise ExportError(
                    f"{out}: the folder is not empty ({len(old)} entries: {shown}); choose an empty or new --out, "
                    "or pass --overwrite to replace its contents; nothing was written"
                )
            for relative in relatives:
                placed.append(folder.place(staging / relative, relative))
            for relative in folders:
                folder.make_folder(relative)
            return placed
    except BaseException:
        if trash is not None:
            _restore(out, trash, moved, placed)
            trash = None
        if made:  # made[0] did not exist before this command
            shutil.rmtree(made[0], ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)


def _entries(out: Path, staging: Path) -> list[str]:
    """What ``out`` holds besides this export's staging folder; leftovers of a killed
    export (hidden staging or trash folders) count only for ``overwrite``, which clears them."""
    try:
        names = os.listdir(out)
    except OSError as exc:
        raise ExportError(f"{out}: cannot list ({exc.strerror or exc}); nothing was written") from exc
    return [name for name in names if name != staging.name]


def _restore(out: Path, trash: Path, moved: list[str], placed: list[Path]) -> None:
    """Put the moved-aside entries back after a failed overwrite (best effort)."""
    for path in placed:
        try:
            path.unlink()
        except OSError:
            pass
    for name in moved:
        try:
            if os.path.lexists(out / name):
                if (out / name).is_dir() and not (out / name).is_symlink():
                    shutil.rmtree(out / name, ignore_errors=True)
                else:
                    (out / name).unlink()
            os.rename(trash / name, out / name)
        except OSError:
            pass
    shutil.rmtree(trash, ignore_errors=True)
