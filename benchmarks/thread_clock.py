"""Where a thread's wall time goes, for `benchmarks/ui_stall.py`: on the CPU, waiting for a
CPU (the machine's load), or neither (waiting for the GIL, a lock, or the X server).

Linux keeps per-thread scheduler statistics in ``/proc/self/task/<tid>/schedstat``: time
run on a CPU and time spent runnable but waiting on a run queue. A stall of the Tk thread
whose time is mostly run-queue wait comes from the machine's load (other processes), not
from the window; the thread's own CPU time is the load-independent part. Elsewhere (no
``/proc``) the run-queue wait reads 0 and the CPU time comes from `time.thread_time`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any


class ThreadClock:
    """(cpu seconds, run-queue seconds) of the thread that made it, read on that thread."""

    def __init__(self) -> None:
        self._path = f"/proc/self/task/{threading.get_native_id()}/schedstat"
        self._proc = os.path.exists(self._path)

    def read(self) -> tuple[float, float]:
        if self._proc:
            with open(self._path) as stats:
                run_ns, wait_ns, _ = stats.read().split()
            return int(run_ns) / 1e9, int(wait_ns) / 1e9
        return time.thread_time(), 0.0


def load_average() -> float:
    """The machine's 1-minute load average (0 where unknown)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return 0.0


def timed_cpu(owner: Any, name: str, out: list[float]) -> Callable[[], None]:
    """Wrap ``owner.name`` (a method run on the Tk thread) to add each call's CPU seconds
    on its own thread to ``out``; returns the function that puts the method back."""
    real = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return real(*args, **kwargs)
        finally:
            out.append(time.thread_time() - started)

    setattr(owner, name, timed)
    return lambda: setattr(owner, name, real)
