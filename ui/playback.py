"""Playback speed and the project's media list, on the control bar.

Speed: 0.25× … 4× the media's frame rate (frames are still shown one at a time, never
queued: a frame that is not decoded in time is skipped over by the next tick).
Media: shown when the project holds several media; choosing one opens it (the Editor's
`open`, so the switch is in the event log) and the current one stays open on failure.
"""

from __future__ import annotations

import os
import tkinter as tk
from tkinter import ttk
from typing import Any

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0)
MIN_DELAY_MS = 15


def speed_text(speed: float) -> str:
    return f"{speed:g}×"


def play_delay(fps: float, speed: float) -> int:
    """Milliseconds between playback ticks at ``speed`` × the media's ``fps`` (25 when unknown)."""
    return max(MIN_DELAY_MS, int(round(1000 / ((fps or 25) * speed))))


def media_names(editor: Any) -> list[str]:
    """The project's media names (the open one when the store keeps no list); editor thread."""
    listing = getattr(editor.store, "media", None)
    names = [info.name for info in listing()] if callable(listing) else []
    return names or [editor.media_name]


class PlaybackControls(ttk.Frame):
    """The speed selector and, for a project of several media, the media selector."""

    def __init__(self, master, app: Any) -> None:
        super().__init__(master)
        self.app = app
        self.speed = 1.0
        ttk.Label(self, text="  speed").pack(side="left")
        self.speed_box = ttk.Combobox(self, width=6, state="readonly", values=[speed_text(s) for s in SPEEDS])
        self.speed_box.set(speed_text(self.speed))
        self.speed_box.pack(side="left")
        self.speed_box.bind("<<ComboboxSelected>>", self._speed_chosen)
        self.media_label = ttk.Label(self, text="  media")
        self.media_box = ttk.Combobox(self, width=24, state="readonly")
        self.media_box.bind("<<ComboboxSelected>>", self._media_chosen)
        self.media: list[str] = []
        self.refresh_media()

    def _speed_chosen(self, event: tk.Event | None = None) -> None:
        self.speed = SPEEDS[self.speed_box.current()]
        self.app.status.set(f"playback at {speed_text(self.speed)}")
        self.app.view.focus_set()  # keys go back to the editor (p plays)

    def refresh_media(self) -> None:
        """Re-read the project's media list (on the editor thread)."""
        self.app.worker.submit(lambda: media_names(self.app.editor), self._show_media, name="media list")

    def _show_media(self, names: Any, error: BaseException | None) -> None:
        if error is not None:
            return
        self.media = list(names)
        self.media_box.configure(values=[os.path.basename(name.rstrip("/")) or name for name in self.media])
        current = self.app.editor.media_name
        if current in self.media:
            self.media_box.current(self.media.index(current))
        if len(self.media) > 1:
            self.media_label.pack(side="left")
            self.media_box.pack(side="left")
        else:
            self.media_label.pack_forget()
            self.media_box.pack_forget()

    def _media_chosen(self, event: tk.Event | None = None) -> None:
        index = self.media_box.current()
        self.app.view.focus_set()
        if 0 <= index < len(self.media) and self.media[index] != self.app.editor.media_name:
            self.app.open_media(self.media[index])
