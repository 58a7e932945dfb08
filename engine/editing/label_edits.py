"""The Editor's changes to applied labels, its undo/redo, and permanent drawing.

A mixin of `engine.editing.editor.Editor` (kept apart so each module stays small); it uses the
Editor's store, media and event log.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import replace

from engine.errors import EditorStateError
from engine.editing.events import normalise_shape
from engine.editing.history import ChangeSet, RecordingStore
from engine.types import Box, Label, Shape


class LabelEditing:
    """delete / edit / change class / undo / redo of applied labels, and propagation."""

    on_progress = None  # called with engine.propagation.permanent.PropagationProgress (on the editor's thread)
    auto_propagate = True  # apply() with permanent drawing on propagates (replay turns it off)
    _cancel: threading.Event | None = None

    # -- changing applied labels (each one undoable step) ---------------------------

    def delete_label(self, object_id: int, frame_index: int | None = None) -> Label:
        """Delete object ``object_id``'s label on ``frame_index`` (default: the current frame)."""
        label = self._require_label(object_id, frame_index)
        with self._transaction():
            self.store.delete(label.media, label.frame_index, label.object_id)
            self._record("delete", at_frame=label.frame_index, object_id=label.object_id)
        return label

    def edit_label(self, object_id: int, shape: Shape, frame_index: int | None = None) -> Label:
        """Replace a label's shape (vertices moved, box resized); its source becomes manual."""
        label = self._require_label(object_id, frame_index)
        if isinstance(shape, Box) != (self.ontology[label.class_name].shape == "bounding_box"):
            raise EditorStateError(
                f"object {object_id} is a {self.ontology[label.class_name].shape} ({label.class_name!r}): "
                f"cannot give it a {type(shape).__name__}"
            )
        label = replace(label, shape=shape, source="manual")
        with self._transaction():
            self.store.put(label)
            self._record("edit", at_frame=label.frame_index, object_id=label.object_id,
                         shape=normalise_shape(shape, *self.frame_size))
        return label

    def change_class(self, object_id: int, class_name: str) -> ChangeSet | None:
        """Move object ``object_id`` (its labels on every frame) to another class of the same shape."""
        history = self._history()
        new = self.ontology[class_name]
        current = history.object(self.media_name, int(object_id))
        if current is None:
            raise EditorStateError(f"no object {object_id} in {self.media_name or 'this store'}")
        if self.ontology[current.class_name].shape != new.shape:
            raise EditorStateError(
                f"object {object_id} is a {self.ontology[current.class_name].shape}: "
                f"class {class_name!r} takes {new.shape} shapes"
            )
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

    def undo(self, single: bool = False) -> ChangeSet | None:
        """Revert the newest change (apply, edit, delete, class change; a whole propagation
        run, unless ``single``); the last change set reverted, or None when there is none.
        Each change set reverted is one ``undo`` event."""
        return self._step("undo", single)

    def redo(self, single: bool = False) -> ChangeSet | None:
        """Re-apply the most recently undone change (a whole propagation run unless ``single``)."""
        return self._step("redo", single)

    def _history(self) -> RecordingStore:
        if not isinstance(self.store, RecordingStore):
            raise EditorStateError(f"the label store {type(self.store).__name__} keeps no undo history")
        return self.store

    def _transaction(self):
        return self.store.transaction() if isinstance(self.store, RecordingStore) else nullcontext()

    def _step(self, kind: str, single: bool) -> ChangeSet | None:
        history = self._history()
        with self._transaction():
            changeset = history.undo() if kind == "undo" else history.redo()
            if changeset is not None:
                self._record(kind, **changeset.summary())
            # A propagation run writes one change set per frame (each frame is committed on
            # its own); for the person it is one step, so its frames go back together.
            run = changeset.kind if changeset is not None and changeset.kind.startswith("propagate:") else None
            while run is not None and not single:
                following = history._top(undone=kind == "redo")
                if following is None or following.kind != run:
                    break
                changeset = history.undo() if kind == "undo" else history.redo()
                self._record(kind, **changeset.summary())
        return changeset

    def _require_label(self, object_id: int, frame_index: int | None) -> Label:
        self.server  # raises when no media is open
        frame = self.frame_index if frame_index is None else int(frame_index)
        label = self.store.get(self.media_name, frame, int(object_id))
        if label is None:
            raise EditorStateError(f"no label of object {object_id} on frame {frame} of {self.media_name}")
        return label


    # -- permanent drawing ----------------------------------------------------------

    def propagate(self, direction: int = 1, until: int | None = None, object_ids=None):
        """Carry the objects of the current frame (all, or ``object_ids``) frame by frame
        forwards (1) or backwards (-1) up to ``until`` or the next confirmed frame; labels
        land in the store as ``propagated``; lost objects flag their frame for review.
        Returns an `engine.propagation.permanent.PropagationResult`. Recorded as one ``propagate``
        event with the frame it reached, so a replay covers the same frames."""
        from engine.propagation.permanent import run_propagation

        self.server  # raises when no media is open
        self._cancel = threading.Event()
        result = run_propagation(self, direction=direction, until=until, object_ids=object_ids,
                                 cancel=self._cancel, progress=self.on_progress)
        self._record("propagate", objects=list(result.object_ids), direction=direction, until=result.last,
                     changes=result.changes)
        return result

    def interpolate(self, object_id: int, frame_a: int, frame_b: int) -> list[Label]:
        """Fill the frames strictly between two confirmed labels of ``object_id`` with shapes
        interpolated between them (`engine.propagation.interpolate`): source ``interpolated``,
        unconfirmed. Confirmed labels in between are kept, unconfirmed ones replaced. One
        undo step (none when nothing was written); returns the labels written."""
        from engine.propagation.interpolate import interpolate_labels

        low, high = sorted((int(frame_a), int(frame_b)))
        ends = [self._require_label(object_id, frame) for frame in (low, high)]
        for end in ends:
            if not end.confirmed:
                raise EditorStateError(
                    f"object {object_id} on frame {end.frame_index} is not confirmed ({end.source}): "
                    "interpolation runs between confirmed labels"
                )
        written: list[Label] = []
        group = self.store.group("interpolate") if isinstance(self.store, RecordingStore) else nullcontext()
        with self._transaction():
            with group:
                for frame_index in range(low + 1, high):
                    existing = self.store.get(self.media_name, frame_index, int(object_id))
                    if existing is not None and existing.confirmed:
                        continue
                    label = interpolate_labels(ends[0], ends[1], frame_index)
                    self.store.put(label, kind="interpolate")
                    written.append(label)
            self._record("interpolate", at_frame=low, object_id=int(object_id), frame_a=low, frame_b=high,
                         changes=int(bool(written)))
        return written

    def cancel_propagation(self) -> None:
        """Stop a running propagation before its next frame (safe from any thread)."""
        if self._cancel is not None:
            self._cancel.set()
