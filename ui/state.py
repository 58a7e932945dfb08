"""A snapshot of what the Editor shows, taken on the editor thread and drawn on the Tk thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.types import Label
from ui.colours import object_colour
from ui.marks import MarkTracker


@dataclass(frozen=True)
class ViewState:
    """Everything the window draws after one Editor call.

    frame: H×W×3 uint8 RGB of the current frame.
    selection: H×W bool of the shown candidate mask, or None.
    points: N×2 float32 (x, y) frame pixels of the prompt points; point_labels: N int32.
    box: (x0, y0, x1, y1) frame pixel edges of the box prompt, or None.
    labels: the current frame's labels with their class colours "#rrggbb".
    marks: per-frame timeline state, frames long, read-only uint8 (0 none, 1 confirmed, 2
        propagated, 3 flagged); the same array object as the previous snapshot's while unchanged.
    can_undo / can_redo: whether Undo / Redo have a change to act on.
    """

    frame_index: int
    frame_count: int
    fps: float
    frame: np.ndarray
    selection: np.ndarray | None
    points: np.ndarray
    point_labels: np.ndarray
    box: tuple[float, float, float, float] | None
    labels: list[tuple[Label, str]]
    class_name: str
    sam_mode: bool
    sam_capable: bool
    quality: float
    permanent: bool
    candidate: int = 0
    candidates: int = 0
    score: float | None = None
    backend: str = ""
    cache: str = ""
    marks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    can_undo: bool = False
    can_redo: bool = False
    names: dict[int, str] = field(default_factory=dict)  # display names of this frame's objects


def history_state(store: Any) -> tuple[bool, bool]:
    """(undo possible, redo possible) for ``store``; (False, False) when it keeps no history."""
    query = getattr(store, "history_state", None)
    return query() if callable(query) else (False, False)


def object_names(editor: Any, object_ids: list[int]) -> dict[int, str]:
    """Display names of ``object_ids`` in the open media (those that have one)."""
    lookup = getattr(editor.store, "object", None)
    names: dict[int, str] = {}
    if not callable(lookup):
        return names
    for object_id in object_ids:
        record = lookup(editor.media_name, object_id)
        if record is not None and record.name:
            names[object_id] = record.name
    return names


def snapshot(editor: Any, marks: MarkTracker, backend: str = "") -> ViewState:
    """Read the Editor's state (call on the editor thread only): the current frame's labels
    and the marks of the frames changed since the last snapshot, never the whole media."""
    selection = editor.selection
    proposal = selection.proposal
    source = editor.source
    current: list[tuple[Label, str]] = []
    for label in editor.labels(editor.frame_index):
        colour = editor.ontology[label.class_name].colour if label.class_name in editor.ontology else "#ff7f0e"
        current.append((label, object_colour(colour, label.object_id)))
    state = editor.server.cache_state()
    can_undo, can_redo = history_state(editor.store)
    return ViewState(
        frame_index=editor.frame_index,
        frame_count=len(source),
        fps=float(source.fps),
        frame=editor.frame(),
        selection=editor.selection_mask(),
        points=np.array(selection.points, np.float32).reshape(-1, 2),
        point_labels=np.array(selection.labels, np.int32),
        box=selection.box,
        labels=current,
        class_name=editor.class_name,
        sam_mode=editor.sam_mode,
        sam_capable=editor.active_class.sam_capable,
        quality=editor.quality,
        permanent=editor.permanent,
        candidate=selection.candidate,
        candidates=0 if proposal is None else len(proposal),
        score=None if proposal is None else float(proposal.scores[selection.candidate]),
        backend=backend,
        cache=state.summary(),
        marks=marks.marks(),
        can_undo=can_undo,
        can_redo=can_redo,
        names=object_names(editor, [label.object_id for label, _ in current]),
    )
