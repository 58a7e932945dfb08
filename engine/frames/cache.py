"""Caches behind the `FrameServer`: an LRU bounded in bytes, and embeddings on disk.

The disk format is one ``.npz`` per (media, frame, segmenter, model, quality), written
atomically (temporary file + ``os.replace``) and read with ``allow_pickle=False``: a cache
file can be trusted no more than any other input, so it must never execute code.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from engine.types import Embedding

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DISK_FORMAT_VERSION = 1


@dataclass(frozen=True)
class CacheState:
    """A snapshot for a status bar. Bytes are in-memory sizes; budgets are the limits."""

    frames_cached: int
    frame_bytes: int
    frame_budget: int
    embeddings_cached: int
    embedding_bytes: int
    embedding_budget: int
    queued: int
    in_flight: int | None
    cursor: int | None
    quality: float
    computed: int
    disk_hits: int
    failures: int
    dropped: int

    def summary(self) -> str:
        mib = 1 << 20
        busy = f", computing {self.in_flight}" if self.in_flight is not None else ""
        return (
            f"frames {self.frames_cached} ({self.frame_bytes / mib:.0f}/"
            f"{self.frame_budget / mib:.0f} MiB) · "
            f"embeddings {self.embeddings_cached} ({self.embedding_bytes / mib:.0f}/"
            f"{self.embedding_budget / mib:.0f} MiB) · queued {self.queued}{busy}"
        )


class ByteLRU(Generic[K, V]):
    """A least-recently-used map whose values' total size stays within ``capacity_bytes``.

    ``sizeof(value)`` gives a value's size. A value larger than the whole capacity is not
    stored. Thread-safe (one internal lock).
    """

    def __init__(self, capacity_bytes: int, sizeof: Callable[[V], int]) -> None:
        if capacity_bytes < 0:
            raise ValueError(f"capacity must be >= 0 bytes, got {capacity_bytes}")
        self.capacity_bytes = int(capacity_bytes)
        self._sizeof = sizeof
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def touch(self, key: K) -> bool:
        """Mark ``key`` most recently used; False when absent."""
        with self._lock:
            if key not in self._items:
                return False
            self._items.move_to_end(key)
            return True

    def put(self, key: K, value: V) -> bool:
        """Store ``value``, evicting the least recently used; False if it cannot fit."""
        size = int(self._sizeof(value))
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._nbytes -= old[1]
            if size > self.capacity_bytes:
                return False
            while self._items and self._nbytes + size > self.capacity_bytes:
                _, (_, evicted) = self._items.popitem(last=False)
                self._nbytes -= evicted
                self.evictions += 1
            self._items[key] = (value, size)
            self._nbytes += size
            return True

    def pop(self, key: K) -> V | None:
        with self._lock:
            item = self._items.pop(key, None)
            if item is None:
                return None
            self._nbytes -= item[1]
            return item[0]

    def discard_where(self, predicate: Callable[[K], bool]) -> int:
        """Remove every key for which ``predicate(key)``; returns how many."""
        with self._lock:
            doomed = [k for k in self._items if predicate(k)]
            for k in doomed:
                self._nbytes -= self._items.pop(k)[1]
            return len(doomed)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._nbytes = 0

    def keys(self) -> list[K]:
        """Keys from least to most recently used (a snapshot)."""
        with self._lock:
            return list(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())

    @property
    def nbytes(self) -> int:
        with self._lock:
            return self._nbytes


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _safe_name(text: str, limit: int = 40) -> str:
    """A file-name-safe form of ``text``; a short hash keeps distinct texts distinct."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{_UNSAFE.sub('_', text)[:limit]}-{digest}"


def _meta_array(value: str | int | float) -> np.ndarray:
    if isinstance(value, (bool, np.bool_)):
        return np.asarray(int(value), np.int64)
    if isinstance(value, (int, np.integer)):
        return np.asarray(value, np.int64)
    if isinstance(value, (float, np.floating)):
        return np.asarray(value, np.float64)
    return np.asarray(str(value))  # a fixed-width unicode array: no pickle needed


def _meta_value(array: np.ndarray) -> str | int | float:
    item = array.item()
    if array.dtype.kind in "US":
        return str(item)
    return int(item) if array.dtype.kind in "iu" else float(item)


# What a damaged or crafted .npz can make numpy / zipfile raise (found by fuzzing: an
# unsupported zip version is NotImplementedError, an encrypted member RuntimeError).
_UNREADABLE = (OSError, ValueError, KeyError, TypeError, IndexError, OverflowError, EOFError, NotImplementedError,
               RuntimeError, zipfile.BadZipFile, zlib.error)


class DiskEmbeddingCache:
    """Embeddings as ``.npz`` files under ``root``, one folder per media fingerprint.

    Layout: ``root/<media fingerprint>/<segmenter name>_<model>/q<quality>/<frame>.npz``;
    names are sanitised and carry a hash of the raw text. Unreadable or mismatching files
    count as misses (and are removed), so a corrupt cache costs a recompute, never a crash.
    """

    def __init__(self, root: Path | str, media_key: str) -> None:
        self.root = Path(root)
        self.media_key = media_key

    def path_for(self, frame_index: int, backend: str, model: str, quality: float) -> Path:
        return (
            self.root / self.media_key[:32] / f"{_safe_name(backend, 16)}_{_safe_name(model)}"
            / f"q{quality:.4f}" / f"{frame_index:07d}.npz"
        )

    def load(self, frame_index: int, backend: str, model: str, quality: float) -> Embedding | None:
        path = self.path_for(frame_index, backend, model, quality)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["__version__"]) != DISK_FORMAT_VERSION:
                    return None
                emb = Embedding(
                    backend=str(data["__backend__"].item()),
                    model=str(data["__model__"].item()),
                    quality=float(data["__quality__"]),
                    frame_size=(int(data["__frame_size__"][0]), int(data["__frame_size__"][1])),
                    arrays={k[6:]: data[k] for k in data.files if k.startswith("array:")},
                    meta={k[5:]: _meta_value(data[k]) for k in data.files if k.startswith("meta:")},
                )
        except _UNREADABLE as exc:
            log.warning("ignoring unreadable embedding cache file %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return None
        if (emb.backend, emb.model) != (backend, model) or abs(emb.quality - quality) > 1e-6:
            return None
        return emb

    def save(self, frame_index: int, embedding: Embedding) -> Path:
        """Write atomically: readers see the old file or the complete new one, never half."""
        path = self.path_for(frame_index, embedding.backend, embedding.model, embedding.quality)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, np.ndarray] = {
            "__version__": np.asarray(DISK_FORMAT_VERSION, np.int64),
            "__backend__": np.asarray(embedding.backend),
            "__model__": np.asarray(embedding.model),
            "__quality__": np.asarray(embedding.quality, np.float64),
            "__frame_size__": np.asarray(embedding.frame_size, np.int64),
        }
        for name, array in embedding.arrays.items():
            array = np.asarray(array)
            if array.dtype.hasobject:
                raise TypeError(
                    f"embedding array {name!r} has dtype object; it cannot be cached without pickle")
            payload[f"array:{name}"] = array
        for name, value in embedding.meta.items():
            payload[f"meta:{name}"] = _meta_array(value)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **payload)  # type: ignore[arg-type]  # keys are array names, never allow_pickle
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path
