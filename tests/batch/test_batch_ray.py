"""The Ray executor (engine/batch/ray_executor.py) on a local Ray with 2 CPUs.

Ray is an optional extra: without it these tests are skipped (the missing-Ray message is
tested in test_batch.py). Ray workers do not see the tests folder on ``sys.path``, so the
stand-ins of test_batch are pickled by value.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

sys.path.insert(0, str(Path(__file__).parents[1]))
import test_batch
from test_batch import crashing_prelabel, fake_setup, fake_task, label_rows, make_corpus

from engine.batch.jobs import ExecutorOptions, WorkerJob
from engine.batch.ray_executor import RayExecutor


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(test_batch)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(test_batch)


def test_actor_pool_builds_one_state_per_actor_and_retries_a_killed_actor(tmp_path):
    names = ["m1", "crash_once_a", "m22", "crash_always_b", "raise_c", "m333"]
    media = [str(tmp_path / n) for n in names]
    outcomes = {o.media: o for o in RayExecutor(workers=2).run(WorkerJob(fake_task, None, fake_setup), media)}
    assert set(outcomes) == set(media)
    poison = outcomes[str(tmp_path / "crash_always_b")]
    assert not poison.ok and poison.attempts == 2 and "worker died while processing" in poison.error
    once = outcomes[str(tmp_path / "crash_once_a")]
    assert once.ok and once.attempts == 2
    raised = outcomes[str(tmp_path / "raise_c")]
    assert not raised.ok and raised.attempts == 1 and raised.error.startswith("MediaError:")
    good = [outcomes[str(tmp_path / n)] for n in ("m1", "m22", "m333", "crash_once_a")]
    assert all(o.ok and o.result.pid != os.getpid() for o in good)
    states: dict[int, set[str]] = {}
    for o in good:
        states.setdefault(o.result.pid, set()).add(o.result.state)
    assert all(len(s) == 1 for s in states.values())  # one setup per actor
    assert ray.is_initialized()  # the executor leaves a Ray it did not start running


def test_ray_prelabel_matches_local_survives_a_killed_actor_and_resumes(tmp_path):
    from engine.batch.corpus import prelabel_corpus
    from engine.batch.prelabel import PrelabelOptions

    media, masks = make_corpus(tmp_path, ["alpha", "crash_once_b", "crash_always_c"])
    local = PrelabelOptions(out_dir=str(tmp_path / "local"), init_masks=str(masks))
    summary, _ = prelabel_corpus(media[:1], local, ExecutorOptions(), progress=False)
    assert [r.status for r in summary.results] == ["done"]

    distributed = PrelabelOptions(out_dir=str(tmp_path / "ray"), init_masks=str(masks))
    summary, batch = prelabel_corpus(media, distributed, ExecutorOptions(kind="ray", workers=2),
                                     run_one=crashing_prelabel, progress=False)
    assert [r.status for r in summary.results] == ["done", "done", "failed"]
    assert (batch.done, batch.failed) == (2, 1) and batch.frames == 6
    manifest = json.loads((tmp_path / "ray" / "manifest.json").read_text())["media"]
    assert "worker died while processing" in manifest["crash_always_c"]["error"]
    # Same inputs on Ray and locally: the same label rows, geometry included.
    expected = label_rows(tmp_path / "local" / "alpha")
    assert len(expected) == 9  # 3 objects on 3 frames
    assert label_rows(tmp_path / "ray" / "alpha") == expected
    assert label_rows(tmp_path / "ray" / "crash_once_b") == expected  # done on its retry

    # A re-run does only what is missing (still crashing: recorded failed again).
    (tmp_path / "calls.log").unlink()
    summary, batch = prelabel_corpus(media, distributed, ExecutorOptions(kind="ray", workers=2),
                                     run_one=crashing_prelabel, progress=False)
    assert [r.status for r in summary.results] == ["skipped", "skipped", "failed"]
    assert (batch.done, batch.failed, batch.skipped) == (0, 1, 2)
    assert not (tmp_path / "calls.log").exists()  # the crashing media died before logging
