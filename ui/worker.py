"""Work off the Tk thread: the Editor runs on one worker thread, results come back via `after`.

Tk is not thread-safe, so worker threads never touch widgets. `EditorWorker.submit(fn,
done)` queues ``fn()`` on the editor thread (calls run one at a time, in order, so the
Editor needs no locks); ``done(result, error)`` then runs on the Tk thread from a poll
loop driven by ``widget.after``.
"""

from __future__ import annotations

import queue
import time
import threading
from dataclasses import dataclass
from typing import Any, Callable

Done = Callable[[Any, BaseException | None], None]

POLL_MS = 10


@dataclass
class _Task:
    fn: Callable[[], Any]
    done: Done | None
    name: str


class EditorWorker:
    """One background thread that runs submitted calls in order.

    widget: any Tk widget (its ``after`` drives the result poll loop).
    on_busy: called on the Tk thread with (busy: bool, task name) when work starts/ends.
    """

    def __init__(self, widget, on_busy: Callable[[bool, str], None] | None = None) -> None:
        self._widget = widget
        self._tasks: queue.Queue[_Task | None] = queue.Queue()
        self._results: queue.Queue[tuple[_Task, Any, BaseException | None]] = queue.Queue()
        self._on_busy = on_busy
        self._pending = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="framewise-editor", daemon=True)
        self._thread.start()
        self._poll_id = widget.after(POLL_MS, self._poll)

    @property
    def busy(self) -> bool:
        return self._pending > 0

    @property
    def pending(self) -> int:
        """Calls submitted whose results the Tk thread has not handled yet."""
        return self._pending

    def submit(self, fn: Callable[[], Any], done: Done | None = None, name: str = "") -> None:
        """Queue ``fn`` for the editor thread; ``done(result, error)`` runs later on the Tk thread."""
        if self._closed:
            return
        self._pending += 1
        if self._pending == 1 and self._on_busy:
            self._on_busy(True, name)
        self._tasks.put(_Task(fn, done, name))

    def call_sync(self, fn: Callable[[], Any], timeout: float = 30.0) -> Any:
        """Run ``fn`` on the editor thread and wait (only for shutdown and tests, never in handlers)."""
        box: dict[str, Any] = {}
        event = threading.Event()

        def run() -> None:
            try:
                box["value"] = fn()
            except BaseException as exc:  # noqa: BLE001 — handed back to the caller
                box["error"] = exc
            event.set()

        self._tasks.put(_Task(run, None, "sync"))
        if not event.wait(timeout):
            raise TimeoutError("the editor thread did not answer")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def _run(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            try:
                result, error = task.fn(), None
            except BaseException as exc:  # noqa: BLE001 — reported on the Tk thread
                result, error = None, exc
            if task.name != "sync":
                self._results.put((task, result, error))

    def _poll(self) -> None:
        try:
            while True:
                task, result, error = self._results.get_nowait()
                self._pending -= 1
                if task.done is not None:
                    task.done(result, error)
                if self._pending == 0 and self._on_busy:
                    self._on_busy(False, task.name)
        except queue.Empty:
            pass
        if not self._closed:
            self._poll_id = self._widget.after(POLL_MS, self._poll)

    def close(self, timeout: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._widget.after_cancel(self._poll_id)
        except Exception:  # noqa: BLE001 — the widget may already be gone
            pass
        self._tasks.put(None)
        self._thread.join(timeout)


class StallMeter:
    """Measures how long the Tk event loop goes without running a timer: a heartbeat
    scheduled every ``interval_ms``; the longest gap beyond that is the worst stall."""

    def __init__(self, widget, interval_ms: int = 5) -> None:
        self._widget = widget
        self._interval = interval_ms / 1000
        self.worst = 0.0
        self.beats = 0
        self._last = time.perf_counter()
        self._id = widget.after(interval_ms, self._beat)
        self._interval_ms = interval_ms

    def reset(self) -> None:
        self.worst, self.beats, self._last = 0.0, 0, time.perf_counter()

    def _beat(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last - self._interval)
        self._last = now
        self.beats += 1
        self._id = self._widget.after(self._interval_ms, self._beat)

    def close(self) -> None:
        try:
            self._widget.after_cancel(self._id)
        except Exception:  # noqa: BLE001 — the widget may already be gone
            pass
