"""The track panel: one row per object across the whole media, its frames drawn as runs
(confirmed, propagated, interpolated, flagged); clicking a row jumps to that frame.

The rows are read on the editor thread (`label_tracks`: object, frame, source, review; no
shapes) when the timeline marks or the names change: the whole media once, then only the
frames that changed (`ui.track_rows.TrackReader`); they are drawn as at
most one rectangle per pixel run of one kind (`row_segments`), never one item per frame or
per run, so a long video stays cheap.

The panel holds the timeline (`ui.timeline`) above its rows, in the same grid column, so
the two are equally wide and share one frame-to-x mapping (`timeline.x_of`/`frame_at`):
the cursor, a run and a click are at the same screen x in both.
"""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any

import numpy as np

from ui import timeline
from ui.colours import object_title
from ui.state import ViewState
from ui.timeline import Timeline
from ui.track_rows import TrackReader, track_kind

ROW_HEIGHT = 16
NAME_WIDTH = timeline.LEFT
VISIBLE_ROWS = 5
KIND_COLOURS = {"confirmed": "#2ca02c", "propagated": "#1f77b4", "interpolated": "#17becf", "flagged": "#d62728"}

Run = tuple[int, int, str]  # first frame, last frame (inclusive), kind


def track_runs(rows: list[tuple[int, int, str, bool]]) -> dict[int, list[Run]]:
    """Per object id (ascending), its labels as runs of consecutive frames of one kind."""
    tracks: dict[int, list[Run]] = {}
    for object_id, frame, source, review in sorted(rows):
        kind = track_kind(source, review)
        runs = tracks.setdefault(object_id, [])
        if runs and runs[-1][2] == kind and runs[-1][1] == frame - 1:
            runs[-1] = (runs[-1][0], frame, kind)
        else:
            runs.append((frame, frame, kind))
    return tracks


PRIORITY = {"propagated": 1, "interpolated": 2, "confirmed": 3, "flagged": 4}
KINDS = {value: kind for kind, value in PRIORITY.items()}


def row_segments(runs: list[Run], frame_count: int, width: int) -> list[tuple[int, int, str, int, int]]:
    """One row's runs as pixel segments ``(x0, x1 exclusive, kind, first frame, last frame)``
    over ``width`` pixels: where runs share a pixel the strongest kind shows (flagged >
    confirmed > interpolated > propagated), so a row never holds more segments than pixels."""
    scale = width / max(1, frame_count)
    columns = np.zeros(width, np.int8)
    for first, last, kind in runs:
        x0 = min(width - 1, int(first * scale))
        x1 = max(x0 + 1, min(width, int(np.ceil((last + 1) * scale))))
        np.maximum(columns[x0:x1], PRIORITY[kind], out=columns[x0:x1])
    edges = np.flatnonzero(np.diff(columns, prepend=0, append=0))
    segments = []
    for x0, x1 in zip(edges[:-1], edges[1:]):
        if columns[x0]:
            first = min(frame_count - 1, int(round(x0 / scale)))
            last = min(frame_count - 1, int(round(x1 / scale)) - 1)
            segments.append((int(x0), int(x1), KINDS[int(columns[x0])], first, max(first, last)))
    return segments


def read_tracks(editor: Any) -> tuple[dict[int, list[Run]], dict[int, str]]:
    """(runs per object, display names) of the open media (call on the editor thread)."""
    store, media = editor.store, editor.media_name
    query = getattr(store, "label_tracks", None)
    if callable(query):
        rows = query(media)
    else:
        rows = [(label.object_id, label.frame_index, str(label.source), label.review) for label in store.labels(media)]
    objects = getattr(store, "objects", None)
    names = {record.object_id: record.name for record in objects(media)} if callable(objects) else {}
    return track_runs(rows), {k: v for k, v in names.items() if v}


