"""The simulated annotator's hand, shared by the modes of `engine.evaluation.effort`.

- `click_until`: the standard clicker (`engine.evaluation.clicker`) on one frame, from
  nothing or from a propagated mask, until IoU ≥ the threshold or the click budget;
- `Hand`: corrects frames of one sequence — clicks on the errors of the mask it is given,
  or deletes the mask where the object is gone (one action, counted as a click) — and
  counts the clicks spent on each frame;
- `EffortResult`: one sequence in one mode, with the clicks per frame, so that clicks can
  be counted on a subset of frames (`EffortResult.clicks_on`).

Masks are H×W ``bool``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from engine.evaluation.clicker import Click, clicks_to_arrays, next_click
from engine.evaluation.vos import VosSequence
from engine.geometry import mask_iou
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
    previous pass's logits (as the Editor does). A ``start`` already at the threshold
    costs no click. The first click is always an include click, as in the protocol from
    scratch: where the largest error of ``start`` is a false positive, the first click goes
    to the object's interior point instead (`first_click`).
    """
    pred = start if start is not None else np.zeros(gt.shape, bool)
    best, best_iou = pred, mask_iou(gt, pred)
    if best_iou >= threshold:
        return best, 0
    mask_input = mask_logits(pred.astype(np.float32)) if start is not None and start.any() else None
    clicks: list[Click] = []
    while len(clicks) < max_clicks:
        click = next_click(gt, pred) if clicks else first_click(gt, pred)
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


def first_click(gt: np.ndarray, pred: np.ndarray) -> Click | None:
    """The first click on ``pred`` (H×W bool) towards ``gt``: the standard clicker's next
    click when it includes, else the protocol's first click (the object pixel farthest from
    its boundary, include). A lone exclude click tells a point-prompted segmenter nothing
    about what to keep: the classic one answers it with an empty mask (on davis16-train10
    such corrections of propagated masks cost 12 clicks, more than the 10 from scratch)."""
    click = next_click(gt, pred)
    if click is None or click.positive:
        return click
    return next_click(gt, np.zeros(gt.shape, bool))


@dataclass
class EffortResult:
    """One sequence, one mode: clicks and outcome over ``frames`` frames.

    frame_clicks: frame -> clicks spent on it (frames without clicks left out);
    unreachable: frames the clicker did not bring to the threshold from scratch (the
    baseline fills it in; see `engine.evaluation.effort`).
    """

    name: str
    frames: int
    clicks: int
    corrected: int
    flagged: int
    j: list[float]
    seconds: float
    frame_clicks: dict[int, int] = field(default_factory=dict)
    unreachable: tuple[int, ...] = ()

    def clicks_on(self, excluded: Collection[int]) -> int:
        """Clicks spent on the frames not in ``excluded``."""
        return sum(count for frame, count in self.frame_clicks.items() if frame not in excluded)

    def to_json(self, excluded: Collection[int] = ()) -> dict:
        counted = self.clicks_on(excluded)
        frames = self.frames - len(excluded)
        return {
            "name": self.name,
            "frames": self.frames,
            "clicks": self.clicks,
            "clicks_per_100_frames": round(100.0 * self.clicks / max(self.frames, 1), 2),
            "reachable_frames": frames,
            "clicks_reachable": counted,
            "corrected_frames": self.corrected,
            "flagged_frames": self.flagged,
            "J": round(float(np.mean(self.j)), 4) if self.j else None,
            "seconds": round(self.seconds, 2),
        }


class Hand:
    """The annotator's corrections on one sequence: ``correct(frame, mask)`` returns the
    corrected mask and counts clicks (in total and per frame) and corrected frames."""

    def __init__(self, sequence: VosSequence, segmenter, source, cache: EmbeddingCache, *, threshold: float,
                 max_clicks: int) -> None:
        self.sequence = sequence
        self.segmenter = segmenter
        self.source = source
        self.cache = cache
        self.threshold = threshold
        self.max_clicks = max_clicks
        self.clicks = 0
        self.corrected = 0
        self.frame_clicks: dict[int, int] = {}

    def correct(self, frame_index: int, start: np.ndarray | None) -> np.ndarray:
        """Correct frame ``frame_index`` from ``start`` (H×W bool, or None: from scratch):
        clicks, or one deletion where the object is gone."""
        gt = self.sequence.ground_truth(frame_index)
        self.corrected += 1
        if not gt.any():
            self._count(frame_index, 1 if start is not None and start.any() else 0)  # delete the label
            return np.zeros(gt.shape, bool)
        embedding = self.cache(frame_index, self.source.frame(frame_index))
        mask, used = click_until(self.segmenter, embedding, gt, start, threshold=self.threshold,
                                 max_clicks=self.max_clicks)
        self._count(frame_index, used)
        return mask

    def _count(self, frame_index: int, clicks: int) -> None:
        self.clicks += clicks
        if clicks:
            self.frame_clicks[frame_index] = self.frame_clicks.get(frame_index, 0) + clicks
