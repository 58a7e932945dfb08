"""Work off the Tk thread: the Editor runs on one worker thread, results come back via `after`.

Tk is not thread-safe, so worker threads never touch widgets. The Tk thread must also win
the GIL back after each Tcl call while these threads run Python: `favour_ui_thread`. `EditorWorker.submit(fn,
done)` queues ``fn()`` on the editor thread (calls run one at a time, in order, so the
Editor needs no locks); ``done(result, error)`` then runs on the Tk thread from a poll
loop driven by ``widget.after``.
"""

from __future__ import annotations

import queue
import sys
import threading
import tkinter as tk
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Done = Callable[[Any, BaseException | None], None]

POLL_MS = 10
SWITCH_INTERVAL_S = 0.0002
"""How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).

The Tk thread gives the GIL up in every Tcl and OpenCV call (about 40 to show a frame)
and must win it back each time, against the editor thread, a propagation run and the
embedding thread; each try lasts up to the interval, and Python hands the GIL to whichever
waiting thread runs first, so the Tk thread may need several. With 5 ms the event loop's
longest stall while propagation ran on a 10,000-label project was 60–130 ms; 1 ms, then
0.2 ms shortened it (`benchmarks/ui_stall.py`, docs/BENCHMARKS.md). The busy threads
switch more often (a few microseconds each time)."""


def favour_ui_thread() -> None:
    """Let the Tk thread win the GIL back sooner (`SWITCH_INTERVAL_S`), for the whole
    process: called when a window starts its editor thread; never raises the interval."""
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)


def report_callback_error(widget: tk.Misc, error: BaseException) -> None:
    """Report ``error``, raised by a callback on the Tk thread, the way Tk reports errors
    of its own callbacks: through the root's ``report_callback_exception`` (the window shows
    it on its status line and prints the traceback; the GUI tests fail on it)."""
    root = widget.nametowidget(".")
    root.report_callback_exception(type(error), error, error.__traceback__)


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

    def __init__(self, widget: tk.Misc, on_busy: Callable[[bool, str], None] | None = None) -> None:
        self._widget = widget
        self._tasks: queue.Queue[_Task | None] = queue.Queue()
        self._results: queue.Queue[tuple[_Task, Any, BaseException | None]] = queue.Queue()
        self._on_busy = on_busy
        self._pending = 0
        self._closed = False
        favour_ui_thread()
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
        """Hand finished calls to their ``done`` on the Tk thread. A callback that raises
        is reported (`report_callback_error`) and the next results still arrive: the loop
        reschedules itself whatever happens."""
        try:
            while not self._closed:
                try:
                    task, result, error = self._results.get_nowait()
                except queue.Empty:
                    break
                self._pending -= 1
                try:
                    if task.done is not None:
                        task.done(result, error)
                except Exception as exc:  # noqa: BLE001 — reported, the loop goes on
                    report_callback_error(self._widget, exc)
                if self._pending == 0 and self._on_busy:
                    try:
                        self._on_busy(False, task.name)
                    except Exception as exc:  # noqa: BLE001 — reported, the loop goes on
                        report_callback_error(self._widget, exc)
        finally:
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
