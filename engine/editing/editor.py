"""The Editor: the one object the UI, the CLI and replay drive.

Every public call appends one `Event` to the session log, so a recorded session replayed
on the same media reproduces the same labels. Its collaborators: `Selection` (the object
being segmented), `engine.editing.checks` (what it refuses), `engine.editing.history`
(undo/redo), the frame server, and propagation and interpolation, which get plain values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path

import numpy as np

from engine.editing.checks import check_can_prompt, check_sam_capable, check_shape_fits
from engine.editing.events import Event, SessionLog, normalise_point, normalise_shape
from engine.editing.history import ChangeSet, RecordingStore, step_history
from engine.editing.labels import EventSink, LabelStore, MemoryLabelStore
from engine.editing.object_edits import ObjectEdits
from engine.editing.runs import PropagationRuns
from engine.editing.selection import Selection
from engine.editing.shape_edit import clip_shape
from engine.errors import EditorStateError, FrameIndexError
from engine.frames.server import FrameServer
from engine.media.fingerprint import media_info
from engine.media.open import open_media
from engine.ontology import Ontology, default_ontology
from engine.propagation.background import PropagationJob
from engine.propagation.permanent import PropagationProgress
from engine.segment.base import Segmenter
from engine.types import QUALITY_DEFAULT, Label, LabelSource, Prompt, Proposal, Shape, check_quality


class Editor(ObjectEdits, PropagationRuns):
    """SAM-assisted labelling of one media at a time.

    segmenter: the backend answering prompts (classic or sam).
    ontology: the classes; the first SAM-capable one is active at start.
    store: where applied labels go (in memory unless a project store is given). A store
        that is an `EventSink` (a `engine.project.Project`) gets every event; one with
        ``add_media`` registers each opened media.
    frame_server_options: keyword arguments for `engine.frames.server.FrameServer`.
    on_progress: called with each `PropagationProgress` of a run (on the thread running it).
    background: `apply` with permanent drawing on starts the run in the background
        (`start_propagation`) instead of waiting for it (the UI turns it on).
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
        self.background = False
        capable = [c.name for c in self.ontology if c.sam_capable]
        self.class_name = capable[0] if capable else self.ontology.names[0]
        self.frame_index = 0
        self.selection = Selection()
        self.media_name = ""
        self._server: FrameServer | None = None
        self._owns_source = False
        self._server_options = dict(frame_server_options or {})
        self._cancel: threading.Event | None = None
        self._jobs: list[PropagationJob] = []  # background runs not yet collected
        self._jobs_lock = threading.Lock()

    # -- media and navigation -------------------------------------------------------

    def open(self, media) -> None:
        """Open a media path (video, image, folder, glob) or an already open FrameSource."""
        self.stop_propagations()
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

    def unclick(self) -> bool:
        """Take back the selection's last prompt (a point or the box): the selection goes
        back to what it was before it, proposal included. False (nothing recorded) when no
        prompt is pending."""
        before = self.selection
        if before.empty:
            return False
        self.selection = before.previous or Selection()
        try:
            self._record("unclick")
        except BaseException:
            self.selection = before
            raise
        return True

    def draw(self, shape: Shape, object_id: int | None = None) -> Label:
        """Store a label drawn by hand (a polygon, a box or a point of the active class's
        shape type; SAM mode need not be on): source manual, confirmed, one undo step.
        Coordinates as `engine.types` says (polygons and boxes pixel edges, points centres)."""
        _ = self.server  # raises when no media is open
        label_class = self.active_class
        width, height = self.frame_size
        shape = clip_shape(shape, width, height)
        self._stop_runs_at(object_id, self.frame_index)
        with self._transaction():
            object_id = int(self.store.next_object_id() if object_id is None else object_id)
            check_shape_fits(object_id, label_class, shape)
            label = Label(object_id, self.frame_index, label_class.name, shape, source=LabelSource.MANUAL,
                          media=self.media_name)
            self.store.put(label)
            self._record("draw", object_id=object_id, class_name=label_class.name,
                         shape=normalise_shape(shape, width, height))
        return label

    def selection_mask(self) -> np.ndarray | None:
        """H×W bool of the shown candidate, or None when there is no proposal."""
        return self.selection.mask()

    def apply(self, object_id: int | None = None) -> Label:
        """Turn the selection into a label: a polygon or a box by the active class."""
        label_class = self.active_class
        shape = self.selection.shape(label_class.shape)
        selection = self.selection
        self._stop_runs_at(object_id, self.frame_index)
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
            self._carry(label)
        return label

    def labels(self, frame_index: int | None = None) -> list[Label]:
        """Labels of the open media (of one frame when ``frame_index`` is given)."""
        return self.store.labels(self.media_name, frame_index)

    # -- changing applied labels (each one undoable step) ---------------------------

    def delete_label(self, object_id: int, frame_index: int | None = None) -> Label:
        """Delete object ``object_id``'s label on ``frame_index`` (default: the current frame)."""
        label = self._require_label(object_id, frame_index)
        self._stop_runs_at(label.object_id, label.frame_index)
        with self._transaction():
            self.store.delete(label.media, label.frame_index, label.object_id)
            self._record("delete", at_frame=label.frame_index, object_id=label.object_id)
        return label

    def edit_label(self, object_id: int, shape: Shape, frame_index: int | None = None) -> Label:
        """Replace a label's shape (vertices moved, box resized): the label becomes a
        person's (source manual, confirmed)."""
        label = self._require_label(object_id, frame_index)
        shape = clip_shape(shape, *self.frame_size)
        check_shape_fits(object_id, self.ontology[label.class_name], shape)
        self._stop_runs_at(label.object_id, label.frame_index)
        label = replace(label, shape=shape, source=LabelSource.MANUAL, confirmed=True)
        with self._transaction():
            self.store.put(label)
            self._record("edit", at_frame=label.frame_index, object_id=label.object_id,
                         shape=normalise_shape(shape, *self.frame_size))
        return label

    def undo(self, single: bool = False) -> ChangeSet | None:
        """Revert the newest change (apply, edit, delete, class change; a whole propagation
        run, unless ``single``); the last change set reverted, or None when there is none.
        Each change set reverted is one ``undo`` event. Background runs are stopped first."""
        self.stop_propagations()
        return step_history(self._history(), "undo", single, lambda changeset: self._record("undo", **changeset.summary()))

    def redo(self, single: bool = False) -> ChangeSet | None:
        """Re-apply the most recently undone change (a whole propagation run unless ``single``)."""
        self.stop_propagations()
        return step_history(self._history(), "redo", single, lambda changeset: self._record("redo", **changeset.summary()))

    # -- permanent drawing and interpolation ----------------------------------------

    # -- lifetime -------------------------------------------------------------------

    def close(self) -> None:
        self.stop_propagations()
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

    def _delete_group(self, kind: str, labels: list[Label], event: str, **data) -> None:
        """Delete ``labels`` as one change set (one undo step) and record ``event``."""
        group = self.store.group(kind) if isinstance(self.store, RecordingStore) else nullcontext()
        with self._transaction():
            with group:  # the change set is pushed on leaving it, before the event ties to it
                for label in labels:
                    self.store.delete(label.media, label.frame_index, label.object_id)
            self._record(event, **data)

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
