"""One object, one frame: carry a mask from frame t to t±1 and decide whether to trust it.

`step_object` is the whole per-object algorithm of the propagator (`engine.propagation.propagator`):

1. the mask of frame t is warped to the new frame with the dense backward flow (the
   *prior*, a foreground fraction map);
2. the object's seed points (include points deep inside, exclude points on a ring
   around it) are tracked with Lucas–Kanade and a forward–backward check; the share of
   include points that survive measures whether the object is still visible;
3. the segmenter is re-prompted on the new frame with the surviving include points
   inside the prior, exclude points outside it, a box around the prior and the prior as
   ``mask_input`` (the previous-pass logits in SAM's layout), ``passes`` times feeding
   its own logits back;
4. the segmenter's mask and the prior are combined (`StepParams.mode`), and the checks
   decide whether the result is accepted or the frame is flagged for review: the object
   vanished, most of its include points failed the forward–backward check, its area fell
   far below the area it had when it was given, the mask's colours no longer look like
   the object (`engine.propagation.appearance`), or segmenter and flow disagree.

Masks are H×W ``bool``; points N×2 ``float32`` (x, y) in frame pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.geometry import mask_iou
from engine.propagation.appearance import Appearance, appearance_model, colour_bins, likeness
from engine.propagation.flow import track_points, warp_mask
from engine.propagation.seeds import boundary_band, expanded_box, interior_points, ring_points
from engine.segment.base import mask_logits
from engine.types import Prompt, PropagationMode, Proposal


@dataclass(frozen=True)
class StepParams:
    """How one object is carried to the next frame, and when it is flagged.

    mode: a `PropagationMode` (a plain string is converted): ``warp`` (the flow prior
        only), ``segment`` (the segmenter's mask), ``agree`` (the segmenter's mask when
        its IoU with the prior is ≥ ``accept_iou``, else the prior), ``band`` (the prior,
        with the segmenter deciding only within a band of max(``band × √area``,
        ``band_motion`` × the object's median motion) pixels,
        clipped to ``band_min``…``band_max``, around the prior's boundary — flow errors
        grow with the motion — and only when it agrees as in ``agree``) or ``vote`` (as
        ``band``, but where the two disagree within the band, the object's colour model
        from the last accepted frame decides each pixel).
    positives / negatives: seed points re-drawn from each accepted mask.
    negative_margin: exclude points sit this fraction of √area outside the mask (≥ 4 px).
    prior_as_mask_input: give the prior to the segmenter as ``mask_input``.
    passes: segmenter passes, each fed the previous pass's logits (SAM: 2–3; classic: 1).
    occlusion_tolerance / occlusion_relative: a warped pixel whose dense forward–backward
        error exceeds ``tolerance + relative × motion`` pixels is left out of the prior
        (with a forward flow, see `engine.propagation.flow.warp_mask`), unless that would remove more
        than ``occlusion_max_drop`` of it.
    fb_threshold: forward–backward error in pixels above which a tracked point is lost.
    min_point_share: flag when fewer than this share of the include points track
        consistently (needs at least ``min_points`` of them).
    min_area_ratio: flag when the prior keeps less than this share of the previous area.
    min_visible: flag when the area falls below this share of the object's reference area
        (the mask it was given with): mostly hidden.
    min_likeness: flag when the share of object-coloured pixels in the mask falls below
        this fraction of the reference frame's share.
    min_area: flag when the result has fewer pixels than this fraction of the frame.
    min_agreement: flag when the segmenter's mask and the prior overlap with IoU below
        this (not in ``warp`` mode).
    """

    mode: PropagationMode = PropagationMode.VOTE
    positives: int = 6
    negatives: int = 8
    negative_margin: float = 0.15
    use_points: bool = True
    use_box: bool = True
    prior_as_mask_input: bool = True
    passes: int = 1
    accept_iou: float = 0.8
    band: float = 0.1
    band_motion: float = 1.5
    band_min: int = 3
    band_max: int = 25
    occlusion_tolerance: float = 1.0
    occlusion_relative: float = 0.05
    occlusion_max_drop: float = 1.0
    fb_threshold: float = 1.0
    min_point_share: float = 0.3
    min_points: int = 3
    min_area_ratio: float = 0.25
    min_visible: float = 0.2
    min_likeness: float = 0.5
    min_area: float = 2e-5
    min_agreement: float = 0.1

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", PropagationMode(self.mode))
        except ValueError:
            choices = ", ".join(PropagationMode)
            raise ValueError(f"unknown propagation mode {self.mode!r}; choose one of {choices}") from None
        if self.passes < 1:
            raise ValueError(f"passes must be ≥ 1, got {self.passes}")


@dataclass
class ObjectTrack:
    """What the propagator knows about one object on the last frame it accepted.

    mask: H×W bool; positive: P×2 and negative: Q×2 float32 seed points on that frame;
    appearance and reference_area: the colour model and pixel count of the mask the
    object was given with (its reference frame); recent: the colour model on the last
    accepted frame (for ``vote``).
    """

    object_id: int
    frame_index: int
    mask: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    appearance: Appearance
    reference_area: int
    recent: Appearance | None = None

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))


def new_track(object_id: int, frame_index: int, frame: np.ndarray, mask: np.ndarray, params: StepParams) -> ObjectTrack:
    """An `ObjectTrack` for ``mask`` (H×W bool) given on ``frame`` (H×W×3 uint8 RGB), which
    becomes its reference."""
    mask = np.asarray(mask, bool)
    positive, negative = seed_points(mask, params)
    area = int(np.count_nonzero(mask))
    model = appearance_model(frame, mask, _margin(area, params))
    return ObjectTrack(object_id, frame_index, mask, positive, negative, model, area, model)


def _margin(area: float, params: StepParams) -> float:
    return max(4.0, params.negative_margin * np.sqrt(area))


def advance(
    track: ObjectTrack, frame_index: int, frame: np.ndarray, mask: np.ndarray, params: StepParams
) -> ObjectTrack:
    """``track`` moved to an accepted ``mask`` on ``frame`` (H×W×3 uint8 RGB, index
    ``frame_index``): new seeds, same reference."""
    positive, negative = seed_points(mask, params)
    recent = None
    if params.mode == PropagationMode.VOTE and mask.any():
        recent = appearance_model(frame, mask, _margin(int(np.count_nonzero(mask)), params))
    return ObjectTrack(
        track.object_id, frame_index, mask, positive, negative, track.appearance, track.reference_area, recent
    )


def seed_points(mask: np.ndarray, params: StepParams) -> tuple[np.ndarray, np.ndarray]:
    """(P×2 include points deep inside ``mask``, Q×2 exclude points on a ring around it)."""
    area = float(np.count_nonzero(mask))
    margin = max(4.0, params.negative_margin * np.sqrt(area))
    return interior_points(mask, params.positives), ring_points(mask, params.negatives, margin)


@dataclass(frozen=True)
class StepChecks:
    """The evidence behind a step's decision (all in [0, 1] except areas).

    point_share: share of include points tracked consistently (1.0 with too few points);
    area_ratio: prior area / previous area; visible: result area / reference area;
    likeness: colour likeness of the result to the reference (`propagate_appearance`);
    agreement: IoU of the segmenter's mask with the prior (1.0 in ``warp`` mode);
    seg_score: the segmenter's own score (1.0 in warp mode); used: ``segmenter`` or
    ``prior`` — whose mask was accepted.
    """

    point_share: float
    area_ratio: float
    visible: float
    likeness: float
    agreement: float
    seg_score: float
    used: str

    def to_json(self) -> dict:
        return {
            "point_share": round(self.point_share, 4),
            "area_ratio": round(self.area_ratio, 4),
            "visible": round(self.visible, 4),
            "likeness": round(self.likeness, 4),
            "agreement": round(self.agreement, 4),
            "seg_score": round(self.seg_score, 4),
            "used": self.used,
        }


@dataclass(frozen=True)
class StepResult:
    """One object's outcome on one frame.

    mask: H×W bool, the best guess (also when flagged); score in [0, 1]; flagged: the
    checks failed; reason: why (empty when not flagged).
    """

    mask: np.ndarray
    score: float
    flagged: bool
    reason: str
    checks: StepChecks


@dataclass(frozen=True)
class FramePair:
    """The shared per-frame-pair inputs: grey frames (H×W uint8), the new frame (H×W×3
    uint8 RGB), the backward flow (H×W×2 float32, new frame → previous frame) and
    optionally the forward flow (previous → new) for the occlusion check of `warp_mask`."""

    previous_grey: np.ndarray
    grey: np.ndarray
    frame: np.ndarray
    backward: np.ndarray
    forward: np.ndarray | None = None


def step_object(
    track: ObjectTrack,
    pair: FramePair,
    predict: Callable[[Prompt], Proposal] | None,
    params: StepParams,
) -> StepResult:
    """Carry ``track`` across ``pair``; ``predict`` answers a prompt on the new frame
    (None or ``mode="warp"``: the prior alone)."""
    height, width = track.mask.shape
    prior = warp_mask(
        track.mask,
        pair.backward,
        pair.forward,
        tolerance=params.occlusion_tolerance,
        relative=params.occlusion_relative,
        max_drop=params.occlusion_max_drop,
    )
    prior_mask = prior >= 0.5
    prior_area = int(np.count_nonzero(prior_mask))
    area_ratio = prior_area / max(track.area, 1)

    tracked_pos = track_points(pair.previous_grey, pair.grey, track.positive, fb_threshold=params.fb_threshold)
    tracked_neg = track_points(pair.previous_grey, pair.grey, track.negative, fb_threshold=params.fb_threshold)
    point_share = tracked_pos.share_ok if len(track.positive) >= params.min_points else 1.0

    seg_mask = None
    seg_score = 1.0
    if params.mode != PropagationMode.WARP and predict is not None and prior_area > 0:
        seg_mask, seg_score = _resegment(prior, prior_mask, tracked_pos, tracked_neg, predict, params)
    agreement = 1.0 if seg_mask is None else mask_iou(seg_mask, prior_mask)
    motion = float(np.median(np.linalg.norm(pair.backward[prior_mask], axis=1))) if prior_area else 0.0
    mask, used = _combine(
        prior_mask, seg_mask, agreement, params, pair.frame, track.recent or track.appearance, motion
    )

    area = int(np.count_nonzero(mask))
    visible = area / max(track.reference_area, 1)
    looks = likeness(track.appearance, pair.frame, mask)
    hidden = "leaving the frame" if _touches_edge(mask) else "occluded"
    reason = ""
    if area < max(1.0, params.min_area * height * width):
        reason = "lost: the object left the frame or vanished"
    elif area_ratio < params.min_area_ratio:
        reason = f"lost: the flow kept {area_ratio:.0%} of the object's area"
    elif point_share < params.min_point_share:
        reason = f"occluded: {point_share:.0%} of its points tracked consistently"
    elif visible < params.min_visible:
        reason = f"{hidden}: {visible:.0%} of its reference area is left"
    elif looks < params.min_likeness:
        reason = f"drift: the mask's colours look {looks:.0%} as much like the object as at first"
    elif seg_mask is not None and agreement < params.min_agreement:
        reason = f"drift: segmenter and flow disagree (IoU {agreement:.2f})"
    checks = StepChecks(point_share, min(area_ratio, 9.99), min(visible, 9.99), looks, agreement, seg_score, used)
    # confidence: all the evidence multiplied (agreement is 1.0 without a segmenter)
    score = float(np.clip(point_share * agreement * seg_score * min(looks, 1.0), 0.0, 1.0))
    return StepResult(mask, score, bool(reason), reason, checks)


def _touches_edge(mask: np.ndarray) -> bool:
    return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())


def _resegment(
    prior: np.ndarray,
    prior_mask: np.ndarray,
    tracked_pos,
    tracked_neg,
    predict: Callable[[Prompt], Proposal],
    params: StepParams,
) -> tuple[np.ndarray, float]:
    """(H×W bool segmenter mask, its score) for a prompt built from the prior and points."""
    height, width = prior_mask.shape
    positive = np.zeros((0, 2), np.float32)
    negative = np.zeros((0, 2), np.float32)
    if params.use_points:
        positive = _inside(tracked_pos.points[tracked_pos.ok], prior, height, width, keep_inside=True)
        negative = _inside(tracked_neg.points[tracked_neg.ok], prior, height, width, keep_inside=False)
        if len(positive) == 0:
            positive = interior_points(prior_mask, 1)
    box = expanded_box(prior_mask, positive) if params.use_box else None
    if len(positive) == 0 and box is None:
        return np.zeros_like(prior_mask), 0.0
    points = np.concatenate([positive, negative]).astype(np.float32)
    labels = np.concatenate([np.ones(len(positive), np.int32), np.zeros(len(negative), np.int32)])
    mask_input = mask_logits(prior) if params.prior_as_mask_input else None
    proposal = None
    for _ in range(params.passes):
        proposal = predict(Prompt(points, labels, box, mask_input))
        mask_input = proposal.logits[0][None]
    assert proposal is not None
    return proposal.mask(0), float(proposal.scores[0])


def _inside(points: np.ndarray, prior: np.ndarray, height: int, width: int, *, keep_inside: bool) -> np.ndarray:
    """The points (N×2) that lie in the frame and inside (or outside) the prior."""
    if len(points) == 0:
        return points.reshape(0, 2).astype(np.float32)
    xi = np.clip(np.round(points[:, 0]).astype(int), 0, width - 1)
    yi = np.clip(np.round(points[:, 1]).astype(int), 0, height - 1)
    value = prior[yi, xi]
    keep = value >= 0.75 if keep_inside else value <= 0.05
    in_frame = (points[:, 0] >= 0) & (points[:, 0] <= width - 1) & (points[:, 1] >= 0) & (points[:, 1] <= height - 1)
    return points[keep & in_frame].astype(np.float32)


def _combine(
    prior_mask: np.ndarray,
    seg_mask: np.ndarray | None,
    agreement: float,
    params: StepParams,
    frame: np.ndarray,
    colours: Appearance,
    motion: float = 0.0,
) -> tuple[np.ndarray, str]:
    """(H×W bool accepted mask, "segmenter" | "prior") following ``params.mode``."""
    if seg_mask is None or params.mode == PropagationMode.WARP:
        return prior_mask, "prior"
    if params.mode == PropagationMode.SEGMENT:
        return seg_mask, "segmenter"
    if agreement < params.accept_iou:
        return prior_mask, "prior"
    if params.mode == PropagationMode.AGREE:
        return seg_mask, "segmenter"
    radius = max(params.band * np.sqrt(np.count_nonzero(prior_mask)), params.band_motion * motion)
    radius = int(np.clip(radius, params.band_min, params.band_max))
    band = boundary_band(prior_mask, radius)
    if params.mode == PropagationMode.VOTE:
        disputed = band & (seg_mask != prior_mask)
        mask = prior_mask & ~disputed
        mask[disputed] = colours.object_is_likelier[colour_bins(frame[disputed])]
        return mask, "segmenter"
    return np.where(band, seg_mask, prior_mask), "segmenter"
