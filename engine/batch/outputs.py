"""Where `framewise prelabel` may write: project names, the one path check, the folders it
owns, and the lock that keeps a second run out of ``--out``.

- `project_name`: a media's folder name, from its resolved path when the path itself ends
  in ``.`` or ``..`` (``frames/..`` names the real folder); never empty, ``.``, ``..``, with
  a separator or NUL, or starting with ``.`` (so it can never be the lock or a temporary
  file), and never ``manifest.json``. `assign_names` gives media that would share a name
  distinct folders (``<name>-<8 hex of the resolved path>``).
- `inside`: every path prelabel writes or removes goes through it: it must lie inside the
  resolved ``--out`` with no symbolic link on the way (``OUT/<name>`` a link is refused).
- Ownership: prelabel writes ``OUT/<name>/prelabel.json`` (its *marker*: ``status``
  ``running`` while it works, the `MediaResult` once ``done``) first thing in a folder it
  makes. A folder without a readable marker that holds anything is someone else's: it is
  refused (`ForeignFolderError`) and nothing in it is touched.
- `out_lock`: an exclusive ``flock`` on ``OUT/.prelabel.lock`` for the whole run, held by
  the driver process (local or Ray); the OS drops it when that process dies, even by
  SIGKILL, so a killed run never blocks the next one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from engine.errors import ProjectError
from engine.fileio import atomic_write_json
from engine.media.fingerprint import media_stem
from engine.media.images import is_glob_pattern

MANIFEST = "manifest.json"
LOCK = ".prelabel.lock"
MARKER = "prelabel.json"
RESERVED = frozenset({MANIFEST})


class OutsideOutError(ProjectError):
    """A path prelabel would write or remove that is outside ``--out`` or behind a symlink."""


class ForeignFolderError(ProjectError):
    """``OUT/<name>`` exists and is not a folder prelabel recorded as its own."""


class BusyError(ProjectError):
    """Another prelabel run holds the lock on ``--out``."""


def check_name(name: str) -> str:
    """``name`` if it is a safe folder name inside ``--out`` (see the module docstring)."""
    bad = (not name or name in (".", "..") or name.startswith(".") or "/" in name or "\\" in name
           or "\0" in name or name in RESERVED)
    if bad:
        raise OutsideOutError(f"{name!r}: not a usable project folder name (empty, dot, separator, NUL or reserved)")
    return name


def resolved_media(media: str) -> str:
    """The media's absolute path with ``.``/``..`` and links resolved (a glob: its folder
    resolved, the pattern kept)."""
    raw = os.fspath(media)
    try:
        path = Path(raw).expanduser()
        if not path.exists() and is_glob_pattern(PurePosixPath(raw.rstrip("/")).name):
            return str(path.parent.resolve() / path.name)
        return str(path.resolve())
    except (OSError, ValueError, RuntimeError):  # a name too long, a NUL (from a crafted manifest), a link loop
        return os.path.normpath(os.path.abspath(raw.replace("\0", "")))


def project_name(media: str) -> str:
    """The project folder name of ``media`` (see the module docstring)."""
    raw = os.fspath(media)
    path = PurePosixPath(raw.rstrip("/") or "/")
    glob = not Path(raw).expanduser().exists() and is_glob_pattern(path.name)
    if (path.parent if glob else path).name in ("", ".."):
        raw = resolved_media(raw)  # "frames/..", ".", "../*.jpg": the real folder's name
    stem = media_stem(raw)
    return stem if stem not in RESERVED else f"{stem}_"


def _suffixed(name: str, media: str) -> str:
    return f"{name}-{hashlib.sha256(resolved_media(media).encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


def assign_names(media: Sequence[str], taken: Mapping[str, str | None]) -> dict[str, str]:
    """{media: folder name}: `project_name`, unless another media of the run has the same
    name or ``taken`` (name -> the resolved media a manifest entry records, None when the
    entry is unreadable) gives it to another media: then ``<name>-<hash>``."""
    base = {item: project_name(item) for item in media}
    counts: dict[str, int] = {}
    for item in dict.fromkeys(media):
        counts[base[item]] = counts.get(base[item], 0) + 1
    names = {}
    for item in media:
        name = base[item]
        if counts[name] > 1 or (name in taken and taken[name] not in (None, resolved_media(item))):
            name = _suffixed(name, item)
        names[item] = check_name(name)
    return names


def inside(out: Path, path: Path) -> Path:
    """``path`` when it lies inside ``out`` (the resolved ``--out``) with no symbolic link
    from ``out`` down to it (the last component included); else `OutsideOutError`. Every
    path prelabel writes or removes passes here."""
    try:
        parts = path.relative_to(out).parts
    except ValueError:
        parts = ()
    if not parts or any(part in ("", ".", "..") or "\0" in part for part in parts):
        raise OutsideOutError(f"{path}: outside the output folder {out}; prelabel writes only inside it")
    current = out
    for part in parts:
        current = current / part
        if current.is_symlink():
            raise OutsideOutError(f"{current}: a symbolic link; prelabel does not write through links inside "
                                  f"{out}: remove the link (its target is left untouched) or use another --out")
    if not current.resolve().is_relative_to(out):
        raise OutsideOutError(f"{path}: resolves outside the output folder {out}; prelabel writes only inside it")
    return current


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The prelabel marker of ``folder`` (a dict with status running or done), or None."""
    path = folder / MARKER
    if path.is_symlink() or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("status") not in ("running", "done"):
        return None
    return data


