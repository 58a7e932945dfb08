"""Propagation with SAM 2's memory (`engine.propagation.sam2_memory`).

Parity: with the same random weights, frames and mask prompts, the masks equal those of
sam2's own `SAM2VideoPredictor.propagate_in_video` (forwards, reverse=True, a second
conditioning frame ahead). What is compared: the mask logits at the frame's size must be
*identical* (the same float32 ops in the same order: our preprocessing is its loader's, the
model calls are its own; only the orchestration is ours), the masks (logits > 0) and the
presence (sigmoid of the object score) too. A tolerance of 1e-5 on logits is allowed for
BLAS thread scheduling, none was needed here.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("sam2")

from sam2_support import ListSource, bare_predictor, random_net, two_squares, write_jpegs  # noqa: E402

from engine.propagation.sam2_bank import MemoryReach, ObjectMemory  # noqa: E402
from engine.propagation.sam2_memory import Sam2MemoryPropagator, Sam2PropagationParams  # noqa: E402
from engine.types import Box, Label  # noqa: E402

# the bare predictor's hole filling needs sam2's CUDA extension; without it, it warns and skips
pytestmark = pytest.mark.filterwarnings("ignore:cannot import name '_C':UserWarning")

FRAMES = 5
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def net():
    return random_net()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, first = two_squares(FRAMES)
    folder = tmp_path_factory.mktemp("clip")
    return str(folder), write_jpegs(frames, folder), first


@pytest.fixture(scope="module")
def bare(net):
    return bare_predictor(net)


def bare_run(predictor, folder, prompts: dict[int, dict[int, np.ndarray]], start: int, reverse: bool):
    """frame -> {object id: logits H×W}, frame -> {object id: presence} of the bare predictor."""
    state = predictor.init_state(folder)
    for frame_index, masks in prompts.items():
        for object_id, mask in masks.items():
            predictor.add_new_mask(state, frame_index, object_id, mask)
    logits, presence = {}, {}
    for frame_index, ids, masks in predictor.propagate_in_video(state, start_frame_idx=start, reverse=reverse):
        logits[frame_index] = {o: masks[k, 0].numpy() for k, o in enumerate(ids)}
        outputs = state["output_dict_per_obj"]
        presence[frame_index] = {
            o: float(outputs[state["obj_id_to_idx"][o]]["non_cond_frame_outputs"][frame_index]["object_score_logits"]
                     .sigmoid())
            for o in ids if frame_index in outputs[state["obj_id_to_idx"][o]]["non_cond_frame_outputs"]}
    return logits, presence


def assert_same(ours, theirs, their_presence, frames):
    assert sorted(t.frame_index for t in ours) == sorted(frames)
    for tracked in ours:
        for object_id, logits in tracked.logits.items():
            expected = theirs[tracked.frame_index][object_id]
            assert logits.shape == expected.shape and logits.dtype == np.float32
            assert np.abs(logits - expected).max() <= TOLERANCE
            assert np.array_equal(logits > 0, expected > 0)
            assert tracked.presence[object_id] == pytest.approx(their_presence[tracked.frame_index][object_id], abs=1e-6)


@pytest.mark.parametrize("reverse", [False, True])
def test_two_objects_match_the_video_predictor(net, bare, clip, reverse):
    folder, frames, first = clip
    start = FRAMES - 1 if reverse else 0
    prompts = first if not reverse else {o: np.roll(m, 4, axis=1) for o, m in first.items()}
    theirs, presence = bare_run(bare, folder, {start: prompts}, start, reverse)
    propagator = Sam2MemoryPropagator(net)
    ours = list(propagator.track(ListSource(frames), start, prompts, -1 if reverse else 1))
    others = [f for f in range(FRAMES) if f != start]
    assert_same(ours, theirs, presence, others)


def test_a_conditioning_frame_ahead_matches_the_video_predictor(net, bare, clip):
    """A fill: the person's masks on frames 0 and 4 condition SAM 2 together."""
    folder, frames, first = clip
    end = {1: np.roll(first[1], 6, axis=1)}
    theirs, presence = bare_run(bare, folder, {0: {1: first[1]}, 4: end}, 0, False)
    source = ListSource(frames)
    ours = list(Sam2MemoryPropagator(net).track(source, 0, {1: first[1]}, 1, conditioning={4: end}))
    assert_same(ours, theirs, presence, [1, 2, 3])  # it stops before its conditioning frame


