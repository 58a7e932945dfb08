"""Undo and redo shared by the label stores.

A user-level change (apply, edit, delete, class change, rename) is one `ChangeSet`: the
rows it touched, each as (before, after), ``None`` meaning "absent". Undo writes the
``before`` rows back newest change set first; redo writes the ``after`` rows again; a new
change after some undos discards the redo branch (a linear history, unbounded).

`RecordingStore` turns the `LabelStore` calls into change sets on top of a few storage
primitives, so the in-memory store and the SQLite project share one set of rules:
- an object (one thing tracked across frames) has one class: a label put with another
  class moves the whole object to that class (recorded, so undo moves it back);
- an object exists while it has labels: deleting its last label deletes it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace

from engine.errors import EditorStateError
from engine.types import Label


@dataclass(frozen=True)
class ObjectRecord:
    """One object of one media: its stable id, class and optional display name."""

    media: str
    object_id: int
    class_name: str
    name: str | None = None


Row = Label | ObjectRecord


# eq=False: rows hold numpy arrays, so change records compare by identity.
@dataclass(frozen=True, eq=False)
class Change:
    """One stored row before and after a change (None: the row does not exist)."""

    before: Row | None
    after: Row | None

    def inverse(self) -> Change:
        return Change(self.after, self.before)


@dataclass(frozen=True, eq=False)
class ChangeSet:
    """One undoable user-level change.

    kind: what the person did (apply, edit, delete, relabel, rename, or a group's name).
    changes: the rows in the order they were written; undo writes them back in reverse.
    id: increasing with age within a store (0 before the store numbered it).
    """

    kind: str
    changes: tuple[Change, ...]
    id: int = 0

    @property
    def labels(self) -> list[Label]:
        """The labels it touched, as they are after it (before it, for a deleted one)."""
        rows = [c.after if c.after is not None else c.before for c in self.changes]
        return [row for row in rows if isinstance(row, Label)]

    def summary(self) -> dict:
        """JSON-able description for event logs: kind, id and the touched label keys."""
        keys = [[label.media, label.frame_index, label.object_id] for label in self.labels]
        objects = sorted({row.object_id for c in self.changes for row in (c.before, c.after) if row is not None})
        return {"change": self.kind, "change_id": self.id, "labels": keys, "objects": objects}


class RecordingStore(ABC):
    """A `LabelStore` whose every change is recorded for undo/redo.

    Subclasses provide storage: `get`, `labels`, `object`, `objects`, `_object_label_count`,
    `_write` (make one row equal ``change.after``), the history stack (`_push`, `_top`,
    `_mark`) and `transaction` (all-or-nothing; nested calls join the outer one).
    """

    _group: list[Change] | None = None

    # -- storage primitives ---------------------------------------------------------

    @abstractmethod
    def get(self, media: str, frame_index: int, object_id: int) -> Label | None: ...

    @abstractmethod
    def labels(self, media: str | None = None, frame_index: int | None = None) -> list[Label]: ...

    @abstractmethod
    def object(self, media: str, object_id: int) -> ObjectRecord | None: ...

    @abstractmethod
    def objects(self, media: str | None = None) -> list[ObjectRecord]: ...

    @abstractmethod
    def next_object_id(self) -> int: ...

    @abstractmethod
    def _object_label_count(self, media: str, object_id: int) -> int: ...

    @abstractmethod
    def _write(self, change: Change) -> None:
        """Make the row of ``change`` equal to ``change.after`` (delete it when None)."""

    @abstractmethod
    def _push(self, changeset: ChangeSet) -> ChangeSet:
        """Store ``changeset`` as the newest (numbered) and drop every undone one."""

    @abstractmethod
    def _top(self, undone: bool) -> ChangeSet | None:
        """The change set undo (undone=False) or redo (undone=True) would act on."""

    @abstractmethod
    def _mark(self, changeset: ChangeSet, undone: bool) -> None: ...

    def transaction(self) -> AbstractContextManager:
        return nullcontext()

    def _check_label(self, label: Label) -> None:  # noqa: B027 (an optional hook, not abstract: no check by default)
        """Raise if ``label`` cannot be stored (unknown media, class, source …)."""

    def _check_class(self, class_name: str) -> None:  # noqa: B027 (an optional hook, not abstract: no check by default)
        """Raise if ``class_name`` is not a class of this store."""

    # -- changes --------------------------------------------------------------------

    def put(self, label: Label, *, kind: str | None = None) -> ChangeSet:
        """Insert or replace the label of ``(label.media, label.frame_index, label.object_id)``.

        kind: the change set's kind (default: apply for a new label, edit for a replaced one).
        """
        with self.transaction():
            self._check_label(label)
            changes = []
            current = self.object(label.media, label.object_id)
            wanted = ObjectRecord(label.media, label.object_id, label.class_name, current.name if current else None)
            if current != wanted:
                changes.append(Change(current, wanted))
            before = self.get(label.media, label.frame_index, label.object_id)
            changes.append(Change(before, label))
            return self._record(kind or ("apply" if before is None else "edit"), changes)

    def delete(self, media: str, frame_index: int, object_id: int) -> bool:
        """Delete one label (and its object with its last label); False when there is none."""
        with self.transaction():
            before = self.get(media, frame_index, object_id)
            if before is None:
                return False
            changes = [Change(before, None)]
            if self._object_label_count(media, object_id) == 1:
                changes.append(Change(self.object(media, object_id), None))
            self._record("delete", changes)
            return True

    def set_object_class(self, media: str, object_id: int, class_name: str) -> ChangeSet | None:
        """Move an object (all its labels) to another class; None when it already is."""
        self._check_class(class_name)
        with self.transaction():
            current = self._require_object(media, object_id)
            if current.class_name == class_name:
                return None
            return self._record("relabel", [Change(current, replace(current, class_name=class_name))])

    def rename_object(self, media: str, object_id: int, name: str | None) -> ChangeSet | None:
        """Give an object a display name (None clears it); None when nothing changed."""
        with self.transaction():
            current = self._require_object(media, object_id)
            if current.name == name:
                return None
            return self._record("rename", [Change(current, replace(current, name=name))])

    @contextmanager
    def group(self, kind: str) -> Iterator[None]:
        """Record every change made inside as one change set (one undo step), e.g. a propagation.
        The group is open inside the store's transaction, which holds the store's lock: a
        thread writing beside another one's group (a background propagation) waits for it."""
        with self.transaction():
            if self._group is not None:
                yield
                return
            self._group = []
            try:
                yield
                changes, self._group = self._group, None
                if changes:
                    self._push(ChangeSet(kind, tuple(changes)))
            finally:
                self._group = None

    def undo(self) -> ChangeSet | None:
        """Revert the newest change set not undone yet; None when there is none."""
        self._require_no_group("undo")
        with self.transaction():
            changeset = self._top(undone=False)
            if changeset is None:
                return None
            for change in reversed(changeset.changes):
                self._write(change.inverse())
            self._mark(changeset, True)
            return changeset

    def redo(self) -> ChangeSet | None:
        """Re-apply the most recently undone change set; None when there is none."""
        self._require_no_group("redo")
        with self.transaction():
            changeset = self._top(undone=True)
            if changeset is None:
                return None
            for change in changeset.changes:
                self._write(change)
            self._mark(changeset, False)
            return changeset

    # -- read-only queries ------------------------------------------------------------

    def history_state(self) -> tuple[bool, bool]:
        """(there is a change set to undo, there is one to redo)."""
        return self._top(undone=False) is not None, self._top(undone=True) is not None

    def label_flags(self, media: str, first: int | None = None, last: int | None = None) -> list[tuple[int, str, bool]]:
        """(frame index, source, review) of each label of ``media`` on frames ``first`` to
        ``last`` (inclusive; None: unbounded), by frame: a timeline's view, without shapes."""
        return [
            (label.frame_index, label.source, label.review)
            for label in self.labels(media)
            if (first is None or label.frame_index >= first) and (last is None or label.frame_index <= last)
        ]

    def label_tracks(self, media: str, first: int | None = None, last: int | None = None) -> list[tuple[int, int, str, bool]]:
        """(object id, frame index, source, review) of each label of ``media`` on frames
        ``first`` to ``last`` (inclusive; None: unbounded), by object and frame: a track
        panel's view, without shapes."""
        rows = [(label.object_id, label.frame_index, str(label.source), label.review) for label in self.labels(media)
                if (first is None or label.frame_index >= first) and (last is None or label.frame_index <= last)]
        return sorted(rows)

    # -- internals ------------------------------------------------------------------

    def _record(self, kind: str, changes: list[Change]) -> ChangeSet:
        for change in changes:
            self._write(change)
        if self._group is not None:
            self._group.extend(changes)
            return ChangeSet(kind, tuple(changes))
        return self._push(ChangeSet(kind, tuple(changes)))

    def _require_object(self, media: str, object_id: int) -> ObjectRecord:
        current = self.object(media, object_id)
        if current is None:
            raise EditorStateError(f"no object {object_id} in media {media!r}")
        return current

    def _require_no_group(self, what: str) -> None:
        if self._group is not None:
            raise EditorStateError(f"cannot {what} while a change group is being recorded")


RUN_PREFIX = "propagate:"
"""Change sets of one propagation run share a kind starting with this (one per frame)."""


def step_history(
    history: RecordingStore, kind: str, single: bool, record: Callable[[ChangeSet], object]
) -> ChangeSet | None:
    """Undo (``kind="undo"``) or redo (``"redo"``) the newest change set in ``history``,
    calling ``record`` with each one reverted inside the same transaction (the Editor logs
    an event there, which the project ties the change set to). A propagation run writes one
    change set per frame (each frame is committed on its own); for the person it is one
    step, so its frames go back together unless ``single``. Returns the last change set
    stepped, or None when there was none."""
    with history.transaction():
        changeset = history.undo() if kind == "undo" else history.redo()
        if changeset is not None:
            record(changeset)
        run = changeset.kind if changeset is not None and changeset.kind.startswith(RUN_PREFIX) else None
        while run is not None and not single:
            following = history._top(undone=kind == "redo")
            if following is None or following.kind != run:
                break
            changeset = history.undo() if kind == "undo" else history.redo()
            if changeset is None:  # not after a `_top` that found one
                break
            record(changeset)
    return changeset
