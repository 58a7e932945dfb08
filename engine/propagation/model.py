"""The weight-free propagation step: an object model that remembers, motion as a location
prior, a pixel-level graph cut in the object's region, re-detection after it is lost.

Per object and frame (`model_step`), at a working scale (``ModelParams.scale`` of the frame):

1. *location prior*: the last mask warped to the new frame with the dense backward flow,
   blurred by ``sigma`` pixels (flow is wrong by a few pixels at boundaries);
2. *object model*: colour histograms (CIE Lab, 16 levels a channel) of the object and of a
   ring of background around it. The reference frame (the mask a person gave) keeps a fixed
   share ``memory`` of the model for the whole run; the rest follows the accepted frames
   with rate ``rate``. The model never forgets what it was shown;
3. *decision*: a graph cut over the pixels of the region of interest (the prior's box plus
   a margin growing with the object's size and motion): unary terms from the prior's and
   the colour model's log-odds, contrast-sensitive Potts pairwise terms (``smoothness``);
4. *clean-up*: connected pieces of the cut that the motion does not support (less than
   ``support`` of their pixels inside the prior) are dropped;
5. *review*: the risk that the label is wrong (J < 0.5) is estimated from five signals of
   the step (`label_risk`): how much the mask's colours look like the reference object
   more than its surroundings do, how much the surroundings look like the object, how
   much the cuts have departed from the motion since the reference (accumulated), the
   agreement of this cut with the prior, and the number of pieces. The frame is flagged
   for review when the risk exceeds ``review_risk``; the label's score is 1 − risk;
6. *lost and found*: when the result keeps less than ``lost_below`` of the reference area
   the object is *lost* (occluded, out of view, or the flow failed): the frame is flagged,
   no mask is given, and the next frames look for it by colour alone in a window around
   where it was last seen, growing with time; it is found again when a piece of 0.3–3× the
   reference area turns up.

Settings were chosen on davis16-train10 and confirmed on davis16-train-b (docs/BENCHMARKS.md).
Masks are H×W ``bool``; frames H×W×3 ``uint8`` RGB; flows H×W×2 ``float32``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.propagation.flow import warp_mask

LEVELS = 16
BINS = LEVELS**3


@dataclass(frozen=True)
class ModelParams:
    """Settings of `model_step` (see the module docstring).

    scale / max_long_side: working scale of the frame, at most ``max_long_side`` pixels on
    its long side (854×480 DAVIS frames: 640×360; 720p: 640×360); sigma: blur of the warped prior (working pixels);
    prior_weight / colour_weight: weights of the two log-odds; smoothness: the pairwise
    weight; margin: region-of-interest margin and background ring, a fraction of √area;
    memory: the reference frame's share of the colour model; rate: update rate of the rest;
    clamp: the prior is clipped to [clamp, 1 − clamp]; support: share of a piece's pixels
    inside the prior needed to keep it; lost_below: lost under this share of the reference
    area; redetect: look for a lost object again.
    risk_*: the weights of `label_risk` (a logistic model of P(J < 0.5), fitted once on
    davis16-train10's frames and confirmed on davis16-train-b, docs/BENCHMARKS.md);
    review_risk: flag a frame whose risk is above this (the highest threshold that flags
    0.8 of train10's frames with J < 0.5; about its rate of such frames).
    """

    scale: float = 0.75
    max_long_side: int = 640
    sigma: float = 4.0
    prior_weight: float = 1.0
    colour_weight: float = 1.0
    smoothness: float = 1.5
    margin: float = 0.35
    memory: float = 0.5
    rate: float = 0.2
    clamp: float = 0.02
    support: float = 0.3
    lost_below: float = 0.1
    redetect: bool = True
    risk_bias: float = 0.62
    risk_colour: float = -0.855
    risk_ambiguity: float = 4.24
    risk_drift: float = 0.878
    risk_agreement: float = -5.24
    risk_pieces: float = 0.238
    review_risk: float = 0.058


@dataclass(frozen=True)
class ModelTrack:
    """One object's state at the working scale.

    mask: h×w bool, the last accepted mask (where a lost object is looked for);
    reference / recent: (object, background) colour histograms, each ``BINS`` float64
    summing to 1; reference_area: pixels of the given mask; reference_share: the share of
    its pixels whose colour the reference model calls object (`object_share`); lost:
    frames since it was lost (0: tracked); drift: the sum of 1 − agreement (the cut's IoU
    with the motion prior) over the frames since the reference.
    """

    object_id: int
    frame_index: int
    mask: np.ndarray
    reference: tuple[np.ndarray, np.ndarray]
    recent: tuple[np.ndarray, np.ndarray]
    reference_area: int
    reference_share: float = 1.0
    lost: int = 0
    drift: float = 0.0


@dataclass(frozen=True)
class ModelResult:
    """mask: H×W bool at full size (empty while lost); score in [0, 1]; reason: why the
    frame is flagged ("" when it is not); stop: the object is lost (a propagation that
    stops at flags stops it; other flags only ask for review); agreement: IoU of the cut with the prior;
    area_ratio: result area / reference area; likeness: `object_share` of the result under
    the reference model, relative to the reference frame's (1.0: as at first); risk: the
    estimated probability that the label is wrong (`label_risk`)."""

    mask: np.ndarray
    score: float
    reason: str
    stop: bool
    agreement: float
    area_ratio: float
    likeness: float = 0.0
    risk: float = 1.0


@dataclass(frozen=True)
class RiskSignals:
    """What `label_risk` weighs, for one accepted mask.

    colour: share of the mask's pixels the reference model calls object minus that share
    of the ring around it; ambiguity: share of the ring the current model calls object;
    drift: `ModelTrack.drift` after this frame; agreement: IoU of the cut with the prior;
    pieces: connected pieces of the mask.
    """

    colour: float
    ambiguity: float
    drift: float
    agreement: float
    pieces: int


def label_risk(signals: RiskSignals, params: ModelParams) -> float:
    """Estimated probability in (0, 1) that a propagated label has J < 0.5."""
    z = (params.risk_bias + params.risk_colour * signals.colour + params.risk_ambiguity * signals.ambiguity
         + params.risk_drift * float(np.log1p(signals.drift)) + params.risk_agreement * signals.agreement
         + params.risk_pieces * signals.pieces)
    return float(1.0 / (1.0 + np.exp(-z)))


def _review_reason(signals: RiskSignals, risk: float, params: ModelParams) -> str:
    """Why a frame is flagged: the risk and its largest contributions."""
    parts = {
        "the cut and the motion disagree": params.risk_agreement * (signals.agreement - 0.9),
        "the surroundings look like the object": params.risk_ambiguity * signals.ambiguity,
        "its colours drifted from the reference": params.risk_colour * (signals.colour - 0.8),
        "the cuts corrected the motion a lot since the reference": params.risk_drift * float(np.log1p(signals.drift)),
        f"it is in {signals.pieces} pieces": params.risk_pieces * max(signals.pieces - 1, 0),
    }
    top = sorted(parts, key=lambda k: -parts[k])[:2]
    return f"review: likely wrong ({risk:.0%}): " + "; ".join(top)


def working_scale(shape: tuple[int, int], params: ModelParams) -> float:
    """The scale of the working frame for a full frame of ``shape`` (H, W)."""
    return min(params.scale, params.max_long_side / max(shape), 1.0)


def working_size(shape: tuple[int, int], params: ModelParams) -> tuple[int, int]:
    """(w, h) of the working frame for a full frame of ``shape`` (H, W)."""
    height, width = shape
    scale = working_scale(shape, params)
    return max(8, int(round(width * scale))), max(8, int(round(height * scale)))


def colour_bins(rgb: np.ndarray) -> np.ndarray:
    """h×w int32 histogram bins in [0, BINS) of an h×w×3 uint8 RGB image, in CIE Lab."""
    import cv2

    lab = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2LAB)
    q = (np.asarray(lab, np.uint8) >> 4).astype(np.int32)
    return (q[..., 0] * LEVELS + q[..., 1]) * LEVELS + q[..., 2]


def ring_around(mask: np.ndarray, margin: float) -> np.ndarray:
    """h×w bool: the pixels outside ``mask`` (h×w bool) within ``margin`` pixels of it."""
    import cv2

    distance = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    return (distance > 0) & (distance <= margin)


def colour_model(bins: np.ndarray, mask: np.ndarray, margin: float,
                 ring: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(object, background) normalised histograms: the mask's pixels and a ring of
    ``margin`` pixels around it (``ring``, when already known)."""
    ring = ring_around(mask, margin) if ring is None else ring
    return _normalised(np.bincount(bins[mask], minlength=BINS)), _normalised(np.bincount(bins[ring], minlength=BINS))


def _normalised(counts: np.ndarray) -> np.ndarray:
    counts = counts.astype(np.float64)
    return counts / max(float(counts.sum()), 1.0)


def _margin(area: float, params: ModelParams) -> float:
    return max(6.0, params.margin * float(np.sqrt(area)))


def new_model_track(object_id: int, frame_index: int, frame: np.ndarray, mask: np.ndarray, params: ModelParams) -> ModelTrack:
    """The track of ``mask`` (H×W bool) given on ``frame`` (H×W×3 uint8 RGB): its reference."""
    import cv2

    size = working_size(mask.shape, params)
    small = cv2.resize(np.ascontiguousarray(frame), size, interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    if not small_mask.any():  # a sliver that vanishes at the working scale: keep its pixels
        small_mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
    bins = colour_bins(small)
    model = colour_model(bins, small_mask, _margin(small_mask.sum(), params))
    share = object_share(model, bins, small_mask)
    return ModelTrack(object_id, frame_index, small_mask, model, model, max(int(small_mask.sum()), 1), max(share, 1e-3))


def object_share(model: tuple[np.ndarray, np.ndarray], bins: np.ndarray, mask: np.ndarray) -> float:
    """Share of ``mask``'s pixels whose colour is likelier on the object than around it."""
    if not mask.any():
        return 0.0
    values = bins[mask]
    return float(np.mean(model[0][values] > model[1][values]))


def box_around(mask: np.ndarray, pad: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of ``mask``'s bounding box grown by ``pad``, inside the frame
    (the whole frame for an empty mask)."""
    height, width = mask.shape
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return 0, height, 0, width
    return max(0, ys.min() - pad), min(height, ys.max() + pad + 1), max(0, xs.min() - pad), min(width, xs.max() + pad + 1)


def graph_cut(prior: np.ndarray, bins: np.ndarray, rgb: np.ndarray, model: tuple[np.ndarray, np.ndarray],
              params: ModelParams) -> np.ndarray:
    """h×w bool: the labelling of a region minimising the prior's and the colour model's
    costs plus contrast-sensitive smoothness. prior: h×w float32 in [0, 1]; bins: h×w
    colour bins; rgb: h×w×3 uint8."""
    import maxflow

    object_hist, background_hist = model
    colour = np.log((object_hist[bins] + 1e-4) / (background_hist[bins] + 1e-4))
    p = np.clip(prior, params.clamp, 1 - params.clamp)
    logit = params.prior_weight * np.log(p / (1 - p)) + params.colour_weight * np.clip(colour, -5, 5)
    image = rgb.astype(np.float32)
    dx = np.sum((image[:, 1:] - image[:, :-1]) ** 2, axis=2)
    dy = np.sum((image[1:] - image[:-1]) ** 2, axis=2)
    mean = float(np.mean(np.concatenate([dx.ravel(), dy.ravel()]))) if dx.size + dy.size else 1.0
    beta = 1.0 / (2 * max(mean, 1e-3))
    right = np.zeros(prior.shape, np.float32)
    down = np.zeros(prior.shape, np.float32)
    right[:, :-1] = params.smoothness * np.exp(-beta * dx)
    down[:-1] = params.smoothness * np.exp(-beta * dy)
    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes(prior.shape)
    graph.add_grid_edges(nodes, weights=right, structure=np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]]), symmetric=True)
    graph.add_grid_edges(nodes, weights=down, structure=np.array([[0, 0, 0], [0, 0, 0], [0, 1, 0]]), symmetric=True)
    # source side = object: its capacity is the cost of calling the pixel background
    graph.add_grid_tedges(nodes, np.logaddexp(0, logit), np.logaddexp(0, -logit))
    graph.maxflow()
    return ~graph.get_grid_segments(nodes)


def keep_supported(cut: np.ndarray, prior: np.ndarray, support: float) -> np.ndarray:
    """The connected pieces of ``cut`` (h×w bool) with at least ``support`` of their pixels
    inside ``prior`` ≥ 0.5; the best-supported piece when none is."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(cut.astype(np.uint8), connectivity=8)
    if count <= 1:
        return cut
    inside = np.bincount(labels.ravel(), weights=(prior >= 0.5).ravel().astype(np.float64), minlength=count)
    share = inside / np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
    keep = share >= support
    keep[0] = False
    if not keep.any():
        keep[1 + int(np.argmax(inside[1:]))] = True
    return keep[labels]


def _redetect(track: ModelTrack, bins: np.ndarray, rgb: np.ndarray, model: tuple[np.ndarray, np.ndarray],
              params: ModelParams) -> np.ndarray:
    """Look for a lost object by colour alone around where it was last seen."""
    import cv2

    side = float(np.sqrt(track.reference_area))
    y0, y1, x0, x1 = box_around(track.mask, int(side * min(3.0, 0.5 + 0.25 * track.lost)))
    flat = np.full((y1 - y0, x1 - x0), 0.35, np.float32)
    cut = graph_cut(flat, bins[y0:y1, x0:x1], rgb[y0:y1, x0:x1], model, params)
    found = np.zeros(track.mask.shape, bool)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(cut.astype(np.uint8), connectivity=8)
    if count > 1:
        largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        if 0.3 * track.reference_area <= stats[largest, cv2.CC_STAT_AREA] <= 3 * track.reference_area:
            found[y0:y1, x0:x1] = labels == largest
    return found


def model_step(track: ModelTrack, frame: np.ndarray, backward: np.ndarray, frame_index: int,
               params: ModelParams) -> tuple[ModelResult, ModelTrack]:
    """Carry ``track`` to ``frame`` (H×W×3 uint8 RGB, index ``frame_index``) with the
    backward flow (H×W×2 float32, full-size pixels): (result, the track after it)."""
    import cv2

    height, width = frame.shape[:2]
    size = working_size((height, width), params)
    small = cv2.resize(np.ascontiguousarray(frame), size, interpolation=cv2.INTER_AREA)
    bins = colour_bins(small)
    memory = params.memory
    model = (memory * track.reference[0] + (1 - memory) * track.recent[0],
             memory * track.reference[1] + (1 - memory) * track.recent[1])
    agreement = 1.0
    if track.lost == 0:
        flow = cv2.resize(backward, size, interpolation=cv2.INTER_LINEAR) * np.float32(size[0] / width)
        prior = warp_mask(track.mask, flow)
        if params.sigma > 0:
            prior = cv2.GaussianBlur(prior, (0, 0), params.sigma)
        prior_mask = prior >= 0.5
        area = max(int(prior_mask.sum()), 1)
        motion = float(np.median(np.linalg.norm(flow[prior_mask], axis=1))) if prior_mask.any() else 0.0
        pad = int(max(8.0, params.margin * np.sqrt(area) + 2 * motion))
        y0, y1, x0, x1 = box_around(prior_mask if prior_mask.any() else track.mask, pad)
        window = prior[y0:y1, x0:x1]
        cut = graph_cut(window, bins[y0:y1, x0:x1], small[y0:y1, x0:x1], model, params)
        mask = np.zeros(track.mask.shape, bool)
        mask[y0:y1, x0:x1] = keep_supported(cut, window, params.support)
        union = np.count_nonzero(mask | prior_mask)
        agreement = np.count_nonzero(mask & prior_mask) / union if union else 0.0
    elif params.redetect:
        mask = _redetect(track, bins, small, model, params)
    else:
        mask = np.zeros(track.mask.shape, bool)
    area_ratio = float(np.count_nonzero(mask)) / track.reference_area
    if area_ratio < params.lost_below:
        what = "lost: occluded, out of view or the flow failed" if track.lost == 0 else "still lost"
        after = replace(track, frame_index=frame_index, lost=track.lost + 1, drift=track.drift + 1 - agreement)
        return ModelResult(np.zeros((height, width), bool), 0.0, what, True, agreement, area_ratio, 0.0), after
    ring = ring_around(mask, _margin(mask.sum(), params))
    signals = RiskSignals(
        colour=object_share(track.reference, bins, mask) - object_share(track.reference, bins, ring),
        ambiguity=object_share(model, bins, ring),
        drift=track.drift + 1 - agreement,
        agreement=float(agreement),
        pieces=int(cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0]) - 1,
    )
    risk = label_risk(signals, params)
    reason = _review_reason(signals, risk, params) if risk > params.review_risk else ""
    fresh = colour_model(bins, mask, 0.0, ring)
    recent = ((1 - params.rate) * track.recent[0] + params.rate * fresh[0],
              (1 - params.rate) * track.recent[1] + params.rate * fresh[1])
    after = replace(track, frame_index=frame_index, mask=mask, recent=recent, lost=0, drift=signals.drift)
    full = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5
    likeness = object_share(track.reference, bins, mask) / track.reference_share
    return ModelResult(full, 1.0 - risk, reason, False, float(agreement), area_ratio, likeness, risk), after
