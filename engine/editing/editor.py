"""The Editor: the one object the UI, the CLI and replay drive.

Every public call appends one `Event` to the session log, so a recorded session replayed
on the same media reproduces the same labels. Its collaborators: `Selection` (the object
being segmented), `engine.editing.checks` (what it refuses), `engine.editing.history`
(undo/redo), the frame server, and propagation and interpolation, which get plain values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.editing.checks import check_can_prompt, check_class_change, check_keyframes, check_sam_capable, check_shape_fits
from engine.editing.events import Event, SessionLog, normalise_point, normalise_shape
from engine.editing.history import ChangeSet, RecordingStore, step_history
from engine.editing.labels import EventSink, LabelStore, MemoryLabelStore
from engine.editing.selection import Selection
from engine.errors import EditorStateError, FrameIndexError
from engine.frames.server import FrameServer
from engine.media.fingerprint import media_info
from engine.media.open import open_media
from engine.ontology import Ontology, default_ontology
from engine.propagation.interpolate import fill_between
from engine.propagation.permanent import CachedFrames, PropagationProgress, PropagationResult, run_propagation
from engine.segment.base import Segmenter
from engine.types import QUALITY_DEFAULT, Label, LabelSource, Prompt, Proposal, Shape, check_quality


class Editor:
    """SAM-assisted labelling of one media at a time.

    segmenter: the backend answering prompts (classic or sam).
    ontology: the classes; the first SAM-capable one is active at start.
    store: where applied labels go (in memory unless a project store is given). A store
        that is an `EventSink` (a `engine.project.Project`) gets every event; one with
        ``add_media`` registers each opened media.
    frame_server_options: keyword arguments for `engine.frames.server.FrameServer`.
    on_progress: called with each `PropagationProgress` of a run (on the editor's thread).
    auto_propagate: `apply` with permanent drawing on propagates (replay turns it off).
    """

    def __init__(
        self,
        segmenter: Segmenter,
        ontology: Ontology | None = None,
        store: LabelStore | None = None,
        *,
        quality: float = QUALITY_DEFAULT,
        frame_server_options: dict | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.ontology = ontology or default_ontology()
        self.store: LabelStore = store if store is not None else MemoryLabelStore()
        self.log = SessionLog()
        if isinstance(self.store, EventSink):
            sink = self.store
            self.log.subscribe(lambda event: sink.record_event(event, self.media_name or None))
        self.quality = check_quality(quality)
        self.sam_mode = False
        self.permanent = False
        self.on_progress: Callable[[PropagationProgress], None] | None = None
        self.auto_propagate = True
        capable = [c.name for c in self.ontology if c.sam_capable]
        self.class_name = capable[0] if capable else self.ontology.names[0]
        self.frame_index = 0
        self.selection = Selection()
        self.media_name = ""
        self._server: FrameServer | None = None
        self._owns_source = False
        self._server_options = dict(frame_server_options or {})
        self._cancel: threading.Event | None = None

    # -- media and navigation -------------------------------------------------------

    def open(self, media) -> None:
        """Open a media path (video, image, folder, glob) or an already open FrameSource."""
        source = open_media(media) if isinstance(media, (str, Path)) else media
        if hasattr(self.store, "add_media"):
            try:
                self.store.add_media(media_info(source, str(getattr(source, "path", media))))
            except BaseException:
                if isinstance(media, (str, Path)):
                    source.close()
                raise
        self.close()
        self._owns_source = isinstance(media, (str, Path))
        self._server = FrameServer(source, self.segmenter, quality=self.quality, **self._server_options)
        self.media_name = str(getattr(source, "path", media))
        self.frame_index = 0
        self.selection = Selection()
        self._server.set_cursor(0)
        segmenter = self.segmenter  # recorded so that a session export knows what made the labels
        self._record("open", media=self.media_name, frames=len(source), size=list(self.frame_size),
                     backend=str(getattr(segmenter, "name", type(segmenter).__name__)),
                     model=str(getattr(segmenter, "model", "")), quality=self.quality)

    @property
    def server(self) -> FrameServer:
        if self._server is None:
            raise EditorStateError("no media is open: call open(media) first")
        return self._server

    @property
    def source(self):
        return self.server.source

    @property
    def frame_size(self) -> tuple[int, int]:
        """(width, height) of the open media's frames."""
        return tuple(self.source.size)

    def frame(self) -> np.ndarray:
        """The current frame, H×W×3 uint8 RGB."""
        return self.server.get_frame(self.frame_index)

    def goto(self, frame_index: int) -> None:
        """Move to ``frame_index``; an unapplied selection is dropped."""
        count = len(self.source)
        if not 0 <= frame_index < count:
            raise FrameIndexError(f"frame {frame_index} is out of range: {self.media_name} has {count} frames")
        self.frame_index = int(frame_index)
        self.selection = Selection()
        self.server.set_cursor(self.frame_index)
        self._record("goto")

    # -- class, SAM mode, quality ---------------------------------------------------

    @property
    def active_class(self):
        return self.ontology[self.class_name]

    @property
    def sam_active(self) -> bool:
        """SAM mode is on and the active class can use it (polygon or bounding box)."""
        return self.sam_mode and self.active_class.sam_capable

    def set_class(self, name: str) -> None:
        """Make ``name`` the active class. SAM mode stays as it is; the selection is kept."""
        self.ontology[name]  # raises OntologyError naming the classes
        self.class_name = name
        self._record("class", name=name)

    def toggle_sam(self) -> bool:
        """Switch SAM mode on or off (Shift+A); returns the new state."""
        if not self.sam_mode:
            check_sam_capable(self.active_class)
        self.sam_mode = not self.sam_mode
        if not self.sam_mode:
            self.selection = Selection()
        self._record("sam", on=self.sam_mode)
        return self.sam_mode

    def set_quality(self, quality: float) -> None:
        """Set the speed/quality slider (0.2 Faster … 0.6 Default … 1.0 Higher quality).

        A selection in progress is segmented again at the new quality.
        """
        self.quality = check_quality(quality)
        if self._server is not None:
            self._server.set_quality(self.quality)
        self._record("quality", value=self.quality)
        if self._server is not None and not self.selection.empty:
            self.selection.proposal = None
            self._predict()

    def set_permanent(self, on: bool) -> None:
        """Permanent drawing: applied objects are carried to the next frames (propagator)."""
        self.permanent = bool(on)
        self._record("permanent", on=self.permanent)

    # -- prompts and the selection --------------------------------------------------

    def click(self, x: float, y: float, positive: bool = True) -> Proposal:
        """Add an include (left click) or exclude (right click) point at frame pixel
        centre (x, y)."""
        self._require_sam()
        width, height = self.frame_size
        Prompt(np.array([[x, y]], np.float32), np.array([1], np.int32)).check_inside(height, width)
        u, v = normalise_point(x, y, width, height)
        return self._prompt(self.selection.with_point(x, y, positive), "click", x=u, y=v, positive=bool(positive))

    def drag_box(self, x0: float, y0: float, x1: float, y1: float) -> Proposal:
        """Set the box prompt from a click-and-drag: corners in any order, in frame pixel
        edges (`engine.types`: pixels a..b inclusive are the box [a, b + 1))."""
        self._require_sam()
        width, height = self.frame_size
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        Prompt(box=np.array(box, np.float32)).check_inside(height, width)
        return self._prompt(self.selection.with_box(box, width, height), "box",
                            x0=box[0] / width, y0=box[1] / height, x1=box[2] / width, y1=box[3] / height)

    def cycle_candidate(self) -> int:
        """Show the next candidate mask (Tab); returns its index."""
        proposal = self._require_proposal()
        self.selection.candidate = (self.selection.candidate + 1) % len(proposal)
        self._record("candidate", index=self.selection.candidate)
        return self.selection.candidate

    def reset(self) -> None:
        """Drop the selection and start the object again."""
        self.selection = Selection()
        self._record("reset")

    def selection_mask(self) -> np.ndarray | None:
        """H×W bool of the shown candidate, or None when there is no proposal."""
        return self.selection.mask()

    def apply(self, object_id: int | None = None) -> Label:
        """Turn the selection into a label: a polygon or a box by the active class."""
        label_class = self.active_class
        shape = self.selection.shape(label_class.shape)
        selection = self.selection
        try:
            with self._transaction():  # label, event and undo record: one commit
                object_id = int(self.store.next_object_id() if object_id is None else object_id)
                label = Label(object_id, self.frame_index, label_class.name, shape, source=LabelSource.SAM,
                              score=selection.score, media=self.media_name)
                self.store.put(label)
                self.selection = Selection()
                self._record("apply", object_id=label.object_id, class_name=label.class_name)
        except BaseException:
            self.selection = selection
            raise
        if self.permanent and self.auto_propagate:
            self.propagate(1, object_ids=[label.object_id])
        return label

    def labels(self, frame_index: int | None = None) -> list[Label]:
        """Labels of the open media (of one frame when ``frame_index`` is given)."""
        return self.store.labels(self.media_name, frame_index)

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
        check_shape_fits(object_id, self.ontology[label.class_name], shape)
        label = replace(label, shape=shape, source=LabelSource.MANUAL)
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

    def undo(self, single: bool = False) -> ChangeSet | None:
        """Revert the newest change (apply, edit, delete, class change; a whole propagation
        run, unless ``single``); the last change set reverted, or None when there is none.
        Each change set reverted is one ``undo`` event."""
        return step_history(self._history(), "undo", single, lambda changeset: self._record("undo", **changeset.summary()))

    def redo(self, single: bool = False) -> ChangeSet | None:
        """Re-apply the most recently undone change (a whole propagation run unless ``single``)."""
        return step_history(self._history(), "redo", single, lambda changeset: self._record("redo", **changeset.summary()))

    # -- permanent drawing and interpolation ----------------------------------------

    def propagate(self, direction: int = 1, until: int | None = None,
                  object_ids: Iterable[int] | None = None) -> PropagationResult:
        """Carry the objects of the current frame (all, or ``object_ids``) frame by frame
        forwards (1) or backwards (-1) up to ``until`` or the next confirmed frame; labels
        land in the store as ``propagated``; lost objects flag their frame for review.
        One ``propagate`` event with the frame it reached, so a replay covers the same
        frames. Frames are read through the frame server, as the embeddings are: one decode."""
        server = self.server  # raises when no media is open
        self._cancel = threading.Event()
        result = run_propagation(
            CachedFrames(server.get_frame, len(server.source), server.iter_frames), self.store, self.media_name, self.frame_index,
            self.segmenter, quality=self.quality, embed=lambda frame_index, frame: server.get_embedding(frame_index),
            group=getattr(self.store, "group", None), direction=direction, until=until, object_ids=object_ids,
            cancel=self._cancel, progress=self.on_progress,
        )
        self._record("propagate", objects=list(result.object_ids), direction=direction, until=result.last,
                     changes=result.changes)
        return result

    def cancel_propagation(self) -> None:
        """Stop a running propagation before its next frame (safe from any thread)."""
        if self._cancel is not None:
            self._cancel.set()

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

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            if self._owns_source:
                self._server.source.close()
            self._server = None

    def __enter__(self) -> Editor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------

    def _require_sam(self) -> None:
        _ = self.server  # raises when no media is open
        check_can_prompt(self.sam_mode, self.active_class)

    def _require_proposal(self) -> Proposal:
        if self.selection.proposal is None:
            raise EditorStateError("nothing is selected: click or drag a box first")
        return self.selection.proposal

    def _require_label(self, object_id: int, frame_index: int | None) -> Label:
        _ = self.server  # raises when no media is open
        frame = self.frame_index if frame_index is None else int(frame_index)
        label = self.store.get(self.media_name, frame, int(object_id))
        if label is None:
            raise EditorStateError(f"no label of object {object_id} on frame {frame} of {self.media_name}")
        return label

    def _history(self) -> RecordingStore:
        if not isinstance(self.store, RecordingStore):
            raise EditorStateError(f"the label store {type(self.store).__name__} keeps no undo history")
        return self.store

    def _transaction(self) -> AbstractContextManager:
        return self.store.transaction() if isinstance(self.store, RecordingStore) else nullcontext()

    def _prompt(self, selection: Selection, kind: str, **data) -> Proposal:
        """Predict with ``selection``'s prompts; it stays the selection once the event is
        recorded (which may fail: a project on a full disk), else the old one comes back."""
        before, self.selection = self.selection, selection
        try:
            proposal = self._predict()
            self._record(kind, **data)
        except Exception:
            self.selection = before
            raise
        return proposal

    def _predict(self) -> Proposal:
        embedding = self.server.get_embedding(self.frame_index)
        proposal = self.segmenter.predict(embedding, self.selection.prompt())
        self.selection.proposal = proposal
        self.selection.candidate = 0
        return proposal

    def _record(self, kind: str, *, at_frame: int | None = None, **data) -> Event:
        frame = self.frame_index if self._server is not None else None
        return self.log.append(Event(kind, frame if at_frame is None else at_frame, data))
