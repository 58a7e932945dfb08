"""Where applied labels live: a small store interface and its in-memory implementation.

The SQLite project store implements the same interface.
"""

from __future__ import annotations

from typing import Iterable, Protocol

from engine.types import Label


class LabelStore(Protocol):
    """Labels addressed by (media, frame index, object id)."""

    def put(self, label: Label) -> None:
        """Insert or replace the label of ``(label.media, label.frame_index, label.object_id)``."""
        ...

    def get(self, media: str, frame_index: int, object_id: int) -> Label | None: ...

    def delete(self, media: str, frame_index: int, object_id: int) -> bool: ...

    def labels(self, media: str | None = None, frame_index: int | None = None) -> list[Label]:
        """Labels sorted by (media, frame, object), optionally filtered."""
        ...

    def next_object_id(self) -> int:
        """An object id not used yet in this store (ids start at 1)."""
        ...


class MemoryLabelStore:
    """A `LabelStore` in a dict; lost when the process ends."""

    def __init__(self, labels: Iterable[Label] = ()) -> None:
        self._labels: dict[tuple[str, int, int], Label] = {}
        self._max_object_id = 0
        for label in labels:
            self.put(label)

    def put(self, label: Label) -> None:
        self._labels[(label.media, label.frame_index, label.object_id)] = label
        self._max_object_id = max(self._max_object_id, label.object_id)

    def get(self, media: str, frame_index: int, object_id: int) -> Label | None:
        return self._labels.get((media, frame_index, object_id))

    def delete(self, media: str, frame_index: int, object_id: int) -> bool:
        return self._labels.pop((media, frame_index, object_id), None) is not None

    def labels(self, media: str | None = None, frame_index: int | None = None) -> list[Label]:
        keys = sorted(
            k
            for k in self._labels
            if (media is None or k[0] == media) and (frame_index is None or k[1] == frame_index)
        )
        return [self._labels[k] for k in keys]

    def next_object_id(self) -> int:
        self._max_object_id += 1
        return self._max_object_id

    def __len__(self) -> int:
        return len(self._labels)
