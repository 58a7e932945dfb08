"""`eval vos` and `eval effort` with the sam2 backend run SAM 2's memory propagator
(`engine.propagation.backends.make_propagator`): a random tiny model on the sample layout."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sam2")

from engine.evaluation.effort import evaluate_effort  # noqa: E402
from engine.evaluation.vos import evaluate_vos  # noqa: E402
from tests.shared_data import sample_davis  # noqa: E402

FRAMES = 4


@pytest.fixture(scope="module")
def segmenter():
    from engine.segment.sam2.build import build_random_sam2
    from engine.segment.sam2.segmenter import Sam2Segmenter

    return Sam2Segmenter(build_random_sam2("tiny", image_size=128, seed=0), "random-tiny", device="cpu")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return sample_davis(tmp_path_factory.mktemp("davis"), frames=FRAMES)


def test_eval_vos_runs_the_memory_propagator(segmenter, data):
    report = evaluate_vos(data, segmenter, limit=1, baselines=False, progress=False)
    assert report["backend"] == "sam2" and report["model"] == "random-tiny"
    (sequence,) = report["sequences"]
    assert sequence["frames"] == FRAMES and 0.0 <= report["JF"] <= 1.0


def test_eval_effort_runs_both_annotators_with_sam2(segmenter, data):
    report = evaluate_effort(data, segmenter, limit=1, frames_limit=FRAMES, max_clicks=2, baseline=False,
                             progress=False)
    for key in ("propagation", "keyframes"):
        assert report[key]["frames"] == FRAMES and report[key]["J"] is not None
