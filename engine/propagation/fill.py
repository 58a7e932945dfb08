"""Filling between two confirmed frames from both ends: keyframes first, then fill.

When a person confirmed an object on frames ``a`` and ``b``, the frames strictly between
are carried by two runs of the propagator: the *near* run from ``a`` towards ``b`` (the
direction of travel) and the *far* run from ``b`` back towards ``a``. On each frame ``t``
the two answers are fused by `fuse`, a pure function:

- *mask*: a per-pixel weighted vote of soft masks (a sigmoid of each mask's signed
  distance to its boundary, ``softness`` px), with weights (distance of ``t`` to the
  other anchor) / (b − a) × score ** ``score_power``: the closer anchor is trusted more,
  and a run that doubts itself (the propagator's score, an opaque confidence in [0, 1]) less;
  an empty mask (the run lost the object) has no say;
- *agreement*: the IoU of the two runs' masks, the drift signal;
- *consistency*: 1 − mid × (1 − agreement), where mid = 2·min(t − a, b − t)/(b − a) is 0
  next to an anchor and 1 halfway: next to an anchor the near run is right whatever the
  far one says, halfway a disagreement means one of them drifted;
- *score*: the weighted mean of the runs' scores (multiplying it by the consistency ranked
  frames by their J worse: Spearman 0.39 against 0.56 on davis16-train10);
- *review*: when both runs flag the frame, or consistency < ``review_below``.

Chosen on davis16-train10 and confirmed on davis16-train-b (docs/BENCHMARKS.md,
"Filling between keyframes"): anchors on the first and last frame, the fused fill scores
J&F 0.728 / 0.715 against 0.698 / 0.625 for the run from the first frame alone.

`fill_between` computes the far run first and keeps it packed (`PackedMask`: the mask's
bounding box, bit-packed), then runs the near run and yields the fused frames in the
direction of travel. `fuse_run` fuses a fresh near run with a stored far run: after a
correction on frame ``t`` between the anchors (a new keyframe), only the run from ``t``
is computed again. Frames where both runs lost the object get no mask; the first of such
a stretch is flagged. Masks are H×W ``bool``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from engine.geometry import mask_iou
from engine.propagation.propagator import FrameAccess, ObjectInput, PropagationStep, Propagator, label_from_mask
from engine.types import Label, LabelSource


@dataclass(frozen=True)
class FuseParams:
    """Settings of `fuse` (see the module docstring): softness of the soft masks in
    pixels; the power of the runs' scores in their weights; consistency below which a
    fused frame is flagged for review."""

    softness: float = 2.0
    score_power: float = 2.0
    review_below: float = 0.6


@dataclass(frozen=True)
class RunFrame:
    """One run's answer on a frame: mask H×W bool (empty when the run lost the object),
    score in [0, 1], whether the run flagged the frame and why."""

    mask: np.ndarray
    score: float
    flagged: bool = False
    reason: str = ""


@dataclass(frozen=True)
class Fused:
    """The fused answer on a frame: mask H×W bool; score in [0, 1]; review: flag it;
    agreement: IoU of the two runs' masks (None with a single run); consistency: see the
    module docstring; reason: why it is flagged ("" when it is not)."""

    mask: np.ndarray
    score: float
    review: bool
    agreement: float | None
    consistency: float
    reason: str = ""


def anchor_weights(t: int, a: int, b: int) -> tuple[float, float]:
    """(weight of the run from ``a``, weight of the run from ``b``) on frame ``t`` between
    them (either order): the distance to the *other* anchor over the span; they sum to 1."""
    span = abs(b - a)
    if span == 0:
        raise ValueError("the anchors of a fill must differ")
    return abs(b - t) / span, abs(t - a) / span


def soft_mask(mask: np.ndarray, softness: float) -> np.ndarray:
    """H×W float32 in (0, 1): a sigmoid of the signed distance (px, positive inside) of each
    pixel to the boundary of ``mask`` (H×W bool), 0.5 on it; ``softness`` ≤ 0: the mask as 0/1."""
    import cv2

    mask = np.asarray(mask, bool)
    if softness <= 0 or not mask.any() or mask.all():
        return mask.astype(np.float32)
    inside = mask.astype(np.uint8)
    distance = np.where(mask, cv2.distanceTransform(inside, cv2.DIST_L2, 3),
                        -cv2.distanceTransform(1 - inside, cv2.DIST_L2, 3)) + np.where(mask, -0.5, 0.5)
    return (1.0 / (1.0 + np.exp(np.clip(-distance / softness, -50, 50)))).astype(np.float32)


def _vote(mask_a: np.ndarray, mask_b: np.ndarray, weight_a: float, weight_b: float, softness: float) -> np.ndarray:
    """The weighted vote of two H×W bool masks, computed in their union's box (outside it
    both say background)."""
    union = mask_a | mask_b
    ys, xs = np.nonzero(union)
    if len(ys) == 0:
        return union
    pad = int(np.ceil(4 * max(softness, 0.0))) + 1
    y0, y1 = max(0, ys.min() - pad), min(union.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(union.shape[1], xs.max() + pad + 1)
    soft_a = soft_mask(mask_a[y0:y1, x0:x1], softness)
    soft_b = soft_mask(mask_b[y0:y1, x0:x1], softness)
    out = np.zeros_like(union)
    out[y0:y1, x0:x1] = (weight_a * soft_a + weight_b * soft_b) >= 0.5 * (weight_a + weight_b)
    return out


def fuse(from_a: RunFrame | None, from_b: RunFrame | None, t: int, a: int, b: int,
         params: FuseParams | None = None) -> Fused:
    """Fuse the answers of the runs from anchors ``a`` and ``b`` on frame ``t`` strictly
    between them (None: that run has no answer there). See the module docstring."""
    params = params or FuseParams()
    runs = [run for run in (from_a, from_b) if run is not None]
    if not runs:
        raise ValueError(f"frame {t}: no run to fuse")
    shape = runs[0].mask.shape
    empty = np.zeros(shape, bool)
    closeness_a, closeness_b = anchor_weights(t, a, b)
    mid = 2.0 * min(closeness_a, closeness_b)  # 0 next to a keyframe, 1 halfway
    answers = [(run, closeness) for run, closeness in ((from_a, closeness_a), (from_b, closeness_b)) if run is not None]
    weights = [closeness * max(float(run.score), 0.0) ** params.score_power if run.mask.any() else 0.0
               for run, closeness in answers]
    if sum(weights) <= 0:  # no run is sure: the distances alone
        weights = [closeness if run.mask.any() else 0.0 for run, closeness in answers]
    if sum(weights) <= 0:  # every run lost the object
        reasons = "; ".join(run.reason for run in runs if run.reason)
        return Fused(empty, 0.0, True, None, 0.0, reasons or "lost by every run")
    score = sum(w * float(run.score) for w, (run, _) in zip(weights, answers)) / sum(weights)
    if len(answers) == 1:
        (run, _), = answers
        consistency = 1.0 - mid
        mask, agreement = np.asarray(run.mask, bool), None
    else:
        (run_a, _), (run_b, _) = answers
        agreement = mask_iou(run_a.mask, run_b.mask)
        consistency = 1.0 - mid * (1.0 - agreement)
        mask = _vote(np.asarray(run_a.mask, bool), np.asarray(run_b.mask, bool), weights[0], weights[1],
                     params.softness)
        if not mask.any():  # two disjoint masks of equal weight: neither wins a pixel
            mask = np.asarray((run_a if weights[0] >= weights[1] else run_b).mask, bool)
    reason = ""
    if len(answers) == 2 and all(run.flagged for run, _ in answers):
        reason = "both runs flagged it: " + "; ".join(run.reason for run, _ in answers if run.reason)
    elif consistency < params.review_below:
        reason = (f"the runs from the two keyframes disagree (IoU {agreement:.2f})" if agreement is not None
                  else "only the run from one keyframe reached it")
    return Fused(mask, float(score), bool(reason), agreement, float(consistency), reason)


# -- runs ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackedMask:
    """An H×W bool mask kept small: ``shape`` (H, W), the ``box`` (y0, y1, x0, x1) of its
    pixels and the box's pixels bit-packed (``bits``, uint8)."""

    shape: tuple[int, int]
    box: tuple[int, int, int, int]
    bits: np.ndarray

    @classmethod
    def pack(cls, mask: np.ndarray) -> PackedMask:
        mask = np.asarray(mask, bool)
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            return cls((mask.shape[0], mask.shape[1]), (0, 0, 0, 0), np.zeros(0, np.uint8))
        box = (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)
        return cls((mask.shape[0], mask.shape[1]), box, np.packbits(mask[box[0]:box[1], box[2]:box[3]]))

    def unpack(self) -> np.ndarray:
        """The H×W bool mask."""
        out = np.zeros(self.shape, bool)
        y0, y1, x0, x1 = self.box
        if y1 > y0 and x1 > x0:
            count = (y1 - y0) * (x1 - x0)
            out[y0:y1, x0:x1] = np.unpackbits(self.bits, count=count).reshape(y1 - y0, x1 - x0).astype(bool)
        return out


