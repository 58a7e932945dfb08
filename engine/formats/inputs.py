"""Reading import files defensively: a size cap, names that must stay inside a folder, and
the checks every value read from an import file passes before it can reach the project:
ids within SQLite's INTEGER (`check_id`), frame counts and sizes within `engine.limits`
(`check_frames`, `check_frame_size`), text that can be stored as UTF-8 (`check_text`)."""

from __future__ import annotations

import hashlib
import math
import re
import stat
from pathlib import Path, PurePosixPath

from engine.errors import SessionFormatError
from engine.limits import MAX_FRAME_PIXELS, MAX_FRAMES, MAX_ID

MAX_IMPORT_BYTES = 256 * 1024 * 1024
"""Import files larger than this are refused before they are read."""

_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def content_key(data: bytes) -> str:
    """The key a project remembers an imported file by: the SHA-256 of its bytes, so the
    same file reached by a relative or an absolute path (or copied) is the same import."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_text(value: str, where: str) -> str:
    """``value``, if it can be written as UTF-8 (SQLite, JSON and XML exports need that).

    JSON can carry a lone surrogate as an escape (``"\\ud800"``); Python keeps it in a
    `str`, and the first write to SQLite raised `UnicodeEncodeError`.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SessionFormatError(
            f"{where}: text {value[:40]!r} holds {value[exc.start]!r} at position {exc.start}, a lone surrogate "
            "that is not a character (a broken \\u escape); fix the text"
        ) from None
    return value


def check_id(value: int, where: str, *, low: int = 0, high: int = MAX_ID) -> int:
    """``value`` if ``low <= value <= high`` (default: an id SQLite's INTEGER can hold)."""
    if not low <= value <= high:
        raise SessionFormatError(f"{where}: {_shown(value)} is outside {low}..{high}")
    return value


def _shown(value: int) -> str:
    return str(value) if value.bit_length() <= 128 else f"a {value.bit_length()}-bit number"


def check_frames(frames: int, where: str) -> int:
    """A media's frame count, refused over `MAX_FRAMES` (exports write one entry per frame)."""
    if frames > MAX_FRAMES:
        raise SessionFormatError(f"{where}: {frames} frames is over the limit of {MAX_FRAMES}")
    return frames


def check_frame_size(width: int, height: int, where: str) -> None:
    """A frame size, refused over `MAX_FRAME_PIXELS` (exports allocate whole-frame masks)."""
    if width * height > MAX_FRAME_PIXELS:
        raise SessionFormatError(
            f"{where}: frame size {width}x{height} is over the limit of {MAX_FRAME_PIXELS} pixels"
        )


def read_capped(path: str | Path, max_bytes: int = MAX_IMPORT_BYTES) -> bytes:
    """The bytes of the regular file ``path``; `SessionFormatError` if missing or too large."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SessionFormatError(f"{path}: not a regular file")
        if info.st_size > max_bytes:
            raise SessionFormatError(f"{path}: {info.st_size} bytes is over the import limit of {max_bytes} bytes")
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        raise SessionFormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise SessionFormatError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    if len(data) > max_bytes:
        raise SessionFormatError(f"{path}: over the import limit of {max_bytes} bytes")
    return data


def safe_relative(name: object, *, where: str) -> PurePosixPath:
    """``name`` as a relative POSIX path that cannot leave its folder.

    Rejects non-strings, empty names, absolute paths (``/x``, ``\\\\x``, ``C:x``), ``..``
    components and control characters; backslashes count as separators.
    """
    if not isinstance(name, str) or not name.strip():
        raise SessionFormatError(f"{where}: expected a non-empty relative path, got {name!r}")
    if _CONTROL.search(name):
        raise SessionFormatError(f"{where}: control characters in path {name!r}")
    text = name.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise SessionFormatError(f"{where}: absolute path {name!r} is not allowed")
    path = PurePosixPath(text)
    if any(part == ".." for part in path.parts):
        raise SessionFormatError(f"{where}: path {name!r} leaves its folder ('..')")
    return path


MAX_MEDIA_NAME = 4096


def media_name(name: object, *, where: str) -> str:
    """A media name read from an import file, checked to be usable as a name.

    A media name is a key (`Label.media`, the project's ``media.name``), never a path that
    framewise opens: exports derive their file names from it through `media_stem`, and the
    Editor opens only paths the user gives. So ``../../etc/passwd`` is kept as it is (a
    project exported on another machine keeps its names), but names that could not be
    shown on one line or are absurdly long are refused: non-strings, empty or blank names,
    control characters, more than `MAX_MEDIA_NAME` characters, text that is not UTF-8.
    """
    if not isinstance(name, str) or not name.strip():
        raise SessionFormatError(f"{where}: expected a non-empty media name, got {name!r}")
    if _CONTROL.search(name):
        raise SessionFormatError(f"{where}: control characters in media name {name[:80]!r}")
    if len(name) > MAX_MEDIA_NAME:
        raise SessionFormatError(f"{where}: media name of {len(name)} characters (at most {MAX_MEDIA_NAME})")
    return check_text(name, where)


def inside(root: Path, relative: PurePosixPath, *, where: str) -> Path:
    """``root / relative``, refusing one that resolves (through symlinks) outside ``root``."""
    target = root / Path(*relative.parts) if relative.parts else root
    try:
        real_root = root.resolve()
        real = target.resolve()
    except OSError as exc:
        raise SessionFormatError(f"{where}: cannot resolve {target} ({exc})") from exc
    if real != real_root and real_root not in real.parents:
        raise SessionFormatError(f"{where}: {relative} resolves outside {root} (symlink?)")
    return target


class JsonFields:
    """Typed field access whose errors name the file and the field."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> SessionFormatError:
        return SessionFormatError(f"{self.source}: {where}: {message}")

    def get(self, item: dict, key: str, where: str, kind, *, required: bool = True, default=None):
        """``item[key]`` of type ``kind``; strings must be UTF-8 text, integers fit 64 bits."""
        if key not in item:
            if required:
                raise self.fail(where, f"missing key {key!r}")
            return default
        value = item[key]
        ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
        field = key if where == "top level" else f"{where}.{key}"
        if not ok:
            raise self.fail(field, f"expected {_kind_name(kind)}, got {type(value).__name__}")
        if isinstance(value, str):
            check_text(value, f"{self.source}: {field}")
        elif isinstance(value, int) and not isinstance(value, bool) and not -MAX_ID - 1 <= value <= MAX_ID:
            raise self.fail(field, f"{_shown(value)} does not fit a 64-bit integer (as ids and sizes are stored)")
        return value

    def text_map(self, item: dict, key: str, where: str) -> dict[str, str]:
        """An optional ``{name: text}`` field (attributes), every key and value checked."""
        values = self.get(item, key, where, dict, required=False, default={})
        for name, value in values.items():
            check_text(name, f"{self.source}: {where}.{key}")
            if not isinstance(value, str):
                raise self.fail(f"{where}.{key}.{name}", f"expected a string, got {type(value).__name__}")
            check_text(value, f"{self.source}: {where}.{key}.{name}")
        return dict(values)

    def list_of(self, item: dict, key: str) -> list:
        """A top-level list field."""
        return self.get(item, key, "top level", list)

    def number(self, value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
            raise self.fail(where, f"expected a finite number, got {value!r}")
        return float(value)


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too long for a float
        return False


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind) -> str:
    names = {
        int: "an integer", str: "a string", list: "a list", dict: "an object", bool: "true/false", float: "a number"
    }
    return " or ".join(dict.fromkeys(names.get(k, k.__name__) for k in _as_tuple(kind)))
