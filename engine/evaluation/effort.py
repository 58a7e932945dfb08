"""Annotation effort with and without propagation: a simulated annotator on DAVIS sequences.

The annotator labels one object over a whole sequence (the DAVIS layout of
`engine.evaluation.vos`) with the standard clicker (`engine.evaluation.clicker`):

- *with propagation*: the first frame is annotated by clicks; the propagator carries the
  mask forward; whenever a frame's IoU with the ground truth falls below ``threshold``
  (0.85) or the propagator flags it, the annotator corrects that frame — clicks on the
  errors of the propagated mask, each click re-prompting the segmenter with all clicks so
  far and the previous mask as ``mask_input`` — and propagation resumes from the
  corrected frame. A frame whose object is gone (empty ground truth) is corrected by
  deleting the mask (one action, counted as a click); while no object is being tracked
  the prediction is empty, and the annotator clicks the object when it comes back;
- *without propagation* (the baseline): every frame is annotated by clicks from scratch.

Clicks stop at IoU ≥ ``threshold`` or after ``max_clicks``. Reported: clicks per 100
frames, corrected frames (frames the annotator clicked on or deleted a mask on, the first
frame included), flagged frames, the final mean J over all frames, and the ratio of
baseline clicks to propagation clicks (how many times fewer clicks).
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from engine.evaluation.clicker import Click, clicks_to_arrays, next_click
from engine.evaluation.vos import VosSequence, list_sequences
from engine.geometry import mask_iou
from engine.media.open import open_media
from engine.propagation.propagator import Propagator, default_params
from engine.segment.base import mask_logits
from engine.types import Embedding, Prompt

DEFAULT_THRESHOLD = 0.85


class EmbeddingCache:
    """The last few frames' embeddings, shared by the propagator and the corrections."""

    def __init__(self, segmenter, quality: float, size: int = 4) -> None:
        self.segmenter = segmenter
        self.quality = quality
        self.size = size
        self._items: OrderedDict[int, Embedding] = OrderedDict()
        self.seconds = 0.0

    def __call__(self, frame_index: int, frame: np.ndarray) -> Embedding:
        if frame_index in self._items:
            self._items.move_to_end(frame_index)
            return self._items[frame_index]
        started = time.perf_counter()
        embedding = self.segmenter.prepare(frame, self.quality)
        self.seconds += time.perf_counter() - started
        self._items[frame_index] = embedding
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return embedding


def click_until(
    segmenter,
    embedding: Embedding,
    gt: np.ndarray,
    start: np.ndarray | None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    max_clicks: int = 20,
) -> tuple[np.ndarray, int]:
    """Click on the errors of ``start`` (H×W bool, or None = nothing yet) until IoU ≥
    ``threshold`` or ``max_clicks``; returns (the best mask reached, clicks used).

    gt: H×W bool. The first prompt carries ``start`` as ``mask_input``, later ones the
    previous pass's logits (as the Editor does).
    """
    pred = start if start is not None else np.zeros(gt.shape, bool)
    best, best_iou = pred, mask_iou(gt, pred)
    if best_iou >= threshold:
        return best, 0
    mask_input = mask_logits(pred.astype(np.float32)) if start is not None and start.any() else None
    clicks: list[Click] = []
    while len(clicks) < max_clicks:
        click = next_click(gt, pred)
        if click is None:
            break
        clicks.append(click)
        points, labels = clicks_to_arrays(clicks)
        proposal = segmenter.predict(embedding, Prompt(points, labels, mask_input=mask_input))
        pred = proposal.mask(0)
        mask_input = proposal.logits[0][None]
        value = mask_iou(gt, pred)
        if value > best_iou:
            best, best_iou = pred, value
        if value >= threshold:
            break
    return best, len(clicks)


@dataclass
class EffortResult:
    """One sequence, one mode: clicks and outcome over ``frames`` frames."""

    name: str
    frames: int
    clicks: int
    corrected: int
    flagged: int
    j: list[float]
    seconds: float

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "frames": self.frames,
            "clicks": self.clicks,
            "clicks_per_100_frames": round(100.0 * self.clicks / max(self.frames, 1), 2),
            "corrected_frames": self.corrected,
            "flagged_frames": self.flagged,
            "J": round(float(np.mean(self.j)), 4) if self.j else None,
            "seconds": round(self.seconds, 2),
        }


