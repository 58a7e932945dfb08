"""Measuring for ``tools/long_run.py``: per-frame wall and CPU times, resident memory.

A `Meter` is ticked once per frame; `Meter.done` gives a `Phase`: throughput (frames/s) over
the first and the last 10 % of the frames, in wall time and in CPU time of this process
(all its threads), and VmRSS at the start, sampled during and at the end, with VmHWM as
the peak (reset at the start through ``/proc/self/clear_refs`` where Linux allows it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1 << 20


def _status_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def rss_mib() -> float:
    return _status_kib("VmRSS") / 1024


def peak_mib() -> float:
    """VmHWM: the highest RSS since the start or the last `reset_peak`."""
    return _status_kib("VmHWM") / 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux ≥ 4.0); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


@dataclass
class Phase:
    """Timing and memory of one phase. Rates in frames/s; memory in MiB."""

    name: str
    frames: int = 0
    seconds: float = 0.0
    rate_first: float = 0.0  # first 10 % of the frames
    rate_last: float = 0.0  # last 10 %
    # The same in frames per CPU second of this process: unlike wall time, not moved by
    # other jobs sharing the machine (what the CI check compares).
    cpu_rate_first: float = 0.0
    cpu_rate_last: float = 0.0
    rss_start: float = 0.0
    rss_end: float = 0.0
    rss_max_sampled: float = 0.0
    peak: float = 0.0  # VmHWM over the phase (or the sampled maximum)
    extra: dict = field(default_factory=dict)

    @property
    def slowdown(self) -> float:
        """Last-10 % rate over first-10 % rate (1.0: no slowdown)."""
        return self.rate_last / self.rate_first if self.rate_first else 0.0

    @property
    def cpu_slowdown(self) -> float:
        """The same in CPU time (not moved by other jobs sharing the machine)."""
        return self.cpu_rate_last / self.cpu_rate_first if self.cpu_rate_first else 0.0


class Meter:
    """Collects per-frame times and RSS samples for a `Phase`."""

    def __init__(self, name: str, sample_every: int = 50) -> None:
        self.phase = Phase(name)
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.sample_every = sample_every
        self.peak_reset = reset_peak()
        self.phase.rss_start = self.phase.rss_max_sampled = rss_mib()
        self.started = self._last = time.perf_counter()
        self._last_cpu = time.process_time()

    def tick(self) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        self.times.append(now - self._last)
        self.cpu.append(cpu - self._last_cpu)
        self._last, self._last_cpu = now, cpu
        if len(self.times) % self.sample_every == 0:
            self.phase.rss_max_sampled = max(self.phase.rss_max_sampled, rss_mib())

    def done(self, **extra) -> Phase:
        p = self.phase
        p.frames, p.seconds = len(self.times), time.perf_counter() - self.started
        # Throughput (frames / seconds) of the first and last tenth. Paging's frame times are
        # bimodal (prefetched hits, waits for the decoder), so only a sum over a window counts.
        tenth = max(1, len(self.times) // 10)
        p.rate_first = tenth / max(sum(self.times[:tenth]), 1e-9)
        p.rate_last = tenth / max(sum(self.times[-tenth:]), 1e-9)
        p.cpu_rate_first = tenth / max(sum(self.cpu[:tenth]), 1e-9)
        p.cpu_rate_last = tenth / max(sum(self.cpu[-tenth:]), 1e-9)
        p.rss_end = rss_mib()
        p.rss_max_sampled = max(p.rss_max_sampled, p.rss_end)
        p.peak = peak_mib() if self.peak_reset else p.rss_max_sampled
        p.extra = extra
        return p