@dataclass(frozen=True)
class RunRecord:
    """A stored `RunFrame`: its mask packed."""

    mask: PackedMask
    score: float
    flagged: bool
    reason: str

    def frame(self) -> RunFrame:
        return RunFrame(self.mask.unpack(), self.score, self.flagged, self.reason)


FarRun = dict[int, dict[int, RunRecord]]
"""frame index -> object id -> what the far run found there."""


@dataclass(frozen=True)
class FillStep(PropagationStep):
    """A fused frame: a `PropagationStep` (masks, scores, flagged, reasons, labels) plus
    ``agreement``: object id -> IoU of the two runs' masks (absent with a single run)."""

    agreement: dict[int, float] = field(default_factory=dict)


def _stopped(cancel: threading.Event | None) -> bool:
    return cancel is not None and cancel.is_set()


def _run_frames(step: PropagationStep, ids: Iterable[int]) -> dict[int, RunFrame]:
    """The answers of ``ids`` in ``step`` (those it has a mask for: a run that stops at
    flags drops a lost object; one that continues gives it an empty mask)."""
    return {
        object_id: RunFrame(step.masks[object_id], float(step.scores.get(object_id, 0.0)), object_id in step.flagged,
                            step.reasons.get(object_id, ""))
        for object_id in ids
        if object_id in step.masks
    }


