"""Batch executors: run one task per media over a corpus, on this machine or on Ray.

The driver owns everything durable: a worker only runs ``job.task(media, ...)`` and hands
back a `TaskReport`; the caller records each `MediaOutcome` (its manifest) as it comes
back. Each worker builds its expensive state (the segmenter) once with ``job.setup``.

- ``local``, 1 worker: in this process (a worker that dies takes the run with it; a re-run
  resumes from the manifest).
- ``local``, N workers: a spawn-context process pool with N tasks in flight. A process
  that dies breaks the whole pool: the media that were in flight are re-run one at a
  time in a fresh pool, so that a death is charged only to the media that caused it.
- ``ray``: an actor pool (`engine.batch.ray_executor`); a dead actor is replaced and its media
  retried once on another actor.

A task that *raises* fails its media at once (deterministic: a retry would fail again);
only a dead worker earns a retry.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from engine.batch.jobs import (
    EXECUTORS,
    Executor,
    ExecutorOptions,
    MediaOutcome,
    MediaWorker,
    TaskReport,
    WorkerJob,
    died_outcome,
    error_line,
    outcome_from_report,
)
from engine.batch.ray_executor import RayExecutor
from engine.segment import make_segmenter

# Segmenters of this worker process by (backend, checkpoint, device): built once, reused by
# every media the process runs (an actor, a pool process, or the driver itself).
_SEGMENTERS: dict[tuple, Any] = {}


def worker_segmenter(backend: str | None, checkpoint: str | None, device: str | None):
    """`engine.segment.make_segmenter` once per process and arguments (loading SAM weights
    per media would cost seconds each). A segmenter keeps no per-media state."""
    key = (backend, checkpoint, device)
    if key not in _SEGMENTERS:
        _SEGMENTERS[key] = make_segmenter(backend, checkpoint, device)
    return _SEGMENTERS[key]


# The pool process's worker: built at its first task, kept for the next ones.
_POOL_WORKER: MediaWorker | None = None


def _pool_process(job: WorkerJob, media: str) -> TaskReport:
    global _POOL_WORKER
    if _POOL_WORKER is None or _POOL_WORKER.job != job:
        _POOL_WORKER = MediaWorker(job)
    return _POOL_WORKER.process(media)


@dataclass
class _Pending:
    media: str
    runs: int = 0  # times submitted
    deaths: int = 0  # deaths that were surely its own (it ran alone)


@dataclass
class LocalExecutor:
    """In process for one worker, else a spawn-context process pool (see the module doc)."""

    workers: int = 1
    retries: int = 1

    def run(self, job: WorkerJob, media: Sequence[str]) -> Iterator[MediaOutcome]:
        if self.workers == 1:
            worker = MediaWorker(job)
            for item in media:
                yield outcome_from_report(worker.process(item), 1)
            return
        yield from self._run_pool(job, list(media))

    def _new_pool(self):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        return ProcessPoolExecutor(max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"))

    def _run_pool(self, job: WorkerJob, media: list[str]) -> Iterator[MediaOutcome]:
        """A dead process fails every future of the pool. With several media in flight the
        culprit is unknown: they all go to ``suspects``, re-run one at a time, uncharged;
        a death with one media in flight is charged to it (``retries`` re-runs, then failed)."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        queue = deque(_Pending(m) for m in media)
        suspects: deque[_Pending] = deque()
        in_flight: dict[Any, _Pending] = {}
        pool = self._new_pool()
        try:
            while queue or suspects or in_flight:
                limit = 1 if suspects else self.workers
                source = suspects if suspects else queue
                broken = False
                while source and len(in_flight) < limit:
                    item = source.popleft()
                    try:
                        future = pool.submit(_pool_process, job, item.media)
                    except BrokenProcessPool:  # a process died since the last wait: not this media's doing
                        source.appendleft(item)
                        broken = True
                        break
                    item.runs += 1
                    in_flight[future] = item
                if broken and not in_flight:
                    _discard(pool)
                    pool = self._new_pool()
                    continue
                wait(list(in_flight), return_when=FIRST_COMPLETED)
                finished = {f: i for f, i in in_flight.items() if f.done()}
                if any(isinstance(f.exception(), BrokenProcessPool) for f in finished):
                    # The whole pool is down: every future in flight fails now, or just did.
                    finished = dict(in_flight)
                    for future in finished:
                        future.exception()
                dead = [i for f, i in finished.items() if isinstance(f.exception(), BrokenProcessPool)]
                for future, item in finished.items():
                    del in_flight[future]
                    exc = future.exception()
                    if exc is None:
                        yield outcome_from_report(future.result(), item.runs)
                    elif not isinstance(exc, BrokenProcessPool):  # the job or result would not pickle
                        yield MediaOutcome(item.media, ok=False, error=error_line(exc), attempts=item.runs)
                    elif len(dead) > 1:
                        suspects.append(item)
                    else:
                        item.deaths += 1
                        if item.deaths > self.retries:
                            yield died_outcome(item.media, item.runs, "a pool process exited abruptly")
                        else:
                            suspects.append(item)
                if dead:
                    _discard(pool)
                    pool = self._new_pool()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _discard(pool) -> None:
    """Drop a broken ``ProcessPoolExecutor`` without waiting on it: its surviving
    processes are killed first. ``shutdown(wait=True)`` on a pool whose process was killed
    can hang forever in CPython 3.11 (gh-125451: the management thread and shutdown wait on
    each other), which once froze a whole run."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def add_executor_options(parser) -> None:
    """``--executor``, ``--address``, ``--workers``, ``--gpus-per-worker`` on an argparse parser."""
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="local (default: in process, or a process pool with --workers N) or ray "
                        "(an actor pool; needs pip install 'framewise[ray]')")
    parser.add_argument("--address", metavar="ADDR",
                        help="Ray cluster to join (ray start --head prints it); default: start a local Ray")
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="media processed at once (default 1)")
    parser.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G",
                        help="GPUs per Ray worker, fractions share a GPU (default 0)")


def executor_options(args) -> ExecutorOptions:
    """The `ExecutorOptions` of parsed `add_executor_options` arguments."""
    return ExecutorOptions(
        kind=getattr(args, "executor", "local"),
        workers=getattr(args, "workers", 1),
        address=getattr(args, "address", None),
        gpus_per_worker=getattr(args, "gpus_per_worker", 0.0),
    )


def make_executor(options: ExecutorOptions) -> Executor:
    """The executor ``options`` name; Ray's is imported only when asked for."""
    if options.kind == "ray":
        return RayExecutor(
            workers=options.workers,
            address=options.address,
            gpus_per_worker=options.gpus_per_worker,
            retries=options.retries,
        )
    return LocalExecutor(workers=options.workers, retries=options.retries)


