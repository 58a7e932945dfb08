"""Filling between two confirmed frames from both ends (`engine.propagation.fill`): the pure
fusion on masks with known answers, the two runs on a synthetic clip, and permanent
drawing between two confirmed labels (`run_propagation`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from counting_media import CountingSource, moving_square

from engine.editing.labels import MemoryLabelStore
from engine.geometry import mask_iou, mask_to_polygon, polygon_to_mask
from engine.propagation.fill import (
    FillStep,
    FuseParams,
    PackedMask,
    RunFrame,
    anchor_weights,
    far_run,
    fill_between,
    fill_ends,
    fuse,
    fuse_run,
    soft_mask,
)
from engine.propagation.permanent import run_propagation
from engine.propagation.propagator import Propagator, default_params
from engine.segment.classic.segmenter import ClassicSegmenter
from engine.types import Label, LabelSource
from tests.propagation.test_propagate import square_clip


def square(x: int, y: int, side: int = 20, shape: tuple[int, int] = (80, 120)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[y : y + side, x : x + side] = True
    return mask


def filler() -> Propagator:
    return Propagator(ClassicSegmenter(), replace(default_params("classic"), on_flag="continue"))


# -- pure pieces ---------------------------------------------------------------------------
def test_anchor_weights_trust_the_closer_anchor() -> None:
    assert anchor_weights(12, 10, 20) == pytest.approx((0.8, 0.2))
    assert anchor_weights(12, 20, 10) == pytest.approx((0.2, 0.8))  # either order
    assert anchor_weights(10, 10, 20) == (1.0, 0.0)
    with pytest.raises(ValueError):
        anchor_weights(3, 3, 3)


def test_a_soft_mask_is_the_mask_at_one_half() -> None:
    mask = square(30, 20) | square(70, 50, 8)
    soft = soft_mask(mask, 2.0)
    assert soft.dtype == np.float32 and soft.shape == mask.shape
    assert np.array_equal(soft >= 0.5, mask)
    assert soft[30, 40] > 0.98 and soft[0, 0] < 0.01  # deep inside / far outside
    assert np.array_equal(soft_mask(mask, 0.0), mask.astype(np.float32))


def test_packed_masks_round_trip() -> None:
    rng = np.random.default_rng(1)
    mask = np.zeros((50, 70), bool)
    mask[10:31, 7:40] = rng.random((21, 33)) > 0.5
    packed = PackedMask.pack(mask)
    assert packed.box == (int(np.nonzero(mask)[0].min()), int(np.nonzero(mask)[0].max()) + 1,
                          int(np.nonzero(mask)[1].min()), int(np.nonzero(mask)[1].max()) + 1)
    assert packed.bits.nbytes < mask.size // 8
    assert np.array_equal(packed.unpack(), mask)
    empty = PackedMask.pack(np.zeros((5, 6), bool))
    assert np.array_equal(empty.unpack(), np.zeros((5, 6), bool))


def test_next_to_an_anchor_the_fused_mask_is_that_anchors_run() -> None:
    a, b = 0, 20
    from_a, from_b = RunFrame(square(30, 20), 0.9), RunFrame(square(36, 24), 0.9)
    assert np.array_equal(fuse(from_a, from_b, a + 1, a, b).mask, from_a.mask)
    assert np.array_equal(fuse(from_a, from_b, b - 1, a, b).mask, from_b.mask)
    # backwards (a after b): the same rule
    assert np.array_equal(fuse(from_a, from_b, 19, 20, 0).mask, from_a.mask)


def test_two_drifting_runs_fuse_better_than_either() -> None:
    # A square that does not move; the run from frame 0 drifts right 1 px a frame, the run
    # from frame 24 drifts down 1 px a frame: each is good near its anchor only.
    a, b = 0, 24
    truth = square(40, 20, 24)
    fused, forward, backward = [], [], []
    for t in range(a + 1, b):
        from_a = RunFrame(square(40 + (t - a), 20, 24), 0.9)
        from_b = RunFrame(square(40, 20 + (b - t), 24), 0.9)
        result = fuse(from_a, from_b, t, a, b)
        assert result.agreement == pytest.approx(mask_iou(from_a.mask, from_b.mask))
        assert 0.0 <= result.score <= 1.0
        fused.append(mask_iou(result.mask, truth))
        forward.append(mask_iou(from_a.mask, truth))
        backward.append(mask_iou(from_b.mask, truth))
    assert np.mean(fused) > max(np.mean(forward), np.mean(backward)) + 0.1
    assert min(fused) > min(min(forward), min(backward))


def test_the_surer_run_wins_halfway_and_a_lost_run_has_no_say() -> None:
    a, b, t = 0, 20, 10
    sure, unsure = RunFrame(square(30, 20), 0.95), RunFrame(square(60, 40), 0.3)
    assert np.array_equal(fuse(sure, unsure, t, a, b).mask, sure.mask)
    assert np.array_equal(fuse(unsure, sure, t, a, b).mask, sure.mask)
    lost = RunFrame(np.zeros((80, 120), bool), 0.0, True, "lost")
    one = fuse(lost, sure, 3, a, b)  # the lost run is the closer one: still no say
    assert np.array_equal(one.mask, sure.mask) and one.agreement == 0.0
    assert np.array_equal(fuse(None, sure, 3, a, b).mask, sure.mask)
    both = fuse(lost, lost, t, a, b)
    assert both.review and not both.mask.any() and both.score == 0.0
    tie = fuse(RunFrame(square(10, 20), 0.9), RunFrame(square(70, 20), 0.9), t, a, b)  # disjoint, equal weights
    assert np.array_equal(tie.mask, square(10, 20))  # never an empty answer from two masks


def test_review_when_the_runs_disagree_halfway_or_both_flag() -> None:
    a, b = 0, 20
    left, right = RunFrame(square(10, 20), 0.9), RunFrame(square(70, 20), 0.9)
    halfway = fuse(left, right, 10, a, b)
    assert halfway.review and halfway.agreement == 0.0 and "disagree" in halfway.reason
    assert halfway.consistency == pytest.approx(0.0) and halfway.score == pytest.approx(0.9)
    near = fuse(left, right, 1, a, b)  # next to an anchor the near run is right
    assert not near.review and near.consistency == pytest.approx(0.9)
    same = RunFrame(square(10, 20), 0.9, True, "doubt")
    flagged = fuse(same, same, 10, a, b)
    assert flagged.review and "both runs flagged" in flagged.reason and flagged.agreement == 1.0
    assert not fuse(same, RunFrame(square(10, 20), 0.9), 10, a, b).review  # one flag, the runs agree
    assert not fuse(left, right, 10, a, b, FuseParams(review_below=0.0)).review


def test_fill_ends_picks_objects_confirmed_on_both_sides_within_reach() -> None:
    shape = mask_to_polygon(square(30, 20))
    person = Label(1, 5, "object", shape)
    propagated = Label(2, 5, "object", shape, source=LabelSource.PROPAGATED, confirmed=False)
    starts = {1: person, 2: propagated, 3: replace(person, object_id=3), 4: replace(person, object_id=4)}
    anchors = {1: {0, 5, 9, 30}, 2: {9}, 3: {6}, 4: {0}}
    assert fill_ends(starts, anchors, 5, 1, 100) == {1: 9}  # 2: not a person's; 3: no frame between; 4: behind
    assert fill_ends(starts, anchors, 5, -1, 0) == {1: 0, 4: 0}
    assert fill_ends(starts, anchors, 5, 1, 7) == {}  # the run stops before frame 8


# -- the two runs on a synthetic clip --------------------------------------------------------
def test_fill_between_two_keyframes_of_a_moving_square() -> None:
    clip, truth = square_clip(14, start_x=10, speed=4)
    steps = list(fill_between(filler(), clip, 0, 13, {1: truth[0]}, {1: truth[13]}))
    assert [s.frame_index for s in steps] == list(range(1, 13))
    assert all(isinstance(s, FillStep) and 0.0 <= s.scores[1] <= 1.0 for s in steps)
    ious = [mask_iou(s.masks[1], truth[s.frame_index]) for s in steps]
    assert min(ious) > 0.85, ious
    assert all(s.agreement[1] > 0.7 for s in steps)
    backwards = list(fill_between(filler(), clip, 13, 0, {1: truth[13]}, {1: truth[0]}))
    assert [s.frame_index for s in backwards] == list(range(12, 0, -1))
    assert min(mask_iou(s.masks[1], truth[s.frame_index]) for s in backwards) > 0.85


def test_a_stored_far_run_is_fused_with_a_fresh_near_run() -> None:
    clip, truth = square_clip(12, start_x=10, speed=4)
    propagator = filler()
    far = far_run(propagator, clip, 11, 0, {1: truth[11]})
    assert sorted(far) == list(range(1, 11))
    # a new keyframe at frame 4: only the run from it is computed again
    steps = list(fuse_run(propagator, clip, 4, 11, {1: truth[4]}, far))
    assert [s.frame_index for s in steps] == list(range(5, 11))
    assert min(mask_iou(s.masks[1], truth[s.frame_index]) for s in steps) > 0.85
    # no near run (the keyframe holds no object): the far run alone
    alone = list(fuse_run(propagator, clip, 4, 11, {1: np.zeros_like(truth[4])}, far))
    assert all(np.array_equal(s.masks[1], far[s.frame_index][1].frame().mask) for s in alone)


# -- permanent drawing between two confirmed labels -------------------------------------------
def test_permanent_drawing_fills_between_two_confirmed_labels_and_keeps_them() -> None:
    frames, masks = moving_square(16)
    source = CountingSource(frames)
    first = Label(1, 2, "object", mask_to_polygon(masks[2]), media="clip")
    second = Label(1, 12, "object", mask_to_polygon(masks[12]), media="clip")
    other = Label(2, 2, "object", mask_to_polygon(masks[2]), media="clip")  # confirmed on frame 2 only
    store = MemoryLabelStore([first, second, other])
    progress = []
    result = run_propagation(source, store, "clip", 2, ClassicSegmenter(), quality=0.2, group=store.group,
                             progress=progress.append)
    labels = {(label.object_id, label.frame_index): label for label in store.labels("clip")}
    assert {f for o, f in labels if o == 1} == set(range(2, 13))  # every frame between, nothing past 12
    assert {f for o, f in labels if o == 2} == set(range(2, 16))  # one-sided: to the end
    assert labels[(1, 2)] == first and labels[(1, 12)] == second  # the anchors untouched
    for frame in range(3, 12):
        label = labels[(1, frame)]
        assert label.source == LabelSource.PROPAGATED and not label.confirmed and 0.0 <= label.score <= 1.0
        assert mask_iou(polygon_to_mask(label.shape, *masks[0].shape), masks[frame]) > 0.85
    assert result.last == 15 and result.written == 9 + 13
    assert progress[-1].done == progress[-1].total == 13 + 2 * 9  # the run back from frame 12 counts
    kinds = {store.undo().kind for _ in range(result.changes)}
    assert len(kinds) == 1  # one undo step for the whole run
    assert sorted(store.labels("clip"), key=lambda label: label.object_id) == [first, second, other]


def test_permanent_drawing_backwards_fills_towards_the_earlier_label() -> None:
    frames, masks = moving_square(12)
    store = MemoryLabelStore([Label(1, 1, "object", mask_to_polygon(masks[1]), media="clip"),
                              Label(1, 9, "object", mask_to_polygon(masks[9]), media="clip")])
    result = run_propagation(CountingSource(frames), store, "clip", 9, None, direction=-1)  # flow only
    assert (result.first, result.last, result.written) == (9, 2, 7)
    labels = {label.frame_index: label for label in store.labels("clip")}
    assert sorted(labels) == list(range(1, 10)) and labels[1].confirmed and labels[9].confirmed
    assert all(not labels[f].confirmed for f in range(2, 9))
