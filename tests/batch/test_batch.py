"""Batch executors (engine/batch/executors.py, engine/batch/corpus.py): in process and process pool.

Stand-in tasks below are top-level so pool processes import them; their media names say
what they do: ``raise*`` raises, ``crash_always*`` kills its process, ``crash_once*``
kills it the first time only (a marker file next to it remembers).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.batch.executors import LocalExecutor, run_corpus
from engine.batch.jobs import ExecutorOptions, WorkerJob
from engine.errors import ExecutorError, MediaError

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_media"


@dataclass(frozen=True)
class FakeResult:
    media: str
    pid: int
    state: str
    frames: int


def fake_setup(options) -> str:
    if options == "broken":
        raise RuntimeError("no weights here")
    return f"{os.getpid()}:{uuid.uuid4().hex}"


def maybe_crash(media: str) -> None:
    name = Path(media).name
    if name.startswith("crash_always"):
        os._exit(3)
    if name.startswith("crash_once"):
        marker = Path(media + ".crashed")
        if not marker.exists():
            marker.write_text("crashed once")
            os._exit(3)


def fake_task(media: str, options, state: str) -> FakeResult:
    if Path(media).name.startswith("raise"):
        raise MediaError(f"{media}: cannot decode frame 3")
    maybe_crash(media)
    return FakeResult(media, os.getpid(), state, frames=len(Path(media).name))


def crashing_prelabel(media: str, options):
    """`prelabel_one`, with the crashes above, logging each call to ``OUT/../calls.log``."""
    from engine.batch.prelabel import prelabel_one

    maybe_crash(media)
    with open(Path(options.out_dir).parent / "calls.log", "a", encoding="utf-8") as log:
        log.write(Path(media).name + "\n")
    return prelabel_one(media, options)


def make_corpus(root: Path, names: list[str], frames: int = 3) -> tuple[list[str], Path]:
    """Image-folder media of ``frames`` sample frames each, and their first-frame masks."""
    from engine.demo.samples import write_sample_corpus

    return write_sample_corpus(root, names, frames)


def label_rows(project_folder: str | Path) -> list[tuple]:
    """A project's labels as comparable rows: ids, class, source, flags and exact geometry."""
    from engine.project import Project
    from engine.types import shape_to_json

    with Project.open(project_folder) as project:
        labels = project.labels()
    return sorted(
        (l.object_id, l.frame_index, l.class_name, l.source, round(l.score, 6), l.confirmed, l.review,
         json.dumps(shape_to_json(l.shape, decimals=None)))
        for l in labels
    )


def test_in_process_runs_every_media_builds_state_once_and_isolates_a_raising_media(tmp_path):
    media = [str(tmp_path / n) for n in ("m1", "raise_m2", "m333")]
    seen = []
    summary = run_corpus(WorkerJob(fake_task, "opts", fake_setup), media, ExecutorOptions(),
                         on_outcome=seen.append, skipped=5, progress=False)
    assert [o.media for o in seen] == media
    ok = [o for o in seen if o.ok]
    assert {o.result.state for o in ok} == {ok[0].result.state}  # one setup for the worker
    assert all(o.result.pid == os.getpid() for o in ok)  # in this process
    failed = seen[1]
    assert not failed.ok and failed.error.startswith("MediaError:") and "raise_m2" in failed.error
    assert (summary.done, summary.failed, summary.skipped) == (2, 1, 5)
    assert summary.frames == len("m1") + len("m333")
    assert summary.fps > 0


def test_process_pool_retries_a_killed_worker_once_and_finishes_the_run(tmp_path):
    names = ["m1", "crash_once_a", "m2", "crash_always_b", "m3", "m4"]
    media = [str(tmp_path / n) for n in names]
    outcomes = {o.media: o for o in LocalExecutor(workers=2).run(WorkerJob(fake_task, None, fake_setup), media)}
    assert set(outcomes) == set(media)
    poison = outcomes[str(tmp_path / "crash_always_b")]
    # Its own death twice (alone in the pool), plus maybe one run beside another media.
    assert not poison.ok and poison.attempts in (2, 3)
    assert "worker died" in poison.error and "crash_always_b" in poison.error
    once = outcomes[str(tmp_path / "crash_once_a")]
    assert once.ok and once.attempts in (2, 3)
    good = [outcomes[str(tmp_path / n)] for n in ("m1", "m2", "m3", "m4")]
    assert all(o.ok for o in good)
    assert all(o.result.pid != os.getpid() for o in good)  # in pool processes
    # One state per process: a process never reports two different setups.
    states = {}
    for o in (*good, once):
        states.setdefault(o.result.pid, set()).add(o.result.state)
    assert all(len(s) == 1 for s in states.values())