@dataclass(frozen=True)
class BatchSummary:
    """A corpus run: media done / failed / skipped (done before), frames processed by the
    media done now, wall seconds, and frames per second over the run."""

    done: int
    failed: int
    skipped: int
    frames: int
    seconds: float

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        return (
            f"{self.done} done, {self.failed} failed, {self.skipped} skipped; "
            f"{self.frames} frames in {self.seconds:.1f} s ({self.fps:.1f} frames/s)"
        )


def _frames_of(result: Any) -> int:
    frames = getattr(result, "frames", 0)
    return len(frames) if isinstance(frames, (list, tuple)) else int(frames or 0)


def _error_of(result: Any) -> str | None:
    """The error of a result that reports its own failure (``status == "failed"``)."""
    if getattr(result, "status", None) == "failed":
        return getattr(result, "error", None) or "failed"
    return None


def run_corpus(
    job: WorkerJob,
    media: Iterable[str],
    options: ExecutorOptions,
    *,
    on_outcome: Callable[[MediaOutcome], None] | None = None,
    skipped: int = 0,
    frames_total: int | None = None,
    frames_of: Callable[[Any], int] = _frames_of,
    error_of: Callable[[Any], str | None] = _error_of,
    progress: bool = True,
) -> BatchSummary:
    """Run ``job`` over ``media`` with the executor ``options`` name, calling ``on_outcome``
    in the driver as each media finishes (record it in the manifest there), with tqdm
    progress over media and frames. ``error_of(result)`` turns a result that reports a
    failure into a failed outcome; ``skipped`` (media done before) only enters the summary."""
    from tqdm import tqdm

    todo = list(media)
    executor = make_executor(options)
    start = time.perf_counter()
    done = failed = frames = 0
    media_bar = tqdm(total=len(todo), desc="media", unit="media", disable=not progress, position=0)
    frame_bar = tqdm(total=frames_total, desc="frames", unit="frame", disable=not progress, position=1)
    try:
        for outcome in executor.run(job, todo):
            reported = error_of(outcome.result) if outcome.ok else None
            if reported is not None:
                outcome = replace(outcome, ok=False, error=reported)
            if outcome.ok:
                done += 1
                count = frames_of(outcome.result)
                frames += count
                frame_bar.update(count)
            else:
                failed += 1
                media_bar.write(f"failed: {outcome.media}: {outcome.error}")
            if on_outcome is not None:
                on_outcome(outcome)
            media_bar.update(1)
            media_bar.set_postfix(failed=failed)
    finally:
        frame_bar.close()
        media_bar.close()
    return BatchSummary(done, failed, skipped, frames, time.perf_counter() - start)
