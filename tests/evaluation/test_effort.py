"""The simulated annotator of `eval effort`: the counting on reachable frames, and the
keyframe mode (click the first and last frame holding the object, fill between from both
ends, correct walking forwards) on a DAVIS layout of the sample media and on real DAVIS."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.evaluation.annotator import EffortResult, EmbeddingCache, first_click
from engine.evaluation.clicker import next_click
from engine.evaluation.effort import _totals, click_ratio
from engine.evaluation.effort_keyframes import annotate_with_keyframes
from engine.evaluation.vos import list_sequences
from engine.media.open import open_media
from engine.propagation.propagator import default_params
from engine.segment.classic.segmenter import ClassicSegmenter
from tests.shared_data import sample_davis, shared_data

QUALITY = 0.3


def result(name: str, frame_clicks: dict[int, int], unreachable: tuple[int, ...] = (), frames: int = 4) -> EffortResult:
    clicks = sum(frame_clicks.values())
    return EffortResult(name, frames, clicks, len(frame_clicks), 0, [1.0] * frames, 0.0, frame_clicks, unreachable)


def test_clicks_on_unreachable_frames_are_left_out_on_both_sides() -> None:
    # frame 2 never reaches the threshold from scratch: 20 clicks clicking every frame,
    # and 20 again when propagation hands it over below the threshold
    baseline = [result("a", {0: 3, 1: 4, 2: 20, 3: 5}, unreachable=(2,)), result("b", {0: 6, 1: 6}, frames=2)]
    propagated = [result("a", {0: 3, 2: 20}), result("b", {0: 6}, frames=2)]
    unreachable = {r.name: r.unreachable for r in baseline}
    assert click_ratio(baseline, propagated) == pytest.approx(44 / 29, abs=1e-3)  # the old counting
    assert click_ratio(baseline, propagated, unreachable) == pytest.approx(24 / 9, abs=1e-3)
    assert click_ratio(baseline, [result("a", {}), result("b", {}, frames=2)]) is None
    totals = _totals(propagated, unreachable)
    assert (totals["frames"], totals["reachable_frames"], totals["clicks"], totals["clicks_reachable"]) == (6, 5, 29, 9)
    assert totals["sequences"][0]["clicks_reachable"] == 3 and totals["sequences"][0]["reachable_frames"] == 3


def test_a_correction_starts_with_an_include_click() -> None:
    gt = np.zeros((60, 80), bool)
    gt[10:40, 10:40] = True
    spill = gt.copy()
    spill[10:40, 40:60] = True  # the largest error is a false positive: a lone exclude click
    assert not next_click(gt, spill).positive
    click = first_click(gt, spill)
    assert click.positive and gt[click.y, click.x]  # the object's interior point instead
    assert (click.x, click.y) == (next_click(gt, np.zeros_like(gt)).x, next_click(gt, np.zeros_like(gt)).y)
    short = gt.copy()
    short[10:40, 30:40] = False  # the largest error is missed object: the standard click
    assert first_click(gt, short) == next_click(gt, short) and first_click(gt, short).positive
    assert first_click(gt, gt) is None


def _absent_at_the_ends(root: Path) -> Path:
    """The sample layout with the ball's first and last annotations emptied: the object
    is 'present' on frames 1 … 6 only."""
    data = sample_davis(root, frames=8)
    for index in (0, 7):
        path = data / "Annotations" / "ball" / f"{index:05d}.png"
        cv2.imwrite(str(path), np.zeros_like(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)))
    return data


def test_keyframe_mode_clicks_the_first_and_last_frame_holding_the_object(tmp_path: Path) -> None:
    data = _absent_at_the_ends(tmp_path)
    sequence = next(s for s in list_sequences(data) if s.name == "ball")
    segmenter = ClassicSegmenter()
    params = replace(default_params("classic"), on_flag="continue", quality=QUALITY)
    with open_media(sequence.frames_dir) as source:
        cache = EmbeddingCache(segmenter, QUALITY, size=8)
        kept = annotate_with_keyframes(sequence, segmenter, source, 8, cache, params, threshold=0.85, max_clicks=20)
    assert kept.frames == 8 and len(kept.j) == 8
    assert {1, 6} <= set(kept.frame_clicks)  # the keyframes, clicked from scratch
    assert 0 not in kept.frame_clicks and 7 not in kept.frame_clicks  # nothing to label there
    assert kept.j[0] == kept.j[7] == 1.0
    assert kept.clicks == sum(kept.frame_clicks.values()) and kept.corrected >= 2
    # every frame ends at the threshold unless the clicker ran out of clicks on it
    for frame, value in enumerate(kept.j):
        assert value >= 0.85 or kept.frame_clicks.get(frame) == 20, (frame, value, kept.frame_clicks)


def test_eval_effort_reports_both_modes_and_both_countings_on_davis(capsys: pytest.CaptureFixture[str]) -> None:
    from engine.cli.main import main

    data = shared_data("davis16-train10")
    code = main(["eval", "effort", str(data), "--limit", "1", "--frames-limit", "4", "--quality", str(QUALITY), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["annotators"] == ["sequential", "keyframes"]
    base, sequential, keyframes = report["no_propagation"], report["propagation"], report["keyframes"]
    assert base["frames"] == sequential["frames"] == keyframes["frames"] == 4
    assert base["reachable_frames"] == 4 - base["unreachable_frames"]
    assert keyframes["corrected_frames"] >= 2  # bear: the first and the last frame
    for mode, totals in (("sequential", sequential), ("keyframes", keyframes)):
        ratios = report["ratios"][mode]
        assert ratios["all_frames"] == pytest.approx(base["clicks"] / totals["clicks"], abs=1e-3)
        if totals["clicks_reachable"]:
            assert ratios["reachable_frames"] == pytest.approx(base["clicks_reachable"] / totals["clicks_reachable"],
                                                               abs=1e-3)
        assert 0.5 < totals["J"] <= 1.0
    assert report["click_ratio"] == report["ratios"]["sequential"]["all_frames"]