def far_run(propagator: Propagator, source: FrameAccess, end: int, start: int, objects: Mapping[int, ObjectInput],
            *, cancel: threading.Event | None = None, on_frame: Callable[[int], None] | None = None) -> FarRun:
    """Carry ``objects`` (object id -> H×W bool mask or `Label` on frame ``end``) from
    ``end`` towards ``start``, over the frames strictly between them, and keep what it
    finds packed. ``on_frame(frame_index)`` after each frame; ``cancel`` stops it."""
    direction = 1 if start > end else -1
    stored: FarRun = {}
    if abs(start - end) < 2 or not objects:
        return stored
    steps = propagator.propagate(source, end, objects, direction, start - direction, cancel=cancel)
    for step in steps:
        for object_id, run in _run_frames(step, objects).items():
            stored.setdefault(step.frame_index, {})[object_id] = RunRecord(
                PackedMask.pack(run.mask), run.score, run.flagged, run.reason)
        if on_frame is not None:
            on_frame(step.frame_index)
    return stored


def _template(target: ObjectInput | None) -> Label | None:
    return target if isinstance(target, Label) else None


def fuse_run(propagator: Propagator, source: FrameAccess, start: int, end: int, objects: Mapping[int, ObjectInput],
             far: FarRun, *, templates: Mapping[int, Label] | None = None, params: FuseParams | None = None,
             cancel: threading.Event | None = None) -> Iterator[FillStep]:
    """Run ``objects`` (object id -> H×W bool mask or `Label` on ``start``; an empty mask:
    no near run for it) from ``start`` towards ``end`` and fuse each frame strictly between
    with the stored ``far`` run; yields a `FillStep` per frame, in the direction of travel.

    templates: object id -> `Label` whose class and id the output labels take (default:
    the objects given as labels). The objects fused are those of ``objects`` and ``far``.
    """
    direction = 1 if end > start else -1
    ids = sorted({int(o) for o in objects} | {o for frame in far.values() for o in frame})
    labels = {o: t for o, t in ((o, _template(objects.get(o))) for o in ids) if t is not None}
    labels.update(templates or {})
    near_objects = {int(o): t for o, t in objects.items() if isinstance(t, Label) or np.asarray(t).any()}
    frames = range(start + direction, end, direction)
    if not frames:
        return
    near: Iterator[PropagationStep] | None = None
    if near_objects:
        near = propagator.propagate(source, start, near_objects, direction, end - direction, cancel=cancel)
    lost: set[int] = set()
    try:
        for frame_index in frames:
            if _stopped(cancel):
                return
            near_frames: dict[int, RunFrame] = {}
            if near is not None:
                step = next(near, None)
                if step is None:
                    return  # cancelled inside the propagator
                near_frames = _run_frames(step, near_objects)
            yield _fused_step(frame_index, ids, near_frames, far.get(frame_index, {}), start, end, labels, lost,
                              params or FuseParams(), propagator.params.polygon_tolerance)
    finally:
        close = getattr(near, "close", None)
        if callable(close):
            close()  # a caller that stops early frees the propagator at once


