"""The weight-free propagation step (`engine.propagation.model`): its pure pieces, and the
propagator in ``model`` mode (the classic backend's default) on synthetic and sample clips."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from engine.errors import PromptError
from engine.geometry import mask_iou
from engine.propagation.model import ModelParams, box_around, colour_bins, colour_model, graph_cut, keep_supported
from engine.propagation.propagator import Propagator, default_params
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import PropagationMode
from tests.propagation.test_propagate import SAMPLE, Clip, sample_truth, square_clip, texture


def model_propagator(**changes) -> Propagator:
    params = default_params("classic")
    assert params.step.mode == PropagationMode.MODEL  # the weight-free default
    return Propagator(ClassicSegmenter(), replace(params, **changes))


# -- pure pieces ---------------------------------------------------------------------------
def test_graph_cut_takes_the_objects_colour_where_the_prior_is_unsure() -> None:
    rng = np.random.default_rng(3)
    image = texture(rng, 60, 80, (0.3, 0.4, 0.9))  # blue background
    truth = np.zeros((60, 80), bool)
    truth[20:44, 30:54] = True
    image[truth] = texture(rng, 24, 24, (1.0, 0.5, 0.2)).reshape(-1, 3)  # an orange square
    bins = colour_bins(image)
    model = colour_model(bins, truth, 6.0)
    assert model[0].shape == model[1].shape == (4096,) and abs(model[0].sum() - 1) < 1e-9
    # a prior shifted by 6 px and blurred: unsure around the square's edges
    prior = np.zeros((60, 80), np.float32)
    prior[20:44, 36:60] = 0.8
    cut = graph_cut(prior, bins, image, model, ModelParams())
    assert mask_iou(cut, truth) > 0.9
    # without the colour model the cut follows the (wrong) prior
    blind = graph_cut(prior, bins, image, model, ModelParams(colour_weight=0.0))
    assert mask_iou(blind, truth) < 0.8


def test_pieces_the_motion_does_not_support_are_dropped() -> None:
    cut = np.zeros((30, 30), bool)
    cut[2:10, 2:10] = True  # inside the prior
    cut[20:28, 20:28] = True  # a fragment far from it
    prior = np.zeros((30, 30), np.float32)
    prior[1:11, 1:11] = 1.0
    kept = keep_supported(cut, prior, 0.3)
    assert kept[5, 5] and not kept[24, 24]
    # none supported: the best-supported piece stays (never an empty answer from a cut)
    assert keep_supported(cut, np.zeros_like(prior), 0.3).sum() == 64
    assert box_around(np.zeros((5, 5), bool), 3) == (0, 5, 0, 5)


# -- the propagator in model mode ----------------------------------------------------------------
def test_model_mode_tracks_a_moving_square_and_never_asks_the_segmenter(monkeypatch) -> None:
    clip, truth = square_clip(20, start_x=10, speed=4)

    def refuse(*args, **kwargs):
        raise AssertionError("the model mode must not run the segmenter")

    monkeypatch.setattr(ClassicSegmenter, "prepare", refuse)
    steps = list(model_propagator().propagate(clip, 0, {1: truth[0]}))
    assert [s.frame_index for s in steps] == list(range(1, 20))
    assert not any(s.flagged for s in steps)
    ious = [mask_iou(s.masks[1], truth[s.frame_index]) for s in steps]
    assert min(ious) > 0.85, ious
    assert all(0.0 <= s.scores[1] <= 1.0 and s.checks[1].used == "model" for s in steps)
    assert clip.reads == list(range(20))  # every frame decoded once


def test_an_occluded_object_is_flagged_then_found_again() -> None:
    # The square passes under a band at x = 90…140: hidden from about frame 23 to 26,
    # out again from frame 31.
    clip, truth = square_clip(44, start_x=10, speed=3, cover=(90, 140))
    stopped = list(model_propagator().propagate(clip, 0, {1: truth[0]}))
    # while it slides under the band the cut and the motion disagree: flagged for review,
    # still carried; the scores fall as it goes under
    doubted = [s for s in stopped if s.reasons.get(1, "").startswith("review")]
    assert doubted and all(s.masks[1].any() for s in doubted)
    assert all(mask_iou(s.masks[1], truth[s.frame_index]) > 0.6 for s in doubted)
    assert all(s.scores[1] < 1 - ModelParams().review_risk for s in doubted)
    clear = [s.scores[1] for s in stopped if s.frame_index < 20]
    assert not any(s.flagged for s in stopped if s.frame_index < 20) and min(clear) > max(s.scores[1] for s in doubted)
    lost = [s for s in stopped if "lost" in s.reasons.get(1, "")]
    assert len(lost) == 1 and 22 <= lost[0].frame_index <= 30, [(s.frame_index, s.reasons) for s in stopped]
    assert stopped[-1] is lost[0] and 1 not in lost[0].masks  # the editor's run stops there
    steps = list(model_propagator(on_flag="continue").propagate(clip, 0, {1: truth[0]}))
    lost = [s.frame_index for s in steps if "lost" in s.reasons.get(1, "")]
    hidden = [i for i, t in enumerate(truth) if not t.any()]
    assert set(hidden) <= set(lost), (hidden, lost)  # every frame it is hidden is flagged
    assert all(not s.masks[1].any() for s in steps if s.frame_index in lost)  # no label while lost
    found = [s for s in steps if s.frame_index > max(lost)]
    assert max(lost) <= 36 and len(found) >= 7  # found again within 5 frames of coming out
    assert all(mask_iou(s.masks[1], truth[s.frame_index]) > 0.85 for s in found), [
        mask_iou(s.masks[1], truth[s.frame_index]) for s in found
    ]


def test_leaving_the_frame_and_a_one_frame_video_and_an_empty_mask() -> None:
    clip, truth = square_clip(36, start_x=104, speed=3)  # touches the border at frame 20, gone at 32
    steps = list(model_propagator().propagate(clip, 0, {1: truth[0]}))
    lost = [s for s in steps if "lost" in s.reasons.get(1, "")]
    assert len(lost) == 1 and 26 <= lost[0].frame_index <= 32, [(s.frame_index, s.reasons) for s in steps]
    assert steps[-1] is lost[0]
    assert all(mask_iou(s.masks[1], truth[s.frame_index]) > 0.8 for s in steps if s.frame_index <= 20)
    one = Clip(clip.frames[:1])
    assert list(model_propagator().propagate(one, 0, {1: truth[0]})) == []
    with pytest.raises(PromptError, match="empty mask"):
        list(model_propagator().propagate(clip, 0, {1: np.zeros_like(truth[0])}))


def test_model_mode_on_the_sample_video_has_no_stray_fragments() -> None:
    from engine.media.open import open_media

    manifest = json.loads((SAMPLE / "manifest.json").read_text())
    ids = [o["id"] for o in manifest["objects"]]
    first = sample_truth(0)
    ious: dict[int, list[float]] = {i: [] for i in ids}
    with open_media(SAMPLE / "video.mp4") as source:
        for step in model_propagator().propagate(source, 0, {i: first == i for i in ids}):
            truth = sample_truth(step.frame_index)
            # nothing is lost (review flags may ask for a look, the masks go on)
            assert all(r.startswith("review") for r in step.reasons.values()), step.reasons
            for i in ids:
                ious[i].append(mask_iou(step.masks[i], truth == i))
                assert step.masks[i].any()
    for i, values in ious.items():
        assert np.mean(values) >= 0.85 and min(values) >= 0.6, (i, np.mean(values), min(values))


class SequentialClip(Clip):
    """A clip that also reads sequentially, as `engine.media.FrameSource.iter_frames` does."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        super().__init__(frames)
        self.runs: list[tuple[int, int]] = []

    def iter_frames(self, start: int = 0, stop: int | None = None, step: int = 1):
        stop = len(self) if stop is None else stop
        self.runs.append((start, stop))
        for index in range(start, stop, step):
            yield self.frames[index].copy()


