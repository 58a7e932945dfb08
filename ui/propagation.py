"""Propagation in the window: runs in the background, shown live; a progress bar and Stop.

The Editor runs propagation on threads of its own (`engine.propagation.background`:
``editor.background`` is turned on here, so Apply with permanent drawing on returns at
once, and `App.propagate` starts a run the same way): the editor thread stays free for
clicks, seeks and corrections while the labels land in the store frame by frame.

Each run reports `engine.propagation.permanent.PropagationProgress` from its thread
through ``editor.on_progress``; this keeps the latest report and the frames written
since the last poll, and a Tk timer (`POLL_MS`) shows them: the progress bar, the
timeline marks of the written frames (re-read on the editor thread, never here), and
the frame on screen redrawn when the run wrote it. Ended runs are collected from the
Editor: their result on the progress line, an error in the error dialog. Stop cancels
every run before its next frame.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ui.state import snapshot
from ui.worker import report_callback_error

if TYPE_CHECKING:
    from ui.app import App

POLL_MS = 100


class PropagationMonitor:
    """Shows the background propagation runs of ``app.editor`` (after Apply with
    permanent drawing on, or Propagate)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._latest: Any = None  # the newest progress report not shown yet
        self._frames: set[int] = set()  # frames written since the last poll
        self._lock = threading.Lock()
        self._marks_pending = False  # a marks read queued on the editor thread
        self._refresh_pending = False  # a redraw queued on the editor thread
        self._closed = False
        app.editor.background = True
        app.editor.on_progress = self._report  # called on the runs' threads
        self._id = app.root.after(POLL_MS, self._poll)

    @property
    def busy(self) -> bool:
        """A run is going, or what one wrote is not on screen yet (`App.wait_idle`)."""
        with self._lock:
            unseen = self._latest is not None or bool(self._frames)
        return unseen or self._marks_pending or self._refresh_pending or bool(self.app.editor.propagation_jobs(ended=True))

    def _report(self, progress: Any) -> None:
        """A run's thread: keep the latest progress and the frame it wrote."""
        with self._lock:
            self._latest = progress
            self._frames.add(int(progress.frame_index))

    def _poll(self) -> None:
        try:
            self._show_latest()
        except Exception as exc:  # noqa: BLE001 — reported; the progress keeps updating
            report_callback_error(self.app.root, exc)
        finally:
            if not self._closed:
                self._id = self.app.root.after(POLL_MS, self._poll)

    def _show_latest(self) -> None:
        app = self.app
        with self._lock:
            latest, self._latest = self._latest, None
            frames, self._frames = self._frames, set()
        running = app.editor.propagation_jobs()
        if latest is not None:
            more = f" ({len(running)} runs)" if len(running) > 1 else ""
            app.controls.set_progress(
                latest.done,
                latest.total,
                f"frame {latest.frame_index + 1}: {latest.written} labels, {latest.flagged} flagged{more}",
            )
        finished = app.editor.take_finished_propagations()
        for job in finished:
            if job.error is not None:
                app._show_error(job.error)
            elif job.result is not None and not running:  # else the running ones keep the bar (and Stop)
                if job.result.cancelled:  # Stop (or Undo): nothing is running any more, say nothing stale
                    app.clear_progress()
                    continue
                done = job.progress.total if job.progress is not None else 1
                app.controls.set_progress(done, done, f"propagated to frame {job.result.last + 1}")
        if frames:
            app.marks.touch(frames)
        state = app.state
        if finished or (frames and state is not None and state.frame_index in frames):
            self._refresh()  # the frame on screen got a label, or a run ended (its event's marks)
        elif frames:
            self._read_marks()

    def _refresh(self) -> None:
        """Redraw from a fresh snapshot (one queued at a time)."""
        if self._refresh_pending:
            return
        self._refresh_pending = True
        app = self.app

        def shown(state: Any, error: BaseException | None) -> None:
            self._refresh_pending = False
            if error is not None:
                app._show_error(error)
            elif not self._closed:
                app._show(state)

        app.worker.submit(lambda: snapshot(app.editor, app.marks, app.backend), shown, name="refresh")

    def _read_marks(self) -> None:
        """Re-read the touched frames' marks on the editor thread and show them."""
        if self._marks_pending or self._refresh_pending:
            return  # the queued call brings them
        self._marks_pending = True

        def shown(marks: Any, error: BaseException | None) -> None:
            self._marks_pending = False
            if error is None and not self._closed:
                self.app.timeline.set_marks(marks)

        self.app.worker.submit(self.app.marks.marks, shown, name="marks")

    def stop(self) -> None:
        """Ask every running propagation to stop before its next frame (Tk thread)."""
        self.app.editor.cancel_propagation()

    def close(self) -> None:
        self._closed = True
        try:
            self.app.root.after_cancel(self._id)
        except Exception:  # noqa: BLE001 — the window may be gone
            pass
        self.app.editor.on_progress = None