def test_a_worker_that_cannot_start_stops_the_run_with_a_clear_error(tmp_path):
    with pytest.raises(ExecutorError, match="could not start.*no weights here"):
        run_corpus(WorkerJob(fake_task, "broken", fake_setup), [str(tmp_path / "m1")], ExecutorOptions(), progress=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "dask"}, "executor must be one of"),
        ({"workers": 0}, "--workers must be at least 1"),
        ({"address": "10.0.0.1:6379"}, "needs --executor ray"),
        ({"gpus_per_worker": 1.0}, "--gpus-per-worker needs --executor ray"),
        ({"kind": "ray", "gpus_per_worker": -1.0}, "--gpus-per-worker must be >= 0"),
    ],
)
def test_executor_options_are_checked(kwargs, message):
    with pytest.raises(ExecutorError, match=message):
        ExecutorOptions(**kwargs)


def test_ray_missing_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    with pytest.raises(ExecutorError) as info:
        run_corpus(WorkerJob(fake_task, None, fake_setup), [str(tmp_path / "m1")], ExecutorOptions(kind="ray"),
                   progress=False)
    assert str(info.value) == "the ray executor needs Ray: pip install 'framewise[ray]'"


def test_prelabel_pool_records_a_dead_worker_and_a_rerun_does_only_what_is_missing(tmp_path):
    from engine.batch.corpus import prelabel_corpus
    from engine.batch.prelabel import PrelabelOptions

    media, masks = make_corpus(tmp_path, ["alpha", "crash_always_c", "beta"])
    out = tmp_path / "out"
    options = PrelabelOptions(out_dir=str(out), init_masks=str(masks))
    summary, batch = prelabel_corpus(media, options, ExecutorOptions(workers=2), run_one=crashing_prelabel,
                                     progress=False)
    assert [r.status for r in summary.results] == ["done", "failed", "done"]
    assert (batch.done, batch.failed, batch.skipped) == (2, 1, 0)
    manifest = json.loads((out / "manifest.json").read_text())["media"]
    assert manifest["crash_always_c"]["status"] == "failed"
    assert "worker died" in manifest["crash_always_c"]["error"]
    assert manifest["alpha"]["status"] == manifest["beta"]["status"] == "done"
    first_rows = label_rows(out / "alpha")
    assert {row[0] for row in first_rows} == {1, 2, 3} and {row[1] for row in first_rows} == {0, 1, 2}

    # The crash is fixed (same media, renamed input would change the key: use a plain run).
    (tmp_path / "calls.log").unlink()
    summary, batch = prelabel_corpus(media, options, ExecutorOptions(workers=2),
                                     run_one=_fixed_prelabel, progress=False)
    assert [r.status for r in summary.results] == ["skipped", "done", "skipped"]
    assert (batch.done, batch.failed, batch.skipped) == (1, 0, 2)
    assert (tmp_path / "calls.log").read_text().split() == ["crash_always_c"]
    assert json.loads((out / "manifest.json").read_text())["media"]["crash_always_c"]["status"] == "done"
    assert label_rows(out / "alpha") == first_rows  # untouched
    # Same inputs, same labels: the media redone alone matches one done beside others.
    assert label_rows(out / "crash_always_c") == first_rows


def _fixed_prelabel(media: str, options):
    from engine.batch.prelabel import prelabel_one

    with open(Path(options.out_dir).parent / "calls.log", "a", encoding="utf-8") as log:
        log.write(Path(media).name + "\n")
    return prelabel_one(media, options)


def test_an_unreachable_ray_address_fails_fast_with_its_address():
    import socket

    from engine.batch.ray_executor import check_reachable

    with socket.socket() as probe:  # a port nobody listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        with pytest.raises(ExecutorError, match=f"cannot reach the Ray cluster at 127.0.0.1:{port}"):
            check_reachable(f"127.0.0.1:{port}", timeout=2.0)


def test_the_prelabel_command_takes_the_executor_options(tmp_path, capsys):
    from engine.cli.main import main

    media, masks = make_corpus(tmp_path, ["alpha"], frames=1)
    code = main(["prelabel", *media, "--init-masks", str(masks), "--out", str(tmp_path / "out"),
                 "--executor", "local", "--address", "127.0.0.1:6379"])
    assert code == 2
    assert "framewise: error: --address 127.0.0.1:6379 needs --executor ray" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before any work


def test_a_worker_process_builds_its_segmenter_once():
    from engine.batch.executors import worker_segmenter

    first = worker_segmenter("classic", None, None)
    assert worker_segmenter("classic", None, None) is first
    assert first.name == "classic"
