"""The keyframe mode of the simulated annotator: keyframes first, then fill between.

The annotator's usual workflow with two-sided filling (`engine.propagation.fill`): click
the object on the first and on the last frame where it is present (the keyframes), fill
the frames between from both ends, then walk forwards through the fill; the first frame
below ``threshold`` (IoU with the ground truth) or flagged for review is corrected from
the fused mask (`engine.evaluation.annotator.Hand`) and becomes a new keyframe, and the
rest of the interval is filled again from it. Only the run from the new keyframe is
computed again: the run back from the last keyframe stays valid. A keyframe whose object
is gone (the mask was deleted) starts no run; the run from the last keyframe alone
covers the frames after it. Frames before the first and after the last keyframe hold no
object and cost nothing.

With SAM 2 (`engine.propagation.backends.uses_memory`) a fill is one run of its memory
propagator from the keyframe with the last keyframe as a second conditioning frame (SAM 2
attends to both); a keyframe whose object is gone starts the run from the last keyframe
backwards instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from engine.evaluation.annotator import EffortResult, EmbeddingCache, Hand
from engine.evaluation.vos import VosSequence
from engine.geometry import mask_iou
from engine.propagation.backends import make_propagator
from engine.propagation.fill import FarRun, FuseParams, far_run, fuse_run
from engine.propagation.propagator import PropagationParams, PropagationStep, Propagator
from engine.propagation.sam2_memory import Sam2MemoryPropagator


def memory_fill(propagator: Sam2MemoryPropagator, source, keyframe: int, mask: np.ndarray, last: int,
                end_mask: np.ndarray) -> Iterator[PropagationStep]:
    """The frames strictly between ``keyframe`` and ``last`` in order, by SAM 2 conditioned
    on both ends (H×W bool masks; an empty one conditions nothing)."""
    if last - keyframe < 2:
        return
    if mask.any():
        conditioning = {last: {1: end_mask}} if end_mask.any() else None
        yield from propagator.propagate(source, keyframe, {1: mask}, 1, last - 1, conditioning=conditioning)
    elif end_mask.any():
        yield from reversed(list(propagator.propagate(source, last, {1: end_mask}, -1, keyframe + 1)))


def annotate_with_keyframes(
    sequence: VosSequence,
    segmenter,
    source,
    count: int,
    cache: EmbeddingCache,
    params: PropagationParams,
    *,
    threshold: float,
    max_clicks: int,
    fuse: FuseParams | None = None,
) -> EffortResult:
    """Keyframes on the first and last frame holding the object, fill, walk forwards and
    correct (see the module docstring). ``params`` should continue past flags."""
    started = time.perf_counter()
    hand = Hand(sequence, segmenter, source, cache, threshold=threshold, max_clicks=max_clicks)
    propagator = make_propagator(segmenter, params, embed=cache)
    truth = [sequence.ground_truth(f) for f in range(count)]
    final = {f: np.zeros(truth[f].shape, bool) for f in range(count)}
    present = [f for f in range(count) if truth[f].any()]
    flagged = 0
    if present:
        first, last = present[0], present[-1]
        final[first] = hand.correct(first, None)
        if last != first:
            final[last] = hand.correct(last, None)
            ends = {1: final[last]} if final[last].any() else {}
            far: FarRun = far_run(propagator, source, last, first, ends) if isinstance(propagator, Propagator) else {}
            keyframe, mask = first, final[first]
            while True:
                resumed = False
                steps = (fuse_run(propagator, source, keyframe, last, {1: mask}, far, params=fuse)
                         if isinstance(propagator, Propagator)
                         else memory_fill(propagator, source, keyframe, mask, last, final[last]))
                for step in steps:
                    pred = step.masks.get(1, final[step.frame_index])
                    is_flagged = 1 in step.flagged
                    flagged += int(is_flagged)
                    if not is_flagged and mask_iou(truth[step.frame_index], pred) >= threshold:
                        final[step.frame_index] = pred
                        continue
                    mask = hand.correct(step.frame_index, pred)
                    final[step.frame_index] = mask
                    keyframe, resumed = step.frame_index, True
                    break
                if not resumed:
                    break
    js = [mask_iou(truth[f], final[f]) for f in range(count)]
    return EffortResult(sequence.name, count, hand.clicks, hand.corrected, flagged, js, time.perf_counter() - started,
                        dict(hand.frame_clicks))
