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
"""

from __future__ import annotations

import time

import numpy as np

from engine.evaluation.annotator import EffortResult, EmbeddingCache, Hand
from engine.evaluation.vos import VosSequence
from engine.geometry import mask_iou
from engine.propagation.fill import FuseParams, far_run, fuse_run
from engine.propagation.propagator import PropagationParams, Propagator


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
    propagator = Propagator(segmenter, params, embed=cache)
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
            far = far_run(propagator, source, last, first, ends)
            keyframe, mask = first, final[first]
            while True:
                resumed = False
                for step in fuse_run(propagator, source, keyframe, last, {1: mask}, far, params=fuse):
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
