"""`framewise prelabel` over a corpus with an executor (local process pool or Ray).

The same contract as `engine.batch.prelabel.run_prelabel` (same manifest, same skipping, same
project per media), with the media run in parallel by `engine.batch.executors`: workers run
`prelabel_one` and write only their media's project folder; this driver alone reads and
rewrites ``OUT/manifest.json`` (atomically, after each media comes back).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from engine.batch.executors import BatchSummary, executor_options, run_corpus, worker_segmenter
from engine.batch.jobs import ExecutorOptions, MediaOutcome, WorkerJob
from engine.batch.prelabel import (
    DONE_MARKER,
    MANIFEST,
    MediaResult,
    PrelabelSummary,
    input_key,
    prelabel_one,
    prepare_out,
    read_manifest,
    run_prelabel,
)
from engine.errors import FramewiseError
from engine.fileio import atomic_write_json
from engine.media.fingerprint import media_stem


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
    out = prepare_out(media, options)
    manifest = read_manifest(out)
    results: dict[str, MediaResult] = {}
    keys: dict[str, str | None] = {}
    todo: list[str] = []
    skipped = failed_before = 0

    def record(item: str, result: MediaResult) -> None:
        results[item] = result
        manifest["media"][result.stem] = {
            "media": item, "status": result.status, "key": keys.get(item), "error": result.error,
            "frames": result.frames, "labels": result.labels, "flagged": result.flagged, "seconds": result.seconds,
        }

    for item in media:
        stem = media_stem(item)
        try:
            keys[item] = input_key(item, options)
        except (FramewiseError, OSError) as exc:
            keys[item] = None
            record(item, MediaResult(item, stem, "failed", str(out / stem), error=" ".join(str(exc).split())))
            failed_before += 1
            continue
        entry = manifest["media"].get(stem, {})
        if entry.get("status") == "done" and entry.get("key") == keys[item] and (out / stem / DONE_MARKER).is_file():
            skipped += 1
            results[item] = MediaResult(item, stem, "skipped", str(out / stem), frames=entry.get("frames", 0),
                                        labels=entry.get("labels", 0), flagged=entry.get("flagged", 0))
            continue
        manifest["media"][stem] = {"media": item, "status": "running", "key": keys[item]}
        todo.append(item)
    atomic_write_json(out / MANIFEST, manifest)

    def on_outcome(outcome: MediaOutcome) -> None:
        result = outcome.result
        if not isinstance(result, MediaResult):  # the worker died or the task raised
            stem = media_stem(outcome.media)
            result = MediaResult(outcome.media, stem, "failed", str(out / stem), error=outcome.error,
                                 seconds=round(outcome.seconds, 3))
        record(outcome.media, result)
        atomic_write_json(out / MANIFEST, manifest)

    # The driver draws the progress over the corpus; per-media bars would interleave.
    job = WorkerJob(task=prelabel_task, options=(run_one, replace(options, progress=False)), setup=prelabel_setup)
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
