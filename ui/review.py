"""Review and keyframe actions of the objects list: accept a flagged label, mark the object
outside the view or occluded from this frame on, interpolate between keyframes.

Outside / occluded (`Editor.mark_outside`): the object's label on this frame and its
unconfirmed labels after it, up to its next confirmed label (where it is back), are
deleted as one undo step; the ``review`` event with the action is the marker in the event
log (and CVAT exports write ``outside`` where a track's labels stop).
"""

from __future__ import annotations

from tkinter import ttk
from typing import Any

from ui.object_dialogs import require_object


def current_label(app: Any, object_id: int) -> Any:
    for label, _ in app.state.labels if app.state is not None else []:
        if label.object_id == object_id:
            return label
    return None


def accept(app: Any) -> None:
    """Accept the selected object's flagged label on this frame (its flag is cleared)."""
    object_id = require_object(app)
    if object_id is None:
        return
    label = current_label(app, object_id)
    if label is None or not label.review:
        app.status.set(f"object #{object_id} is not flagged on this frame")
        return
    app.run(lambda: app.editor.accept_label(object_id), then=lambda _: app.status.set(f"accepted object #{object_id}"))


def mark_outside(app: Any, reason: str) -> None:
    """The selected object is outside the view / occluded from this frame on."""
    object_id = require_object(app)
    if object_id is None:
        return
    app.run(lambda: app.editor.mark_outside(object_id, None, reason),
            then=lambda labels: app.status.set(f"object #{object_id} {reason} from here: {len(labels)} labels removed"))


def keyframes_around(labels: list[Any], frame: int) -> tuple[int, int] | None:
    """The two confirmed frames to interpolate between for a person at ``frame``: the last
    keyframe at or before it and the next one after it (at a keyframe with none after it,
    the one before it); None when there are not two."""
    keys = sorted(label.frame_index for label in labels if label.confirmed)
    before = [k for k in keys if k <= frame]
    after = [k for k in keys if k > frame]
    if before and after:
        return before[-1], after[0]
    if len(before) >= 2 and before[-1] == frame:
        return before[-2], before[-1]
    return None


def interpolate(app: Any) -> None:
    """Fill the frames between the selected object's keyframes around this frame."""
    object_id = require_object(app)
    if object_id is None:
        return
    editor = app.editor

    def work() -> Any:
        labels = [label for label in editor.labels() if label.object_id == object_id]
        ends = keyframes_around(labels, editor.frame_index)
        if ends is None:
            return None
        return ends, editor.interpolate(object_id, *ends)

    def done(result: Any) -> None:
        if result is None:
            app.status.set(f"object #{object_id} needs two confirmed keyframes around this frame to interpolate")
        else:
            (low, high), written = result
            app.status.set(f"interpolated object #{object_id} between frames {low + 1} and {high + 1}: {len(written)} labels")

    app.run(work, "interpolating…", then=done)


class ReviewBar(ttk.Frame):
    """Accept, Outside, Occluded and Interpolate buttons for the selected object."""

    def __init__(self, master, app: Any) -> None:
        super().__init__(master)
        self.accept_button = ttk.Button(self, text="Accept ✓", command=lambda: accept(app))
        self.accept_button.pack(side="left")
        self.outside_button = ttk.Button(self, text="Outside", command=lambda: mark_outside(app, "outside"))
        self.outside_button.pack(side="left")
        self.occluded_button = ttk.Button(self, text="Occluded", command=lambda: mark_outside(app, "occluded"))
        self.occluded_button.pack(side="left")
        self.interpolate_button = ttk.Button(self, text="Interpolate", command=lambda: interpolate(app))
        self.interpolate_button.pack(side="left")