def folder_state(out: Path, name: str) -> tuple[str, dict[str, Any] | None]:
    """``absent``, ``empty`` or ``ours`` (with its marker) for ``OUT/<name>``; raises
    `ForeignFolderError` (or `OutsideOutError` for a link) for anything else."""
    folder = inside(out, out / name)
    if not folder.exists():
        return "absent", None
    if not folder.is_dir():
        raise ForeignFolderError(f"{folder}: exists and is not a folder; prelabel leaves it untouched: "
                                 "move it away or use another --out")
    marker = read_marker(folder)
    if marker is not None:
        return "ours", marker
    try:
        # a worker killed while writing its first marker leaves only the marker's temporary file
        empty = all(_marker_leftover(entry.name) for entry in folder.iterdir())
    except OSError as exc:
        raise ForeignFolderError(f"{folder}: cannot list ({exc.strerror or exc}); it is left untouched") from exc
    if empty:
        return "empty", None
    raise ForeignFolderError(f"{folder}: exists and was not made by framewise prelabel (no {MARKER}); it is left "
                             "untouched: move it away or use another --out")


def _marker_leftover(name: str) -> bool:
    """A temporary file of an interrupted `write_marker` (`engine.fileio`'s naming)."""
    return name.startswith(f".{MARKER}.") and name.endswith(".tmp")


def claim(out: Path, name: str, marker: dict[str, Any]) -> Path:
    """Make (or take back) ``OUT/<name>`` as prelabel's and write ``marker`` (status running)."""
    state, _ = folder_state(out, name)
    folder = inside(out, out / name)
    if state == "absent":
        try:
            folder.mkdir()
        except FileExistsError as exc:  # made meanwhile by someone else: not ours
            raise ForeignFolderError(f"{folder}: appeared while prelabel was claiming it; it is left untouched") from exc
        except OSError as exc:
            raise ProjectError(f"{folder}: cannot create ({exc.strerror or exc})") from exc
    elif state == "empty":
        for entry in folder.iterdir():  # leftovers of a worker killed while claiming it
            remove(out, entry)
    write_marker(out, folder, marker)
    return folder


def write_marker(out: Path, folder: Path, marker: dict[str, Any]) -> None:
    atomic_write_json(inside(out, folder / MARKER), marker)


def remove(out: Path, path: Path) -> None:
    """Remove the file ``path`` (inside ``out``, see `inside`; a missing one is fine)."""
    try:
        inside(out, path).unlink(missing_ok=True)
    except OSError as exc:
        raise ProjectError(f"{path}: cannot remove ({exc.strerror or exc})") from exc


@contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Hold the exclusive lock on ``out`` (see the module docstring) or raise `BusyError`
    at once, naming the pid that holds it."""
    path = out / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise ProjectError(f"{path}: cannot open the prelabel lock ({exc.strerror or exc}); "
                           "remove it if it is a link or not a file") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise BusyError(f"{out}: another framewise prelabel (pid {holder}) is running on this folder; "
                            "wait for it to finish or use another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
