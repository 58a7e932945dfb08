"""What a batch run passes around: the job every worker runs, the executor options, a
worker's report on one media and the driver's verdict, and the `Executor` protocol that
the local pool and the Ray actor pool implement."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import ExecutorError

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class WorkerJob:
    """What every worker runs. ``setup(options) -> state`` runs once per worker (builds the
    segmenter); then ``task(media, options, state)`` per media, or ``task(media, options)``
    when there is no setup. Both must be top-level functions (pickled by reference) and
    ``options`` picklable."""

    task: Callable[..., Any]
    options: Any = None
    setup: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class ExecutorOptions:
    """``kind``: local | ray; ``workers``: media processed at once; ``address``: a Ray
    cluster to join (None: start a local Ray); ``gpus_per_worker``: Ray GPUs per actor
    (fractions share a GPU); ``retries``: re-runs of a media whose worker died."""

    kind: str = "local"
    workers: int = 1
    address: str | None = None
    gpus_per_worker: float = 0.0
    retries: int = 1

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise ExecutorError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.kind!r}")
        if self.workers < 1:
            raise ExecutorError(f"--workers must be at least 1, got {self.workers}")
        if self.gpus_per_worker < 0:
            raise ExecutorError(f"--gpus-per-worker must be >= 0, got {self.gpus_per_worker}")
        if self.address is not None and self.kind != "ray":
            raise ExecutorError(f"--address {self.address} needs --executor ray")
        if self.gpus_per_worker and self.kind != "ray":
            raise ExecutorError("--gpus-per-worker needs --executor ray")
        if self.retries < 0:
            raise ExecutorError(f"retries must be >= 0, got {self.retries}")


@dataclass(frozen=True)
class TaskReport:
    """A worker's answer for one media: the task's result, or its error as one line.
    ``setup_error`` marks a worker that could not build its state (no media ran)."""

    media: str
    result: Any = None
    error: str | None = None
    seconds: float = 0.0
    worker: str = ""
    setup_error: bool = False


@dataclass(frozen=True)
class MediaOutcome:
    """The driver's verdict on one media: ``ok`` with the task's ``result``, or failed with
    ``error``; ``attempts`` counts runs (more than one only after a worker died)."""

    media: str
    ok: bool
    result: Any = None
    error: str | None = None
    attempts: int = 1
    seconds: float = 0.0
    worker: str = ""


def error_line(exc: BaseException) -> str:
    """An exception as one line: ``Type: message`` (first line of the message)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class MediaWorker:
    """One worker's state: the job and what ``job.setup`` built, once. Used in process, in
    pool processes and as the Ray actor class."""

    def __init__(self, job: WorkerJob) -> None:
        self.job = job
        self.state = None
        self.setup_error: str | None = None
        self.name = f"{os.uname().nodename}:{os.getpid()}"
        if job.setup is not None:
            try:
                self.state = job.setup(job.options)
            except Exception as exc:  # noqa: BLE001 - reported with the first media, then the run stops
                self.setup_error = error_line(exc)

    def process(self, media: str) -> TaskReport:
        if self.setup_error is not None:
            return TaskReport(media, error=self.setup_error, worker=self.name, setup_error=True)
        start = time.perf_counter()
        try:
            if self.job.setup is None:
                result = self.job.task(media, self.job.options)
            else:
                result = self.job.task(media, self.job.options, self.state)
        except Exception as exc:  # noqa: BLE001 - one media's failure must not stop the others
            return TaskReport(media, error=error_line(exc), seconds=time.perf_counter() - start, worker=self.name)
        return TaskReport(media, result=result, seconds=time.perf_counter() - start, worker=self.name)


def outcome_from_report(report: TaskReport, attempts: int) -> MediaOutcome:
    """A worker's report as the driver's verdict; a setup failure stops the run."""
    if report.setup_error:
        raise ExecutorError(f"a worker could not start on {report.worker}: {report.error}")
    return MediaOutcome(
        report.media,
        ok=report.error is None,
        result=report.result,
        error=report.error,
        attempts=attempts,
        seconds=report.seconds,
        worker=report.worker,
    )


def died_outcome(media: str, attempts: int, cause: str) -> MediaOutcome:
    return MediaOutcome(
        media,
        ok=False,
        error=f"worker died while processing {media} ({attempts} attempt{'s' * (attempts > 1)}): {cause}",
        attempts=attempts,
    )


class Executor(Protocol):
    def run(self, job: WorkerJob, media: Sequence[str]) -> Iterator[MediaOutcome]:
        """Yield one outcome per media, in completion order."""
        ...
