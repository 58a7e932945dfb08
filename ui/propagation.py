"""Propagation progress in the window: a progress bar fed from the editor thread, and Stop.

The Editor reports `engine.propagation.permanent.PropagationProgress` from the editor thread through
``editor.on_progress``; this keeps only the latest one and a Tk timer shows it. Stop sets
the Editor's cancel event, which the propagator checks between frames.
"""

from __future__ import annotations

import threading

POLL_MS = 100


class PropagationMonitor:
    """Shows the progress of whatever propagation the Editor runs (after Apply with
    permanent drawing on, or Propagate)."""

    def __init__(self, app) -> None:
        self.app = app
        self._latest = None
        self._lock = threading.Lock()
        self._shown = None
        app.editor.on_progress = self._report  # called on the editor thread
        self._id = app.root.after(POLL_MS, self._poll)

    def _report(self, progress) -> None:
        with self._lock:
            self._latest = progress

    def _poll(self) -> None:
        with self._lock:
            progress, self._latest = self._latest, None
        if progress is not None:
            self._shown = progress
            self.app.controls.set_progress(
                progress.done,
                progress.total,
                f"frame {progress.frame_index + 1}: {progress.written} labels, {progress.flagged} flagged",
            )
        elif self._shown is not None and not self.app.worker.busy:
            done = self._shown
            self._shown = None
            self.app.controls.set_progress(done.total, done.total, f"propagated to frame {done.frame_index + 1}")
        self._id = self.app.root.after(POLL_MS, self._poll)

    def stop(self) -> None:
        """Ask the running propagation to stop before its next frame (Tk thread)."""
        self.app.editor.cancel_propagation()

    def close(self) -> None:
        try:
            self.app.root.after_cancel(self._id)
        except Exception:  # noqa: BLE001 — the window may be gone
            pass
        self.app.editor.on_progress = None