def test_a_video_is_read_sequentially_forwards_and_frame_by_frame_backwards() -> None:
    """A video reader asked frame by frame is parked between reads and re-seeks from the
    keyframe each time (720p: 71.8 s → 23.7 s for 289 frames when read sequentially)."""
    clip, truth = square_clip(12, start_x=10, speed=3)
    sequential = SequentialClip(clip.frames)
    steps = list(model_propagator().propagate(sequential, 2, {1: truth[2]}, until=9))
    assert [s.frame_index for s in steps] == list(range(3, 10))
    assert sequential.runs == [(3, 10)] and sequential.reads == [2]  # the start frame, then one run
    back = list(model_propagator().propagate(sequential, 9, {1: truth[9]}, direction=-1, until=4))
    assert [s.frame_index for s in back] == [8, 7, 6, 5, 4] and sequential.runs == [(3, 10)]
    assert sequential.reads == [2, 9, 8, 7, 6, 5, 4]
    assert all(mask_iou(s.masks[1], truth[s.frame_index]) > 0.85 for s in steps + back)


def test_label_risk_rises_with_each_warning_sign() -> None:
    from engine.propagation.model import RiskSignals, label_risk

    params = ModelParams()
    good = RiskSignals(colour=0.8, ambiguity=0.05, drift=0.3, agreement=0.95, pieces=1)
    base = label_risk(good, params)
    assert 0.0 < base < params.review_risk  # a clean early frame is not flagged
    for worse in (replace(good, colour=0.2), replace(good, ambiguity=0.6), replace(good, drift=8.0),
                  replace(good, agreement=0.6), replace(good, pieces=4)):
        assert label_risk(worse, params) > base, worse
    assert label_risk(replace(good, agreement=0.3, ambiguity=0.5), params) > 0.5
