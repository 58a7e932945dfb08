"""The timeline under the frame: one tick per labelled frame (confirmed, propagated, flagged)
and the cursor; click or drag to seek."""

from __future__ import annotations

import tkinter as tk
from typing import Callable

import numpy as np

from ui.state import MARK_CONFIRMED, MARK_FLAGGED, MARK_PROPAGATED

MARK_COLOURS = {MARK_CONFIRMED: "#2ecc71", MARK_PROPAGATED: "#3498db", MARK_FLAGGED: "#e74c3c"}
HEIGHT = 28
MARGIN = 8


def frame_at(x: float, width: int, frame_count: int) -> int:
    """The frame under canvas x on a timeline ``width`` pixels wide."""
    usable = max(1, width - 2 * MARGIN)
    fraction = min(max((x - MARGIN) / usable, 0.0), 1.0)
    return min(frame_count - 1, int(fraction * frame_count))


def x_of(frame_index: int, width: int, frame_count: int) -> float:
    """Canvas x of the centre of ``frame_index``."""
    usable = max(1, width - 2 * MARGIN)
    return MARGIN + (frame_index + 0.5) * usable / max(1, frame_count)


class Timeline(tk.Canvas):
    """on_seek(frame_index) is called when the person clicks or drags on it."""

    def __init__(self, master, on_seek: Callable[[int], None]) -> None:
        super().__init__(master, height=HEIGHT, background="#2b2b2b", highlightthickness=0)
        self.on_seek = on_seek
        self.frame_count = 1
        self.frame_index = 0
        self.marks = np.zeros(0, np.uint8)
        self.bind("<Configure>", lambda e: self.redraw())
        self.bind("<ButtonPress-1>", self._seek)
        self.bind("<B1-Motion>", self._seek)

    def update_marks(self, frame_index: int, frame_count: int, marks: np.ndarray) -> None:
        """marks: frame_count uint8 (0 none, 1 confirmed, 2 propagated, 3 flagged)."""
        self.frame_index, self.frame_count, self.marks = frame_index, max(1, frame_count), marks
        self.redraw()

    def redraw(self) -> None:
        self.delete("all")
        width = max(1, self.winfo_width())
        self.create_line(MARGIN, HEIGHT / 2, width - MARGIN, HEIGHT / 2, fill="#555555", width=2)
        for kind, colour in MARK_COLOURS.items():
            for frame_index in np.flatnonzero(self.marks == kind):
                x = x_of(int(frame_index), width, self.frame_count)
                self.create_line(x, 6, x, HEIGHT - 6, fill=colour, width=2, tags=(f"mark-{kind}",))
        x = x_of(self.frame_index, width, self.frame_count)
        self.create_polygon(x - 5, 2, x + 5, 2, x, 10, fill="white", tags=("cursor",))
        self.create_line(x, 2, x, HEIGHT - 2, fill="white", tags=("cursor",))

    def _seek(self, event) -> None:
        self.on_seek(frame_at(event.x, max(1, self.winfo_width()), self.frame_count))


def flagged_after(marks: np.ndarray, frame_index: int, direction: int) -> int | None:
    """The next frame flagged for review after (direction 1) or before (-1) ``frame_index``."""
    flagged = np.flatnonzero(marks == MARK_FLAGGED)
    if direction > 0:
        later = flagged[flagged > frame_index]
        return int(later[0]) if len(later) else None
    earlier = flagged[flagged < frame_index]
    return int(earlier[-1]) if len(earlier) else None