class TrackPanel(ttk.Frame):
    """The timeline and, under it, the object rows (canvas tags: ``track-run``,
    ``track-<id>``, ``kind-<kind>``, ``track-name``, ``track-cursor``)."""

    def __init__(self, master, app: Any) -> None:
        super().__init__(master)
        self.app = app
        self.timeline = Timeline(self, on_seek=app.goto)
        self.canvas = tk.Canvas(self, height=ROW_HEIGHT * VISIBLE_ROWS, background="#1b1b1b", highlightthickness=0)
        scroll = ttk.Scrollbar(self, orient="vertical", command=self.canvas.yview)
        self.canvas.configure(yscrollcommand=scroll.set)
        self.columnconfigure(0, weight=1)  # timeline and rows: one column, one width
        self.timeline.grid(row=0, column=0, sticky="ew")
        tk.Frame(self, background=self.timeline.cget("background"), width=0).grid(row=0, column=1, sticky="nsew")
        self.canvas.grid(row=1, column=0, sticky="ew")
        scroll.grid(row=1, column=1, sticky="ns")
        self.canvas.bind("<ButtonRelease-1>", self._on_click)
        self.canvas.bind("<Configure>", lambda e: self.draw())
        self.reader = TrackReader(app.marks.follow())  # re-reads only the changed frames (ui/track_rows.py)
        self.tracks: dict[int, list[Run]] = {}
        self.names: dict[int, str] = {}
        self.frame_count = 1
        self.frame_index = 0
        self._seen: tuple[Any, ...] | None = None
        self._pending = False  # a read queued on the editor thread
        self._stale = False  # the rows changed since the last read was queued
        self._layout: tuple[int, int] | None = None  # (width, frames) last drawn
        self._rows: dict[int, tuple[int, list[Run], str | None]] = {}  # what each row was drawn from

    def show(self, state: ViewState) -> None:
        """After each snapshot: move the cursor; re-read the rows when labels or names changed."""
        self.frame_index, self.frame_count = state.frame_index, max(1, state.frame_count)
        key = (id(state.marks), state.marks.size, tuple(sorted(state.names.items())), state.can_undo, state.can_redo)
        if key != self._seen:
            self._seen = key
            self._stale = True
            self._request()
        self._draw_cursor()

    def _request(self) -> None:
        """One read in flight at a time; a change seen meanwhile is read once it is back."""
        if self._pending or not self._stale:
            return
        self._pending, self._stale = True, False
        self.app.worker.submit(lambda: self.reader.read(self.app.editor), self._read, name="tracks")

    def _read(self, value: Any, error: BaseException | None) -> None:
        self._pending = False
        self._request()
        if error is not None:
            self.app.status.set(f"track panel: {error}")
            return
        self.tracks, self.names = value
        self.draw()

    # -- drawing ------------------------------------------------------------------

    def _width(self) -> int:
        return timeline.usable_width(self.canvas.winfo_width())

    def _x(self, frame: float) -> float:
        """Canvas x of the left edge of ``frame`` (of its centre at ``frame + 0.5``)."""
        return timeline.x_of(frame - 0.5, self.canvas.winfo_width(), self.frame_count)

    def draw(self) -> None:
        """Redraw what changed since the last drawing: only the rows whose place, runs or
        name changed (during a run, the running object's row), everything when the width
        or the frame count changed. A row is at most one rectangle per pixel run of one kind
        (`row_segments`): a long video's thousands of runs cost no more than its width."""
        canvas, width = self.canvas, self._width()
        layout = (width, self.frame_count)
        if layout != self._layout:
            self._layout = layout
            self._rows = {}
            canvas.delete("all")
        for gone in set(self._rows) - set(self.tracks):
            del self._rows[gone]
            canvas.delete(f"track-{gone}")
        for row, (object_id, runs) in enumerate(self.tracks.items()):
            drawn = (row, list(runs), self.names.get(object_id))
            if self._rows.get(object_id) == drawn:
                continue
            self._rows[object_id] = drawn
            canvas.delete(f"track-{object_id}")
            self._draw_row(row, object_id, runs, width)
        canvas.configure(scrollregion=(0, 0, canvas.winfo_width(), max(1, len(self.tracks)) * ROW_HEIGHT))
        self._draw_cursor()

    def _draw_row(self, row: int, object_id: int, runs: list[Run], width: int) -> None:
        canvas, top = self.canvas, row * ROW_HEIGHT
        canvas.create_text(4, top + ROW_HEIGHT / 2, anchor="w", fill="#dddddd", font=("TkDefaultFont", 9),
                           text=object_title(object_id, self.names.get(object_id)),
                           tags=("track-name", f"track-{object_id}"))
        for x0, x1, kind, first, last in row_segments(runs, self.frame_count, width):
            canvas.create_rectangle(NAME_WIDTH + x0, top + 2, NAME_WIDTH + x1, top + ROW_HEIGHT - 2,
                                    fill=KIND_COLOURS[kind], outline="",
                                    tags=("track-run", f"track-{object_id}", f"kind-{kind}", f"frames-{first}-{last}"))

    def _draw_cursor(self) -> None:
        self.canvas.delete("track-cursor")
        x = self._x(self.frame_index + 0.5)
        height = max(1, len(self.tracks)) * ROW_HEIGHT
        self.canvas.create_line(x, 0, x, height, fill="white", tags=("track-cursor",))

    def frame_at(self, x: float) -> int:
        """The frame under canvas x (as on the timeline above)."""
        return timeline.frame_at(x, self.canvas.winfo_width(), self.frame_count)

    def row_at(self, y: float) -> int | None:
        """The object id of the row under canvas y, or None."""
        row = int(self.canvas.canvasy(y) // ROW_HEIGHT)
        ids = list(self.tracks)
        return ids[row] if 0 <= row < len(ids) else None

    def _on_click(self, event: tk.Event) -> None:
        if event.x < NAME_WIDTH or self.row_at(event.y) is None:
            return
        self.app.goto(self.frame_at(event.x))
