"""`framewise prelabel` over a corpus with an executor (local process pool or Ray).

The same contract as `engine.batch.prelabel.run_prelabel` (same lock, manifest, plans, project
per media), with the media run in parallel by `engine.batch.executors`: workers run
`prelabel_one` and write only their media's project folder; this driver alone holds the lock
on ``OUT`` (for the whole run, Ray included) and reads and rewrites ``OUT/manifest.json``
(atomically, after each media comes back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from engine.batch.executors import BatchSummary, executor_options, run_corpus, worker_segmenter
from engine.batch.jobs import ExecutorOptions, MediaOutcome, WorkerJob
from engine.batch.manifest import result_entry, running_entry
from engine.batch.outputs import out_lock
from engine.batch.prelabel import MediaResult, PrelabelSummary, plan_prelabel, prelabel_one, prepare_out, run_prelabel


def prelabel_setup(job_options: tuple) -> None:
    """A worker's set-up: build its segmenter now (kept by `worker_segmenter`). With a
    session the backend is the session's, known at the first media: built then."""
    _, options = job_options
    if options.session is None:
        worker_segmenter(options.backend, options.checkpoint, options.device)


def prelabel_task(media: str, job_options: tuple, state: None):
    run_one, options = job_options
    return run_one(media, options)


def prelabel_corpus(
    media: list[str],
    options,
    executor: ExecutorOptions,
    *,
    run_one: Callable | None = None,
    progress: bool = True,
):
    """Pre-label ``media`` into ``options.out_dir`` with ``executor``; returns the
    `PrelabelSummary` (results in input order) and the run's `BatchSummary`.

    ``run_one(media, options) -> MediaResult`` defaults to `prelabel_one`; it must be a
    top-level function (workers import it)."""
    run_one = run_one or prelabel_one
    out = prepare_out(options)
    with out_lock(out):
        manifest, plans = plan_prelabel(media, options, out)
        by_media = {plan.media: plan for plan in plans}
        results: dict[str, MediaResult] = {plan.media: plan.result for plan in plans if plan.result is not None}
        for plan in plans:
            if plan.result is None:
                manifest.set(plan.name, running_entry(plan))
            elif plan.record:
                manifest.set(plan.name, result_entry(plan.result, plan.key))
        manifest.write(out)
        todo = [plan.media for plan in plans if plan.result is None]
        skipped = sum(plan.action == "skip" for plan in plans)
        failed_before = sum(plan.action == "fail" for plan in plans)

        def on_outcome(outcome: MediaOutcome) -> None:
            plan = by_media[outcome.media]
            result = outcome.result
            if not isinstance(result, MediaResult):  # the worker died or the task raised
                result = MediaResult(outcome.media, plan.name, "failed", str(out / plan.name), error=outcome.error,
                                     seconds=round(outcome.seconds, 3))
            results[outcome.media] = result
            manifest.set(plan.name, result_entry(result, plan.key))
            manifest.write(out)

        # The driver draws the progress over the corpus; per-media bars would interleave.
        worker_options = replace(options, progress=False, plans=tuple(plans))
        job = WorkerJob(task=prelabel_task, options=(run_one, worker_options), setup=prelabel_setup)
        batch = run_corpus(job, todo, executor, on_outcome=on_outcome, skipped=skipped, progress=progress)
    batch = replace(batch, failed=batch.failed + failed_before)
    return PrelabelSummary([results[item] for item in media]), batch


def run_with_executor(media: list[str], options, args):
    """`framewise prelabel`'s run: `engine.batch.prelabel.run_prelabel` in process (the default),
    else `prelabel_corpus` with the executor the arguments name; prints the summary line
    (done, failed, skipped, frames/s) on stderr. Returns the `PrelabelSummary`."""
    import sys
    import time

    executor = executor_options(args)
    if executor.kind == "local" and executor.workers == 1:
        start = time.perf_counter()
        summary = run_prelabel(media, options)
        done = [r for r in summary.results if r.status == "done"]
        batch = BatchSummary(len(done), summary.count("failed"), summary.count("skipped"),
                             sum(r.frames for r in done), time.perf_counter() - start)
    else:
        summary, batch = prelabel_corpus(media, options, executor, progress=options.progress)
    print(f"prelabel: {batch.line()}", file=sys.stderr)
    return summary