def _fused_step(frame_index: int, ids: list[int], near: Mapping[int, RunFrame], far: Mapping[int, RunRecord],
                start: int, end: int, templates: Mapping[int, Label], lost: set[int], params: FuseParams,
                tolerance: float) -> FillStep:
    masks: dict[int, np.ndarray] = {}
    scores: dict[int, float] = {}
    flagged: list[int] = []
    reasons: dict[int, str] = {}
    agreement: dict[int, float] = {}
    out_labels: dict[int, Label] = {}
    for object_id in ids:
        from_near = near.get(object_id)
        from_far = far[object_id].frame() if object_id in far else None
        if from_near is None and from_far is None:  # both runs dropped it (they stop at flags)
            if object_id not in lost:
                flagged.append(object_id)
                reasons[object_id] = "lost by both runs"
            lost.add(object_id)
            continue
        fused = fuse(from_near, from_far, frame_index, start, end, params)
        if fused.agreement is not None:
            agreement[object_id] = fused.agreement
        if not fused.mask.any():
            # lost by both runs: flag the first frame of the stretch only, no mask
            if object_id not in lost:
                flagged.append(object_id)
                reasons[object_id] = fused.reason
            lost.add(object_id)
            masks[object_id] = fused.mask
            scores[object_id] = 0.0
            continue
        lost.discard(object_id)
        masks[object_id], scores[object_id] = fused.mask, fused.score
        if fused.review:
            flagged.append(object_id)
            reasons[object_id] = fused.reason
        template = templates.get(object_id)
        if template is not None:
            label = label_from_mask(template, fused.mask, frame_index, fused.score, fused.review, tolerance)
            if label is not None:
                out_labels[object_id] = label
    return FillStep(frame_index, tuple(sorted(masks)), masks, scores, tuple(flagged), reasons, {}, out_labels,
                    agreement=agreement)


def fill_between(propagator: Propagator, source: FrameAccess, start: int, end: int,
                 starts: Mapping[int, ObjectInput], ends: Mapping[int, ObjectInput], *,
                 params: FuseParams | None = None, cancel: threading.Event | None = None,
                 on_far_frame: Callable[[int], None] | None = None) -> Iterator[FillStep]:
    """Fill the frames strictly between ``start`` and ``end`` (either order) from both
    ends: the far run from ``ends`` (object id -> mask or `Label` on ``end``) first, then
    the near run from ``starts`` (on ``start``), fused frame by frame; yields a `FillStep`
    per frame from ``start`` towards ``end``. The propagator should continue past flags
    (``on_flag="continue"``): a lost object is looked for again, the other run covers it.
    Output labels take the class and id of the start labels (else the end labels)."""
    far = far_run(propagator, source, end, start, ends, cancel=cancel, on_frame=on_far_frame)
    if _stopped(cancel):
        return
    templates = {int(o): t for o, t in ends.items() if isinstance(t, Label)}
    templates.update({int(o): t for o, t in starts.items() if isinstance(t, Label)})
    yield from fuse_run(propagator, source, start, end, starts, far, templates=templates, params=params, cancel=cancel)


def fill_ends(starts: Mapping[int, Label], anchors: Mapping[int, Iterable[int]], start: int, direction: int,
              last: int) -> dict[int, int]:
    """{object id: end} for the objects a run from ``start`` in ``direction`` up to
    ``last`` fills from both ends: its label on ``start`` is a person's (confirmed, not
    propagated), its next confirmed frame ``end`` in the direction (from ``anchors``,
    `anchors_from_labels`) lies at least two frames on, and the run would reach the frame
    before it."""
    ends: dict[int, int] = {}
    for object_id, label in starts.items():
        if not label.confirmed or label.source == LabelSource.PROPAGATED or label.review:
            continue
        ahead = [int(f) for f in anchors.get(object_id, ()) if (int(f) - start) * direction > 0]
        if not ahead:
            continue
        end = min(ahead) if direction > 0 else max(ahead)
        if abs(end - start) >= 2 and (last - (end - direction)) * direction >= 0:
            ends[object_id] = end
    return ends

