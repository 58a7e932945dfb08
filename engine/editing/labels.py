"""Where applied labels live: a small store interface and its in-memory implementation.

The SQLite project store (`engine.project.Project`) implements the same interface; both
record every change for undo/redo through `engine.editing.history.RecordingStore`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Protocol, runtime_checkable

from engine.editing.events import Event
from engine.editing.history import Change, ChangeSet, ObjectRecord, RecordingStore
from engine.types import Label


class LabelStore(Protocol):
    """Labels addressed by (media, frame index, object id)."""

    def put(self, label: Label, *, kind: str | None = None) -> object:
        """Insert or replace the label of ``(label.media, label.frame_index, label.object_id)``;
        ``kind`` names the change (`engine.editing.history.RecordingStore.put`)."""
        ...

    def get(self, media: str, frame_index: int, object_id: int) -> Label | None: ...

    def delete(self, media: str, frame_index: int, object_id: int) -> bool: ...

    def labels(self, media: str | None = None, frame_index: int | None = None) -> list[Label]:
        """Labels sorted by (media, frame, object), optionally filtered."""
        ...

    def next_object_id(self) -> int:
        """An object id not used yet in this store (ids start at 1)."""
        ...


@runtime_checkable
class EventSink(Protocol):
    """A store that also keeps the session's events (`engine.project.Project`): the
    Editor subscribes ``record_event`` to its log, with the open media's name (None before
    one is open). Inside a store transaction the event is tied to that transaction's
    change sets."""

    def record_event(self, event: Event, media: str | None = None) -> int: ...


class MemoryLabelStore(RecordingStore):
    """A `LabelStore` in dicts, with undo/redo (`engine.editing.history`); lost when the process ends."""

    def __init__(self, labels: Iterable[Label] = ()) -> None:
        self._labels: dict[tuple[str, int, int], Label] = {}
        self._objects: dict[tuple[str, int], ObjectRecord] = {}
        self._max_object_id = 0
        self._done: list[ChangeSet] = []  # oldest first
        self._undone: list[ChangeSet] = []  # most recently undone last
        self._serial = 0
        self._journal: list[Change] | None = None  # rows written by the open transaction
        self._lock = threading.RLock()
        for label in labels:
            self.put(label)
        self._done.clear()  # the initial labels are not an undoable change

    def get(self, media: str, frame_index: int, object_id: int) -> Label | None:
        return self._labels.get((media, frame_index, object_id))

    def labels(self, media: str | None = None, frame_index: int | None = None) -> list[Label]:
        with self._lock:  # a background propagation may be writing
            keys = sorted(
                k
                for k in self._labels
                if (media is None or k[0] == media) and (frame_index is None or k[1] == frame_index)
            )
            return [self._labels[k] for k in keys]

    def object(self, media: str, object_id: int) -> ObjectRecord | None:
        return self._objects.get((media, object_id))

    def objects(self, media: str | None = None) -> list[ObjectRecord]:
        with self._lock:
            return [self._objects[k] for k in sorted(self._objects) if media is None or k[0] == media]

    def next_object_id(self) -> int:
        self._max_object_id += 1
        return self._max_object_id

    def __len__(self) -> int:
        return len(self._labels)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: an exception inside puts the rows and the history back as they
        were when it began (nested: as at the start of the inner one)."""
        with self._lock:  # the UI applies on a worker thread and edits on the Tk thread
            outer = self._journal is None
            if self._journal is None:
                self._journal = []
            journal = self._journal  # the outer transaction's, shared by nested ones
            mark = len(journal)
            history = (list(self._done), list(self._undone))
            try:
                yield
            except BaseException:
                for change in reversed(journal[mark:]):
                    self._store(change.inverse())
                del journal[mark:]
                self._done, self._undone = history
                raise
            finally:
                if outer:
                    self._journal = None

    def _object_label_count(self, media: str, object_id: int) -> int:
        with self._lock:
            return sum(1 for k in self._labels if k[0] == media and k[2] == object_id)

    def _write(self, change: Change) -> None:
        if self._journal is not None:
            self._journal.append(change)
        self._store(change)

    def _store(self, change: Change) -> None:
        row = change.after if change.after is not None else change.before
        assert row is not None, "a change has a row before or after it"
        if isinstance(row, Label):
            key = (row.media, row.frame_index, row.object_id)
            if change.after is None:
                self._labels.pop(key, None)
            else:
                self._labels[key] = row
                self._max_object_id = max(self._max_object_id, row.object_id)
        elif change.after is None:
            self._objects.pop((row.media, row.object_id), None)
        else:
            self._objects[(row.media, row.object_id)] = row
            # a label carries its object's class: keep the stored labels in step
            for key, label in self._labels.items():
                if key[0] == row.media and key[2] == row.object_id and label.class_name != row.class_name:
                    self._labels[key] = replace(label, class_name=row.class_name)

    def _push(self, changeset: ChangeSet) -> ChangeSet:
        self._serial += 1
        changeset = replace(changeset, id=self._serial)
        self._done.append(changeset)
        self._undone.clear()
        return changeset

    def _top(self, undone: bool) -> ChangeSet | None:
        stack = self._undone if undone else self._done
        return stack[-1] if stack else None

    def _mark(self, changeset: ChangeSet, undone: bool) -> None:
        source, target = (self._done, self._undone) if undone else (self._undone, self._done)
        assert source[-1] is changeset, "undo/redo acts on the top of its stack"
        target.append(source.pop())
