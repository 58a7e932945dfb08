"""Atomic writes: a crash leaves either the old file or the new one, never half of one."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ExportError

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder + os.replace."""
    return atomic_write_chunks(path, (data,))


def atomic_write_chunks(path: str | Path, chunks: Iterable[bytes]) -> Path:
    """`atomic_write_bytes` of the concatenated ``chunks``, written as they come (a large
    export is streamed, never held whole in memory)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            # mkstemp makes the file 0600; give it the permissions a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
            with os.fdopen(fd, "wb") as handle:
                for data in chunks:
                    handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ExportError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented UTF-8 JSON, atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an H×W×3 uint8 RGB (or H×W uint8) image; the format follows the suffix."""
    import cv2

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _IMAGE_SUFFIXES:
        raise ExportError(f"{path}: unknown image type {suffix!r}; use one of {', '.join(_IMAGE_SUFFIXES)}")
    pixels = image[..., ::-1] if image.ndim == 3 else image
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(pixels))
    if not ok:
        raise ExportError(f"{path}: image encoding failed")
    return atomic_write_bytes(path, encoded.tobytes())
