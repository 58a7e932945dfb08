"""The Editor: the one object the UI, the CLI and replay drive.

Every public call appends one `Event` to the session log, so a recorded session replayed
on the same media reproduces the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import geometry
from engine.errors import EditorStateError, FrameIndexError
from engine.editing.events import Event, SessionLog, normalise_point
from engine.editing.label_edits import LabelEditing
from engine.editing.labels import LabelStore, MemoryLabelStore
from engine.ontology import Ontology, default_ontology
from engine.segment.base import Segmenter
from engine.types import QUALITY_DEFAULT, Label, Prompt, Proposal, check_quality


@dataclass
class Selection:
    """The object being segmented on the current frame, before it is applied.

    points: N×2 float32 (x, y) frame pixels; labels: N int32 (1 include, 0 exclude).
    box: 4 float32 xyxy frame pixels or None.
    """

    points: list[tuple[float, float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    proposal: Proposal | None = None
    candidate: int = 0

    @property
    def empty(self) -> bool:
        return not self.points and self.box is None

    def prompt(self) -> Prompt:
        mask_input = None
        if self.proposal is not None and self.proposal.logits.ndim == 3:
            # The chosen candidate's low-res logits steer the next pass (SAM's refinement loop).
            mask_input = self.proposal.logits[self.candidate][None]
        return Prompt(np.array(self.points, np.float32).reshape(-1, 2), np.array(self.labels, np.int32), self.box, mask_input)


class Editor(LabelEditing):
    """SAM-assisted labelling of one media at a time.

    segmenter: the backend answering prompts (classic or sam).
    ontology: the classes; the first SAM-capable one is active at start.
    store: where applied labels go (in memory unless a project store is given). A store
        with ``attach`` (a `engine.project.Project`) persists every event; one with
        ``add_media`` registers each opened media.
    frame_server_options: keyword arguments for `engine.frames.server.FrameServer`.
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
        if hasattr(self.store, "attach"):
            self.store.attach(self)
        self.quality = check_quality(quality)
        self.sam_mode = False
        self.permanent = False
        capable = [c.name for c in self.ontology if c.sam_capable]
        self.class_name = capable[0] if capable else self.ontology.names[0]
        self.frame_index = 0
        self.selection = Selection()
        self.media_name = ""
        self._server = None
        self._owns_source = False
        self._server_options = dict(frame_server_options or {})

    # -- media and navigation -------------------------------------------------------

    def open(self, media) -> None:
        """Open a media path (video, image, folder, glob) or an already open FrameSource."""
        from engine.frames.server import FrameServer
        from engine.media.open import open_media

        source = open_media(media) if isinstance(media, (str, Path)) else media
        if hasattr(self.store, "add_media"):
            from engine.media.fingerprint import media_info

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
    def server(self):
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

    # -- class and SAM mode ---------------------------------------------------------

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
        if not self.sam_mode and not self.active_class.sam_capable:
            raise EditorStateError(
                f"class {self.class_name!r} is a {self.active_class.shape} class: "
                "SAM works only with polygon and bounding-box classes"
            )
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

    # -- prompts --------------------------------------------------------------------

    def click(self, x: float, y: float, positive: bool = True) -> Proposal:
        """Add an include (left click) or exclude (right click) point at frame pixel (x, y)."""
        self._require_sam()
        width, height = self.frame_size
        Prompt(np.array([[x, y]], np.float32), np.array([1], np.int32)).check_inside(height, width)
        s = self.selection
        before = (list(s.points), list(s.labels), s.proposal, s.candidate)
        s.points.append((float(x), float(y)))
        s.labels.append(1 if positive else 0)
        try:
            proposal = self._predict()
            u, v = normalise_point(x, y, width, height)
            self._record("click", x=u, y=v, positive=bool(positive))  # may fail: a project on a full disk
        except Exception:
            s.points, s.labels, s.proposal, s.candidate = before
            raise
        return proposal

    def drag_box(self, x0: float, y0: float, x1: float, y1: float) -> Proposal:
        """Set the box prompt from a click-and-drag (corners in any order, frame pixels)."""
        self._require_sam()
        width, height = self.frame_size
        box = (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        prompt = Prompt(box=np.array(box, np.float32))
        prompt.check_inside(height, width)
        s = self.selection
        before = (s.box, s.proposal, s.candidate)
        s.box = tuple(float(c) for c in np.clip(box, 0, [width, height, width, height]))
        try:
            proposal = self._predict()
            self._record("box", x0=box[0] / width, y0=box[1] / height, x1=box[2] / width, y1=box[3] / height)
        except Exception:
            s.box, s.proposal, s.candidate = before
            raise
        return proposal

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
        proposal = self.selection.proposal
        return None if proposal is None else proposal.mask(self.selection.candidate)

    def apply(self, object_id: int | None = None) -> Label:
        """Turn the selection into a label: a polygon or a box by the active class."""
        proposal = self._require_proposal()
        mask = proposal.mask(self.selection.candidate)
        label_class = self.active_class
        shape = geometry.mask_to_shape(mask, label_class.shape)
        if shape is None:
            raise EditorStateError("the selection is empty: add include points or a box first")
        selection = self.selection
        try:
            with self._transaction():  # label, event and undo record: one commit
                label = Label(
                    object_id=int(self.store.next_object_id() if object_id is None else object_id),
                    frame_index=self.frame_index,
                    class_name=label_class.name,
                    shape=shape,
                    source="sam",
                    score=float(proposal.scores[selection.candidate]),
                    media=self.media_name,
                )
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

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            if self._owns_source:
                self._server.source.close()
            self._server = None

    def __enter__(self) -> "Editor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------

    def _require_sam(self) -> None:
        self.server  # raises when no media is open
        if not self.sam_mode:
            raise EditorStateError("SAM mode is off: toggle it on (Shift+A) before clicking")
        if not self.active_class.sam_capable:
            raise EditorStateError(
                f"class {self.class_name!r} is a {self.active_class.shape} class: "
                "SAM works only with polygon and bounding-box classes"
            )

    def _require_proposal(self) -> Proposal:
        if self.selection.proposal is None:
            raise EditorStateError("nothing is selected: click or drag a box first")
        return self.selection.proposal

    def _predict(self) -> Proposal:
        embedding = self.server.get_embedding(self.frame_index)
        proposal = self.segmenter.predict(embedding, self.selection.prompt())
        self.selection.proposal = proposal
        self.selection.candidate = 0
        return proposal

    def _record(self, kind: str, *, at_frame: int | None = None, **data) -> Event:
        frame = self.frame_index if self._server is not None else None
        return self.log.append(Event(kind, frame if at_frame is None else at_frame, data))