def annotate_without_propagation(
    sequence: VosSequence, segmenter, source, count: int, cache: EmbeddingCache, *, threshold: float, max_clicks: int
) -> EffortResult:
    """Every frame annotated by clicks from scratch."""
    started = time.perf_counter()
    clicks = corrected = 0
    js = []
    for frame_index in range(count):
        gt = sequence.ground_truth(frame_index)
        if not gt.any():
            js.append(1.0)  # nothing to label: no click
            continue
        embedding = cache(frame_index, source.frame(frame_index))
        mask, used = click_until(segmenter, embedding, gt, None, threshold=threshold, max_clicks=max_clicks)
        clicks += used
        corrected += 1
        js.append(mask_iou(gt, mask))
    return EffortResult(sequence.name, count, clicks, corrected, 0, js, time.perf_counter() - started)


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
    propagator = Propagator(segmenter, params, embed=cache)
    final: dict[int, np.ndarray] = {}
    clicks = corrected = flagged = 0

    def correct(frame_index: int, start: np.ndarray | None) -> np.ndarray:
        nonlocal clicks, corrected
        gt = sequence.ground_truth(frame_index)
        corrected += 1
        if not gt.any():
            clicks += 1 if start is not None and start.any() else 0  # delete the label
            return np.zeros(gt.shape, bool)
        embedding = cache(frame_index, source.frame(frame_index))
        mask, used = click_until(segmenter, embedding, gt, start, threshold=threshold, max_clicks=max_clicks)
        clicks += used
        return mask

    frame_index = 0
    current = correct(0, None)
    final[0] = current
    while frame_index < count - 1:
        if not current.any():
            # nothing to carry: the object is gone until the annotator sees it again
            frame_index += 1
            gt = sequence.ground_truth(frame_index)
            current = correct(frame_index, None) if gt.any() else np.zeros(gt.shape, bool)
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
            current = correct(step.frame_index, pred)
            final[step.frame_index] = current
            frame_index = step.frame_index
            resumed = True
            break
        if not resumed:
            break
    js = [mask_iou(sequence.ground_truth(f), final[f]) for f in range(count)]
    return EffortResult(sequence.name, count, clicks, corrected, flagged, js, time.perf_counter() - started)


def _totals(results: list[EffortResult]) -> dict:
    frames = sum(r.frames for r in results)
    clicks = sum(r.clicks for r in results)
    js = [v for r in results for v in r.j]
    return {
        "frames": frames,
        "clicks": clicks,
        "clicks_per_100_frames": round(100.0 * clicks / max(frames, 1), 2),
        "corrected_frames": sum(r.corrected for r in results),
        "flagged_frames": sum(r.flagged for r in results),
        "J": round(float(np.mean(js)), 4) if js else None,
        "seconds": round(sum(r.seconds for r in results), 1),
        "sequences": [r.to_json() for r in results],
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
    progress: bool = True,
) -> dict:
    """Run the simulated annotator on ``data_dir`` with and (``baseline``) without
    propagation. Returns ``{"propagation": {...}, "no_propagation": {...},
    "click_ratio", "threshold", "max_clicks", ...}``; each mode has ``frames, clicks,
    clicks_per_100_frames, corrected_frames, flagged_frames, J, seconds, sequences``."""
    from dataclasses import asdict, replace

    from tqdm import tqdm

    params = replace(params or default_params(segmenter.name), on_flag="continue")
    sequences = list_sequences(data_dir)[:limit]
    with_prop: list[EffortResult] = []
    without: list[EffortResult] = []
    bar = tqdm(total=len(sequences) * (2 if baseline else 1), desc="effort", disable=not progress, file=sys.stderr, unit="seq")
    for sequence in sequences:
        count = len(sequence) if frames_limit is None else max(2, min(len(sequence), int(frames_limit)))
        with open_media(sequence.frames_dir) as source:
            # both modes need every frame: keep the whole (short) sequence prepared
            cache = EmbeddingCache(segmenter, params.quality, size=count)
            bar.set_postfix_str(f"{sequence.name} propagation")
            with_prop.append(
                annotate_with_propagation(
                    sequence, segmenter, source, count, cache, params, threshold=threshold, max_clicks=max_clicks
                )
            )
            bar.update(1)
            if baseline:
                bar.set_postfix_str(f"{sequence.name} clicks only")
                without.append(
                    annotate_without_propagation(
                        sequence, segmenter, source, count, cache, threshold=threshold, max_clicks=max_clicks
                    )
                )
                bar.update(1)
    bar.close()
    report = {
        "backend": segmenter.name,
        "model": segmenter.model,
        "threshold": threshold,
        "max_clicks": max_clicks,
        "frames_limit": frames_limit,
        "data_dir": str(data_dir),
        "params": asdict(params),
        "propagation": _totals(with_prop),
    }
    if baseline:
        report["no_propagation"] = _totals(without)
        prop_clicks = report["propagation"]["clicks"]
        report["click_ratio"] = round(report["no_propagation"]["clicks"] / prop_clicks, 3) if prop_clicks else None
    return report
