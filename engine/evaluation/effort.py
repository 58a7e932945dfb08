"""Annotation effort with and without propagation: a simulated annotator on DAVIS sequences.

The annotator labels one object over a whole sequence (the DAVIS layout of
`engine.evaluation.vos`) with the standard clicker (`engine.evaluation.annotator`):

- *sequential* (permanent drawing from the first frame): the first frame is annotated by
  clicks; the propagator carries the mask forward; whenever a frame's IoU with the ground
  truth falls below ``threshold`` (0.85) or the propagator flags it, the annotator
  corrects that frame — clicks on the errors of the propagated mask, each click
  re-prompting the segmenter with all clicks so far and the previous mask as
  ``mask_input`` — and propagation resumes from the corrected frame. A frame whose object
  is gone (empty ground truth) is corrected by deleting the mask (one action, counted as a
  click); while no object is being tracked the prediction is empty, and the annotator
  clicks the object when it comes back;
- *keyframes* (`engine.evaluation.effort_keyframes`): the first and last frame holding the
  object are clicked, the frames between are filled from both ends
  (`engine.propagation.fill`), and the annotator walks forwards correcting as above, each
  correction a new keyframe the rest is filled again from;
- *without propagation* (the baseline): every frame is annotated by clicks from scratch.

Clicks stop at IoU ≥ ``threshold`` or after ``max_clicks``; a frame already at the
threshold costs none; a correction starts with an include click
(`engine.evaluation.annotator.first_click`). Reported per mode: clicks per 100 frames, corrected frames (frames
the annotator clicked on or deleted a mask on, or confirmed when flagged), flagged frames,
the final mean J over all frames, and the ratio of baseline clicks to the mode's clicks
(how many times fewer clicks) in two countings:

- *all frames* (the old counting);
- *reachable frames*: only frames the clicker brings to the threshold from scratch within
  ``max_clicks`` (the baseline tells which); clicks spent on the others (a thin mast that
  the segmenter never gets) are left out on both sides.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Collection, Mapping

import numpy as np

from engine.evaluation.annotator import DEFAULT_THRESHOLD, EffortResult, EmbeddingCache, Hand, click_until
from engine.evaluation.effort_keyframes import annotate_with_keyframes
from engine.evaluation.vos import VosSequence, list_sequences
from engine.geometry import mask_iou
from engine.media.open import open_media
from engine.propagation.backends import make_propagator
from engine.propagation.propagator import default_params

ANNOTATORS = ("sequential", "keyframes")
REPORT_KEYS = {"sequential": "propagation", "keyframes": "keyframes"}  # mode -> key of the report


def annotate_without_propagation(
    sequence: VosSequence, segmenter, source, count: int, cache: EmbeddingCache, *, threshold: float, max_clicks: int
) -> EffortResult:
    """Every frame annotated by clicks from scratch; ``unreachable`` lists the frames
    that did not reach ``threshold``."""
    started = time.perf_counter()
    clicks = corrected = 0
    js = []
    per_frame: dict[int, int] = {}
    unreachable: list[int] = []
    for frame_index in range(count):
        gt = sequence.ground_truth(frame_index)
        if not gt.any():
            js.append(1.0)  # nothing to label: no click
            continue
        embedding = cache(frame_index, source.frame(frame_index))
        mask, used = click_until(segmenter, embedding, gt, None, threshold=threshold, max_clicks=max_clicks)
        clicks += used
        corrected += 1
        if used:
            per_frame[frame_index] = used
        js.append(mask_iou(gt, mask))
        if js[-1] < threshold:
            unreachable.append(frame_index)
    return EffortResult(sequence.name, count, clicks, corrected, 0, js, time.perf_counter() - started, per_frame,
                        tuple(unreachable))


def annotate_with_propagation(
    sequence: VosSequence,
    segmenter,
    source,
    count: int,
    cache: EmbeddingCache,
    params,
    *,
    threshold: float,
    max_clicks: int,
) -> EffortResult:
    """Annotate frame 0 by clicks, propagate, correct the frames that fall below
    ``threshold`` or are flagged, resume from each correction."""
    started = time.perf_counter()
    propagator = make_propagator(segmenter, params, embed=cache)  # SAM 2: its memory propagator
    hand = Hand(sequence, segmenter, source, cache, threshold=threshold, max_clicks=max_clicks)
    final: dict[int, np.ndarray] = {}
    flagged = 0
    frame_index = 0
    current = hand.correct(0, None)
    final[0] = current
    while frame_index < count - 1:
        if not current.any():
            # nothing to carry: the object is gone until the annotator sees it again
            frame_index += 1
            gt = sequence.ground_truth(frame_index)
            current = hand.correct(frame_index, None) if gt.any() else np.zeros(gt.shape, bool)
            final[frame_index] = current
            continue
        resumed = False
        for step in propagator.propagate(source, frame_index, {1: current}, direction=1, until=count - 1):
            pred = step.masks.get(1)
            is_flagged = 1 in step.flagged
            flagged += int(is_flagged)
            gt = sequence.ground_truth(step.frame_index)
            if pred is not None and not is_flagged and mask_iou(gt, pred) >= threshold:
                final[step.frame_index] = pred
                continue
            current = hand.correct(step.frame_index, pred)
            final[step.frame_index] = current
            frame_index = step.frame_index
            resumed = True
            break
        if not resumed:
            break
    js = [mask_iou(sequence.ground_truth(f), final[f]) for f in range(count)]
    return EffortResult(sequence.name, count, hand.clicks, hand.corrected, flagged, js, time.perf_counter() - started,
                        dict(hand.frame_clicks))


def click_ratio(baseline: list[EffortResult], mode: list[EffortResult],
                unreachable: Mapping[str, Collection[int]] | None = None) -> float | None:
    """Baseline clicks / the mode's clicks over the same sequences (None when the mode used
    none); with ``unreachable`` (sequence -> frames), clicks on those frames are left out
    on both sides."""
    excluded = unreachable or {}
    base = sum(r.clicks_on(excluded.get(r.name, ())) for r in baseline)
    used = sum(r.clicks_on(excluded.get(r.name, ())) for r in mode)
    return round(base / used, 3) if used else None


def _totals(results: list[EffortResult], unreachable: Mapping[str, Collection[int]]) -> dict:
    frames = sum(r.frames for r in results)
    clicks = sum(r.clicks for r in results)
    counted = sum(r.clicks_on(unreachable.get(r.name, ())) for r in results)
    reachable = frames - sum(len(unreachable.get(r.name, ())) for r in results)
    js = [v for r in results for v in r.j]
    return {
        "frames": frames,
        "clicks": clicks,
        "clicks_per_100_frames": round(100.0 * clicks / max(frames, 1), 2),
        "reachable_frames": reachable,
        "clicks_reachable": counted,
        "clicks_per_100_reachable_frames": round(100.0 * counted / max(reachable, 1), 2),
        "corrected_frames": sum(r.corrected for r in results),
        "flagged_frames": sum(r.flagged for r in results),
        "J": round(float(np.mean(js)), 4) if js else None,
        "seconds": round(sum(r.seconds for r in results), 1),
        "sequences": [r.to_json(unreachable.get(r.name, ())) for r in results],
    }


def evaluate_effort(
    data_dir,
    segmenter,
    *,
    params=None,
    limit: int | None = None,
    frames_limit: int | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    max_clicks: int = 20,
    baseline: bool = True,
    annotators: tuple[str, ...] = ANNOTATORS,
    progress: bool = True,
) -> dict:
    """Run the simulated annotator on ``data_dir`` in the ``annotators`` modes
    (``sequential``, ``keyframes``) and (``baseline``) without propagation.

    Returns ``{"propagation": {...}, "keyframes": {...}, "no_propagation": {...},
    "click_ratio", "ratios", "threshold", "max_clicks", ...}``: ``propagation`` is the
    sequential mode; each mode has ``frames, clicks, clicks_per_100_frames,
    reachable_frames, clicks_reachable, corrected_frames, flagged_frames, J, seconds,
    sequences``; ``ratios[mode]`` holds ``all_frames`` and ``reachable_frames``;
    ``click_ratio`` is the sequential mode's on all frames (the old figure)."""
    from dataclasses import asdict, replace

    from tqdm import tqdm

    unknown = set(annotators) - set(ANNOTATORS)
    if unknown or not annotators:
        raise ValueError(f"annotators must be among {ANNOTATORS}, got {annotators!r}")
    params = replace(params or default_params(segmenter.name), on_flag="continue")
    sequences = list_sequences(data_dir)[:limit]
    results: dict[str, list[EffortResult]] = {mode: [] for mode in annotators}
    without: list[EffortResult] = []
    bar = tqdm(total=len(sequences) * (len(annotators) + int(baseline)), desc="effort", disable=not progress,
               file=sys.stderr, unit="run")
    for sequence in sequences:
        count = len(sequence) if frames_limit is None else max(2, min(len(sequence), int(frames_limit)))
        with open_media(sequence.frames_dir) as source:
            # every mode needs every frame: keep the whole (short) sequence prepared
            cache = EmbeddingCache(segmenter, params.quality, size=count)
            for mode in annotators:
                bar.set_postfix_str(f"{sequence.name} {mode}")
                run = annotate_with_propagation if mode == "sequential" else annotate_with_keyframes
                results[mode].append(run(sequence, segmenter, source, count, cache, params, threshold=threshold,
                                         max_clicks=max_clicks))
                bar.update(1)
            if baseline:
                bar.set_postfix_str(f"{sequence.name} clicks only")
                without.append(annotate_without_propagation(sequence, segmenter, source, count, cache,
                                                            threshold=threshold, max_clicks=max_clicks))
                bar.update(1)
    bar.close()
    unreachable = {r.name: r.unreachable for r in without}
    report = {
        "backend": segmenter.name,
        "model": segmenter.model,
        "threshold": threshold,
        "max_clicks": max_clicks,
        "frames_limit": frames_limit,
        "data_dir": str(data_dir),
        "params": asdict(params),
        "annotators": list(annotators),
    }
    for mode in annotators:
        report[REPORT_KEYS[mode]] = _totals(results[mode], unreachable)
    if baseline:
        report["no_propagation"] = _totals(without, unreachable)
        report["no_propagation"]["unreachable_frames"] = sum(len(frames) for frames in unreachable.values())
        report["ratios"] = {
            mode: {"all_frames": click_ratio(without, results[mode]),
                   "reachable_frames": click_ratio(without, results[mode], unreachable)}
            for mode in annotators
        }
        if "sequential" in annotators:
            report["click_ratio"] = report["ratios"]["sequential"]["all_frames"]
    return report
