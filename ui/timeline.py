"""The timeline under the frame: one tick per labelled frame (confirmed, propagated, flagged)
and the cursor; click or drag to seek.

It sits in the track panel's column (`ui.track_panel`), as wide as the panel's rows, and
both map frames to x the same way (`x_of`, `frame_at`: frames from ``LEFT``, right of the
rows' names, to ``RIGHT`` short of the end), so a frame is at one screen x in both."""

from __future__ import annotations

import tkinter as tk
from collections.abc import Callable

import numpy as np

from ui.marks import MARK_CONFIRMED, MARK_FLAGGED, MARK_PROPAGATED

MARK_COLOURS = {MARK_CONFIRMED: "#2ecc71", MARK_PROPAGATED: "#3498db", MARK_FLAGGED: "#e74c3c"}
HEIGHT = 28
LEFT = 96  # the track panel's names column: frames start right of it
RIGHT = 8


def usable_width(width: int) -> int:
    """Pixels the frames span on a timeline (or track row) ``width`` pixels wide."""
    return max(1, width - LEFT - RIGHT)


def frame_at(x: float, width: int, frame_count: int) -> int:
    """The frame under canvas x on a timeline ``width`` pixels wide."""
    fraction = min(max((x - LEFT) / usable_width(width), 0.0), 1.0)
    return max(0, min(frame_count - 1, int(fraction * frame_count)))


def x_of(frame_index: float, width: int, frame_count: int) -> float:
    """Canvas x of the centre of ``frame_index``."""
    return LEFT + (frame_index + 0.5) * usable_width(width) / max(1, frame_count)


class Timeline(tk.Canvas):
    """on_seek(frame_index) is called when the person clicks or drags on it.

    Marks are canvas items, one per marked frame: a new marks array changes only the items
    of the frames whose mark changed, and a seek only moves the cursor.
    """

    def __init__(self, master: tk.Misc, on_seek: Callable[[int], None]) -> None:
        super().__init__(master, height=HEIGHT, background="#2b2b2b", highlightthickness=0)
        self.on_seek = on_seek
        self.frame_count = 1
        self.frame_index = 0
        self.marks = np.zeros(0, np.uint8)
        self._items: dict[int, int] = {}  # frame -> its mark's canvas item
        self._width = 0
        self.bind("<Configure>", lambda e: self.redraw())
        self.bind("<ButtonPress-1>", self._seek)
        self.bind("<B1-Motion>", self._seek)

    def update_marks(self, frame_index: int, frame_count: int, marks: np.ndarray) -> None:
        """marks: frame_count uint8 (0 none, 1 confirmed, 2 propagated, 3 flagged)."""
        frame_count = max(1, frame_count)
        if frame_count != self.frame_count or len(marks) != len(self.marks) or self._width != self._current_width():
            self.frame_index, self.frame_count, self.marks = frame_index, frame_count, marks
            self.redraw()
            return
        if marks is not self.marks:
            self.set_marks(marks)
        if frame_index != self.frame_index:
            self.frame_index = frame_index
            self._draw_cursor()

    def set_marks(self, marks: np.ndarray) -> None:
        """Show ``marks`` (same length as the shown ones), redrawing the changed frames only."""
        if len(marks) != len(self.marks):
            self.marks = marks
            self.redraw()
            return
        changed = np.flatnonzero(marks != self.marks)
        self.marks = marks
        for frame_index in changed.tolist():
            self._draw_mark(frame_index)
        if len(changed):
            self.tag_raise("cursor")

    def redraw(self) -> None:
        self.delete("all")
        self._items.clear()
        self._width = self._current_width()
        self.create_line(LEFT, HEIGHT / 2, self._width - RIGHT, HEIGHT / 2, fill="#555555", width=2)
        for frame_index in np.flatnonzero(self.marks).tolist():
            self._draw_mark(frame_index)
        self._draw_cursor()

    def _current_width(self) -> int:
        return max(1, self.winfo_width())

    def _draw_mark(self, frame_index: int) -> None:
        item = self._items.pop(frame_index, None)
        if item is not None:
            self.delete(item)
        kind = int(self.marks[frame_index])
        if kind in MARK_COLOURS:
            x = x_of(frame_index, self._width, self.frame_count)
            self._items[frame_index] = self.create_line(
                x, 6, x, HEIGHT - 6, fill=MARK_COLOURS[kind], width=2, tags=(f"mark-{kind}",))

    def _draw_cursor(self) -> None:
        self.delete("cursor")
        x = x_of(self.frame_index, self._width, self.frame_count)
        self.create_polygon(x - 5, 2, x + 5, 2, x, 10, fill="white", tags=("cursor",))
        self.create_line(x, 2, x, HEIGHT - 2, fill="white", tags=("cursor",))

    def _seek(self, event: tk.Event) -> None:
        self.on_seek(frame_at(event.x, max(1, self.winfo_width()), self.frame_count))


def flagged_after(marks: np.ndarray, frame_index: int, direction: int) -> int | None:
    """The next frame flagged for review after (direction 1) or before (-1) ``frame_index``."""
    flagged = np.flatnonzero(marks == MARK_FLAGGED)
    if direction > 0:
        later = flagged[flagged > frame_index]
        return int(later[0]) if len(later) else None
    earlier = flagged[flagged < frame_index]
    return int(earlier[-1]) if len(earlier) else None
