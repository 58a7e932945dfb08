"""Propagation progress in the window: a progress bar fed from the editor thread, and Stop.

The Editor reports `engine.propagation.permanent.PropagationProgress` from the editor thread through
``editor.on_progress``; this keeps only the latest one, with the timeline marks of the
frames written so far (read there, on the editor thread, one frame per report), and a Tk
timer shows them. Stop sets the Editor's cancel event, which the propagator checks
between frames.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ui.worker import report_callback_error

if TYPE_CHECKING:
    from ui.app import App

POLL_MS = 100


class PropagationMonitor:
    """Shows the progress of whatever propagation the Editor runs (after Apply with
    permanent drawing on, or Propagate)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._latest: tuple[Any, np.ndarray | None] | None = None
        self._lock = threading.Lock()
        self._shown: Any = None
        self._closed = False
        app.editor.on_progress = self._report  # called on the editor thread
        self._id = app.root.after(POLL_MS, self._poll)

    def _report(self, progress: Any) -> None:
        """Editor thread: keep the latest progress and the marks with its frame re-read."""
        marks: np.ndarray | None
        try:
            self.app.marks.touch([progress.frame_index])
            marks = self.app.marks.marks()
        except Exception:  # noqa: BLE001 — the tracker keeps the frame for the snapshot after the run
            marks = None
        with self._lock:
            self._latest = (progress, marks)

    def _poll(self) -> None:
        try:
            self._show_latest()
        except Exception as exc:  # noqa: BLE001 — reported; the progress keeps updating
            report_callback_error(self.app.root, exc)
        finally:
            if not self._closed:
                self._id = self.app.root.after(POLL_MS, self._poll)

    def _show_latest(self) -> None:
        with self._lock:
            latest, self._latest = self._latest, None
        if latest is not None:
            progress, marks = latest
            self._shown = progress
            self.app.controls.set_progress(
                progress.done,
                progress.total,
                f"frame {progress.frame_index + 1}: {progress.written} labels, {progress.flagged} flagged",
            )
            if marks is not None:
                self.app.timeline.set_marks(marks)
        elif self._shown is not None and not self.app.worker.busy:
            done = self._shown
            self._shown = None
            self.app.controls.set_progress(done.total, done.total, f"propagated to frame {done.frame_index + 1}")

    def stop(self) -> None:
        """Ask the running propagation to stop before its next frame (Tk thread)."""
        self.app.editor.cancel_propagation()

    def close(self) -> None:
        self._closed = True
        try:
            self.app.root.after_cancel(self._id)
        except Exception:  # noqa: BLE001 — the window may be gone
            pass
        self.app.editor.on_progress = None