def test_steps_carry_presence_as_score_and_review(net, clip):
    _, frames, first = clip
    template = Label(1, 0, "object", Box(10, 20, 40, 50), confirmed=True)
    tracked = list(Sam2MemoryPropagator(net).track(ListSource(frames), 0, {1: template}, 1, until=2))
    for review_below, flagged in [(1.0, True), (0.0, False)]:
        params = Sam2PropagationParams(review_below=review_below, on_flag="continue")
        steps = list(Sam2MemoryPropagator(net, params).propagate(ListSource(frames), 0, {1: template}, 1, until=2))
        assert [s.frame_index for s in steps] == [1, 2]
        for step, raw in zip(steps, tracked):
            assert step.scores[1] == pytest.approx(raw.presence[1])
            if raw.logits[1].max() > 0:  # present: a label with the presence as its score
                label = step.labels[1]
                assert label.score == pytest.approx(raw.presence[1]) and label.review is flagged
                assert not label.confirmed and label.object_id == 1 and isinstance(label.shape, Box)
            assert (1 in step.flagged) == bool(flagged or raw.logits[1].max() <= 0)


def test_prefetch_and_inline_give_the_same_masks_and_read_each_frame_once(net, clip):
    _, frames, first = clip
    runs = []
    for ahead, encode_ahead in [(0, None), (2, True), (1, False)]:
        source = ListSource(frames)
        params = Sam2PropagationParams(prefetch=ahead, encode_ahead=encode_ahead, on_flag="continue")
        propagator = Sam2MemoryPropagator(net, params)
        runs.append([t.logits[2] for t in propagator.track(source, 0, {2: first[2]})])
        assert source.reads.count(0) >= 1 and sorted(set(source.reads)) == list(range(FRAMES))
        assert all(source.reads.count(f) == 1 for f in range(1, FRAMES))
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(*runs))


def test_anchors_stop_each_object_before_them_and_cancel_stops_the_run(net, clip):
    _, frames, first = clip
    propagator = Sam2MemoryPropagator(net, Sam2PropagationParams(on_flag="continue"))
    seen = [(t.frame_index, sorted(t.logits)) for t in propagator.track(ListSource(frames), 0, first, 1,
                                                                        anchors={1: [2]})]
    assert seen == [(1, [1, 2]), (2, [2]), (3, [2]), (4, [2])]
    cancel = threading.Event()
    steps = propagator.propagate(ListSource(frames), 0, first, 1, cancel=cancel)
    next(steps)
    cancel.set()
    assert list(steps) == []


def test_memory_keeps_conditioning_frames_and_a_window_of_recent_ones():
    class Net:  # what MemoryReach reads of a SAM2Base
        num_maskmem, memory_temporal_stride_for_eval, max_obj_ptrs_in_encoder, use_obj_ptrs_in_encoder = 7, 1, 16, True

    reach = MemoryReach.of(Net())
    assert reach == MemoryReach(memory=6, pointers=15)
    memory = ObjectMemory(1, conditioning={0: {"obj_ptr": 0, "maskmem_features": 0}})
    for frame_index in range(1, 100):
        memory.remember(frame_index, {"obj_ptr": frame_index, "maskmem_features": frame_index})
        memory.forget(frame_index + 1, 1, reach)
        assert memory.held <= 1 + reach.pointers
    assert sorted(memory.recent) == list(range(85, 100))
    with_memory = sorted(f for f, out in memory.recent.items() if "maskmem_features" in out)
    assert with_memory == list(range(94, 100))  # SAM 2 reads frames t-1 … t-6 when tracking t = 100
    assert 0 in memory.conditioning


def test_run_propagation_conditions_sam2_on_the_confirmed_frames_around_the_start(monkeypatch):
    """One pass: the start labels, the next confirmed label ahead (a fill) and the nearest
    confirmed one behind condition SAM 2; the pass reaches the frame before the fill's end."""
    from engine.editing.labels import MemoryLabelStore
    from engine.geometry import mask_to_polygon
    from engine.propagation.permanent import run_propagation

    calls = []

    def propagate(self, source, start, objects, direction, until, anchors, cancel, *, conditioning):
        calls.append((start, sorted(objects), direction, until, {f: sorted(o) for f, o in conditioning.items()}))
        return iter(())

    monkeypatch.setattr(Sam2MemoryPropagator, "propagate", propagate)

    class Segmenter:
        name, model = "sam2", "fake"
        net = type("Net", (), {"num_maskmem": 7, "memory_temporal_stride_for_eval": 1,
                               "max_obj_ptrs_in_encoder": 16, "use_obj_ptrs_in_encoder": True})()

    square = np.zeros((40, 40), bool)
    square[10:20, 10:20] = True
    shape = mask_to_polygon(square)
    store = MemoryLabelStore([Label(1, f, "object", shape, media="clip") for f in (1, 5, 9)]
                             + [Label(2, 5, "object", shape, media="clip")])
    frames = [np.zeros((40, 40, 3), np.uint8)] * 12
    run_propagation(ListSource(frames), store, "clip", 5, Segmenter())
    assert calls == [(5, [1, 2], 1, 11, {1: [1], 9: [1]})]
