"""Whole-object edits of the `engine.editing.editor.Editor`: class, name, deletion on every
frame, review (accept, outside/occluded) and interpolation between two keyframes. Each is
one undo step and one event. A mixin: the Editor holds the state it uses (declared here for
the type checker).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from typing import TYPE_CHECKING

from engine.editing.checks import check_class_change, check_keyframes
from engine.editing.history import ChangeSet, RecordingStore
from engine.errors import EditorStateError
from engine.propagation.interpolate import fill_between
from engine.types import Label

if TYPE_CHECKING:
    from engine.editing.events import Event
    from engine.editing.labels import LabelStore
    from engine.frames.server import FrameServer
    from engine.ontology import Ontology


class ObjectEdits:
    """The Editor's whole-object calls (see `engine.editing.editor.Editor`)."""

    ontology: Ontology
    store: LabelStore
    media_name: str

    if TYPE_CHECKING:
        @property
        def server(self) -> FrameServer: ...

        def _record(self, kind: str, *, at_frame: int | None = None, **data) -> Event: ...

        def _history(self) -> RecordingStore: ...

        def _transaction(self) -> AbstractContextManager: ...

        def _require_label(self, object_id: int, frame_index: int | None) -> Label: ...

        def _delete_group(self, kind: str, labels: list[Label], event: str, **data) -> None: ...

        def _stop_runs_at(self, object_id: int | None, frame_index: int) -> None: ...

    def change_class(self, object_id: int, class_name: str) -> ChangeSet | None:
        """Move object ``object_id`` (its labels on every frame) to another class of the same shape."""
        history = self._history()
        new = self.ontology[class_name]
        current = history.object(self.media_name, int(object_id))
        if current is None:
            raise EditorStateError(f"no object {object_id} in {self.media_name or 'this store'}")
        check_class_change(object_id, self.ontology[current.class_name], new)
        with self._transaction():
            changeset = history.set_object_class(self.media_name, int(object_id), class_name)
            self._record("relabel", object_id=int(object_id), class_name=class_name)
        return changeset

    def rename_object(self, object_id: int, name: str | None) -> ChangeSet | None:
        """Give object ``object_id`` a display name (None or "" clears it); None when unchanged."""
        history = self._history()
        name = (name or "").strip() or None
        with self._transaction():
            changeset = history.rename_object(self.media_name, int(object_id), name)
            if changeset is not None:
                self._record("rename", object_id=int(object_id), name=name)
        return changeset

    def delete_object(self, object_id: int) -> list[Label]:
        """Delete object ``object_id`` on every frame of the open media (its confirmed,
        propagated and interpolated labels alike): one undo step; returns the labels deleted."""
        _ = self.server  # raises when no media is open
        doomed = [label for label in self.store.labels(self.media_name) if label.object_id == int(object_id)]
        if not doomed:
            raise EditorStateError(f"no object {object_id} in {self.media_name}")
        self._delete_group("delete_object", doomed, "delete_object", object_id=int(object_id))
        return doomed

    def accept_label(self, object_id: int, frame_index: int | None = None) -> Label:
        """Accept a label flagged for review: its flag is cleared (shape and source kept)."""
        label = self._require_label(object_id, frame_index)
        label = replace(label, review=False)
        with self._transaction():
            self.store.put(label)
            self._record("review", at_frame=label.frame_index, object_id=label.object_id, action="accept")
        return label

    def mark_outside(self, object_id: int, frame_index: int | None = None, reason: str = "outside") -> list[Label]:
        """The object leaves the view (``outside``) or is hidden (``occluded``) from
        ``frame_index`` (default: the current frame) on: its label there and its unconfirmed
        labels after it, up to its next confirmed label (where it is back), are deleted. The
        ``review`` event (action = reason) is the marker. One undo step; the labels deleted."""
        if reason not in ("outside", "occluded"):
            raise EditorStateError(f"reason must be outside or occluded, not {reason!r}")
        first = self._require_label(object_id, frame_index)
        self._stop_runs_at(first.object_id, first.frame_index)
        later = sorted((label for label in self.store.labels(self.media_name)
                        if label.object_id == first.object_id and label.frame_index > first.frame_index),
                       key=lambda label: label.frame_index)
        doomed = [first]
        for label in later:
            if label.confirmed:
                break
            doomed.append(label)
        self._delete_group("review", doomed, "review", at_frame=first.frame_index, object_id=first.object_id,
                           action=reason)
        return doomed

    def interpolate(self, object_id: int, frame_a: int, frame_b: int) -> list[Label]:
        """Fill the frames strictly between two confirmed labels of ``object_id`` with shapes
        interpolated between them (`engine.propagation.interpolate`): source ``interpolated``,
        unconfirmed. Confirmed labels in between are kept, unconfirmed ones replaced. One
        undo step (none when nothing was written); returns the labels written."""
        low, high = sorted((int(frame_a), int(frame_b)))
        ends = [self._require_label(object_id, frame) for frame in (low, high)]
        check_keyframes(object_id, ends)
        group = self.store.group("interpolate") if isinstance(self.store, RecordingStore) else nullcontext()
        with self._transaction():
            with group:  # the change set is pushed on leaving it, before the event ties to it
                written = fill_between(self.store, ends[0], ends[1])
            self._record("interpolate", at_frame=low, object_id=int(object_id), frame_a=low, frame_b=high,
                         changes=int(bool(written)))
        return written
