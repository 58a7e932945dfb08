"""Video object segmentation evaluation: the DAVIS semi-supervised protocol.

Layout: ``JPEGImages/<seq>/00000.jpg …`` and ``Annotations/<seq>/00000.png …`` (0
background, anything else object; one object per sequence, as in DAVIS-2016).

Protocol: the first frame's mask is given; the method produces a mask for every other
frame; every frame except the first and the last is scored with

- J, the region similarity: IoU of prediction and ground truth (`engine.geometry.mask_iou`,
  1 when both are empty);
- F, the boundary F-measure of the DAVIS toolkit: boundaries are one-pixel maps
  (`boundary_map`), a boundary pixel matches when the other boundary, dilated by a disc
  of radius ⌈0.008 × image diagonal⌉, covers it; F = 2PR / (P + R).

Per sequence: mean J, mean F, J&F = their mean, fps (frames produced per second of the
method's wall time, decoding included). Over sequences: the means of those. Two
baselines run on the same frames: copying the first mask, and warping it frame to frame
with the same dense flow alone (plain backward warping, no occlusion check).

Command line: ``framewise eval vos DATA_DIR [--backend B] [--json] [--limit N] [--frames-limit N]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import MediaError
from engine.geometry import mask_iou
from engine.media.images import read_id_mask
from engine.media.open import open_media
from engine.propagation.backends import make_propagator
from engine.propagation.propagator import Propagator, default_params
from engine.types import PropagationMode

BOUNDARY_TOLERANCE = 0.008

# A method: (frame source, first mask H×W bool, number of frames n) -> iterator of the
# masks of frames 1 … n-1 (H×W bool), in order.
Method = Callable[[object, np.ndarray, int], Iterator[np.ndarray]]


# -- measures ------------------------------------------------------------------------
def boundary_map(mask: np.ndarray) -> np.ndarray:
    """H×W bool: the DAVIS toolkit's one-pixel boundary of an H×W bool mask.

    A pixel is boundary when it differs from its east, south or south-east neighbour;
    on the last row only east counts, on the last column only south, and the
    bottom-right pixel is never boundary (``seg2bmap`` of the DAVIS toolkit).
    """
    seg = np.asarray(mask, bool)
    east = np.zeros_like(seg)
    south = np.zeros_like(seg)
    south_east = np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    bmap = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    bmap[-1, :] = seg[-1, :] ^ east[-1, :]
    bmap[:, -1] = seg[:, -1] ^ south[:, -1]
    bmap[-1, -1] = False
    return bmap


def disk(radius: int) -> np.ndarray:
    """(2r+1)×(2r+1) uint8 disc: 1 where x² + y² ≤ r² (skimage.morphology.disk)."""
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return ((xx * xx + yy * yy) <= radius * radius).astype(np.uint8)


def boundary_tolerance(shape: tuple[int, int], tolerance: float = BOUNDARY_TOLERANCE) -> int:
    """Match radius in pixels: ``tolerance`` (< 1: a fraction of the diagonal) rounded up."""
    if tolerance >= 1:
        return int(tolerance)
    return int(np.ceil(tolerance * np.hypot(shape[0], shape[1])))


def f_measure(gt: np.ndarray, pred: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> float:
    """Boundary F-measure of two H×W bool masks (DAVIS ``f_measure``).

    Both boundaries empty: 1.0; one empty: 0.0 (precision or recall is 0).
    """
    import cv2

    gt = np.asarray(gt, bool)
    pred = np.asarray(pred, bool)
    if gt.shape != pred.shape:
        raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in shape")
    gt_boundary = boundary_map(gt)
    pred_boundary = boundary_map(pred)
    n_pred = int(np.count_nonzero(pred_boundary))
    n_gt = int(np.count_nonzero(gt_boundary))
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0
    kernel = disk(boundary_tolerance(gt.shape, tolerance))
    gt_dilated = cv2.dilate(gt_boundary.astype(np.uint8), kernel) > 0
    pred_dilated = cv2.dilate(pred_boundary.astype(np.uint8), kernel) > 0
    precision = np.count_nonzero(pred_boundary & gt_dilated) / n_pred
    recall = np.count_nonzero(gt_boundary & pred_dilated) / n_gt
    if precision + recall == 0:
        return 0.0
    return float(2 * precision * recall / (precision + recall))


# -- data -----------------------------------------------------------------------------
@dataclass(frozen=True)
class VosSequence:
    """One sequence: its frame folder and its annotation files, one per frame, in order."""

    name: str
    frames_dir: Path
    annotations: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.annotations)

    def ground_truth(self, frame_index: int) -> np.ndarray:
        """H×W bool mask of frame ``frame_index`` (any non-zero id is the object)."""
        return read_id_mask(self.annotations[frame_index]) > 0


def list_sequences(data_dir: str | Path) -> list[VosSequence]:
    """The sequences of a DAVIS-layout folder, sorted by name.

    Every frame needs an annotation of the same stem (the DAVIS-2016 layout).
    """
    root = Path(data_dir)
    images, annotations = root / "JPEGImages", root / "Annotations"
    if not images.is_dir() or not annotations.is_dir():
        raise MediaError(f"{root}: expected JPEGImages/<seq>/ and Annotations/<seq>/ folders")
    sequences = []
    for seq_dir in sorted(p for p in images.iterdir() if p.is_dir()):
        frames = sorted(p for p in seq_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if not frames:
            continue
        masks = tuple(annotations / seq_dir.name / (f.stem + ".png") for f in frames)
        missing = [m for m in masks if not m.exists()]
        if missing:
            raise MediaError(f"{missing[0]}: annotation missing for frame {missing[0].stem} of {seq_dir.name}")
        sequences.append(VosSequence(seq_dir.name, seq_dir, masks))
    if not sequences:
        raise MediaError(f"{images}: no sequences")
    return sequences


# -- methods --------------------------------------------------------------------------
def copy_first(source, first: np.ndarray, frames: int) -> Iterator[np.ndarray]:
    """Baseline: the first mask on every frame (frames are still decoded, as a method would)."""
    for frame_index in range(1, frames):
        source.frame(frame_index)
        yield first


def propagator_method(propagator, on_step: Callable[[object], None] | None = None) -> Method:
    """A `Method` from an `engine.propagation.propagator.Propagator` (use ``on_flag="continue"``: the
    protocol needs a mask on every frame; an object that stops gives empty masks).
    ``on_step`` sees every `PropagationStep`."""

    def run(source, first: np.ndarray, frames: int) -> Iterator[np.ndarray]:
        empty = np.zeros_like(first)
        produced = 0
        for step in propagator.propagate(source, 0, {1: first}, direction=1, until=frames - 1):
            produced += 1
            if on_step is not None:
                on_step(step)
            yield step.masks.get(1, empty)
        for _ in range(produced + 1, frames):
            yield empty

    return run


@dataclass
class SequenceResult:
    """Per-frame scores of one sequence: ``frames`` are the scored frame indices."""

    name: str
    frames: list[int]
    j: list[float]
    f: list[float]
    produced: int
    seconds: float

    def to_json(self) -> dict:
        j, f = float(np.mean(self.j)) if self.j else 0.0, float(np.mean(self.f)) if self.f else 0.0
        return {
            "name": self.name,
            "J": round(j, 4),
            "F": round(f, 4),
            "JF": round((j + f) / 2, 4),
            "frames": self.produced + 1,
            "scored": len(self.frames),
            "fps": round(self.produced / self.seconds, 3) if self.seconds > 0 else None,
        }


def run_sequence(sequence: VosSequence, method: Method, frames_limit: int | None = None) -> SequenceResult:
    """Run ``method`` on ``sequence`` (first ``frames_limit`` frames) and score it."""
    total = len(sequence)
    count = total if frames_limit is None else max(2, min(total, int(frames_limit)))
    first = sequence.ground_truth(0)
    scored, js, fs = [], [], []
    seconds = 0.0
    produced = 0
    with open_media(sequence.frames_dir) as source:
        if len(source) != total:
            raise MediaError(f"{sequence.frames_dir}: {len(source)} frames but {total} annotations")
        iterator = method(source, first, count)
        for frame_index in range(1, count):
            started = time.perf_counter()
            pred = next(iterator)
            seconds += time.perf_counter() - started
            produced += 1
            if frame_index == total - 1:
                continue  # the last frame is not scored (DAVIS)
            gt = sequence.ground_truth(frame_index)
            scored.append(frame_index)
            js.append(mask_iou(gt, pred))  # J, the region similarity
            fs.append(f_measure(gt, pred))
    return SequenceResult(sequence.name, scored, js, fs, produced, seconds)


def flag_quality(j: list[float], flagged: list[bool], scores: list[float]) -> dict:
    """How well review flags and scores point at wrong frames, over scored frames.

    recall: share of the frames with J < 0.5 that are flagged; precision: share of the
    flagged frames with J < 0.7; spearman: rank correlation of the propagated score with J
    (None when either is constant). Counts come with them.
    """
    from scipy.stats import spearmanr

    values, marks = np.asarray(j, float), np.asarray(flagged, bool)
    bad, flags = values < 0.5, int(marks.sum())
    rho = None
    if len(values) > 2 and np.ptp(values) > 0 and np.ptp(scores) > 0:
        rho = round(float(spearmanr(scores, values).statistic), 4)
    return {
        "frames": int(len(values)),
        "bad_frames": int(bad.sum()),
        "flagged": flags,
        "recall": round(float((bad & marks).sum() / bad.sum()), 4) if bad.any() else None,
        "precision": round(float((marks & (values < 0.7)).sum() / flags), 4) if flags else None,
        "spearman": rho,
    }


def summarize(results: list[SequenceResult]) -> dict:
    """Mean over sequences of J, F, J&F, and the overall fps; per-sequence entries."""
    per = [r.to_json() for r in results]
    if not per:
        return {"J": None, "F": None, "JF": None, "fps": None, "sequences": []}
    produced = sum(r.produced for r in results)
    seconds = sum(r.seconds for r in results)
    return {
        "J": round(float(np.mean([p["J"] for p in per])), 4),
        "F": round(float(np.mean([p["F"] for p in per])), 4),
        "JF": round(float(np.mean([p["JF"] for p in per])), 4),
        "fps": round(produced / seconds, 3) if seconds > 0 else None,
        "sequences": per,
    }


def evaluate_vos(
    data_dir: str | Path,
    segmenter=None,
    *,
    params=None,
    limit: int | None = None,
    frames_limit: int | None = None,
    baselines: bool = True,
    progress: bool = True,
) -> dict:
    """The DAVIS protocol on ``data_dir`` for the propagator with ``segmenter`` (None:
    flow only) and, with ``baselines``, for copying the first mask and for warping alone.

    Returns ``{"J", "F", "JF", "fps", "sequences": [...], "baselines": {"copy": {...},
    "warp": {...}}, "flagged_frames", "backend", "params", "frames_limit"}``.
    """
    from dataclasses import asdict, replace

    from tqdm import tqdm

    sequences = list_sequences(data_dir)[:limit]
    backend = segmenter.name if segmenter is not None else None
    params = replace(params or default_params(backend), on_flag="continue")
    flagged = 0
    seen: dict[int, tuple[bool, float]] = {}  # frame -> (flagged, score) of the running sequence
    frame_j: list[float] = []
    frame_flagged: list[bool] = []
    frame_scores: list[float] = []

    def count_flags(step) -> None:
        nonlocal flagged
        flagged += len(step.flagged)
        seen[step.frame_index] = (1 in step.flagged, float(step.scores.get(1, 0.0)))

    # SAM 2 tracks with its own memory, the other backends re-prompt along the flow
    methods: dict[str, Method] = {"propagator": propagator_method(make_propagator(segmenter, params), count_flags)}
    if baselines:
        methods["copy"] = copy_first
        # plain backward warping with the same flow: no occlusion check, no segmenter
        warp = replace(params, step=replace(params.step, mode=PropagationMode.WARP), occlusion_check=False)
        methods["warp"] = propagator_method(Propagator(None, warp))
    results: dict[str, list[SequenceResult]] = {name: [] for name in methods}
    bar = tqdm(total=len(sequences) * len(methods), desc="vos", disable=not progress, file=sys.stderr, unit="seq")
    for sequence in sequences:
        for name, method in methods.items():
            bar.set_postfix_str(f"{sequence.name} {name}")
            seen.clear()
            result = run_sequence(sequence, method, frames_limit)
            results[name].append(result)
            if name == "propagator":
                for frame_index, j in zip(result.frames, result.j):
                    was_flagged, score = seen.get(frame_index, (True, 0.0))
                    frame_j.append(j)
                    frame_flagged.append(was_flagged)
                    frame_scores.append(score)
            bar.update(1)
    bar.close()
    report = summarize(results["propagator"])
    report.update(
        {
            "backend": backend or "flow",
            "model": getattr(segmenter, "model", None),
            "flagged_frames": flagged,
            "flags": flag_quality(frame_j, frame_flagged, frame_scores),
            "frames_limit": frames_limit,
            "data_dir": str(data_dir),
            "params": asdict(params),
        }
    )
    if baselines:
        report["baselines"] = {name: summarize(results[name]) for name in ("copy", "warp")}
    return report
