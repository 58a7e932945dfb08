"""Fit the classic segmenter's data-term weights (`classic_cut.UNARY_WEIGHTS`).

Not used at run time: this reproduces the constants from a DAVIS folder. The
simulated clicker of `engine.evaluation.clicker` drives the current segmenter on every
image; each click state (the clicks so far, plus box-only states from the jittered
ground-truth box) gives every superpixel its `click_features` and, as target, the
fraction of its pixels inside the object. A size-weighted logistic regression maps the
features to per-pixel foreground log-odds. Running the clicker with the refitted weights
and fitting again on all states (DAgger-style) matches the states the model sees.
``--accept`` fits the acceptance model of `classic_accept` the same way (its rows: the
candidates of every correction click, target: whether flipping each one is right).

The weights are fitted on frames the evaluation never scores: the frames at 1/4 and 3/4
of each davis16-train10 sequence (`engine.evaluation.iseg.FIT_POSITIONS`), while the
harness scores the first and middle frames of that set and all of iseg-dev (which the
fit never sees). ``python -m engine.evaluation.classic_fit ../shared/data/davis16-train10
--rounds 2`` prints the weights to paste into `classic_cut.py`.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import numpy as np

from engine.evaluation.clicker import iou, next_click
from engine.evaluation.iseg import DAVIS_POSITIONS, FIT_POSITIONS, list_items, load_item
from engine.segment.classic import cut as classic_cut
from engine.segment.classic.accept import ACCEPT_FEATURES
from engine.segment.classic.cut import UNARY_WEIGHTS, CutParams, data_term, make_seeds
from engine.segment.classic.features import FEATURE_NAMES, GeodesicMetrics, Seeds
from engine.segment.classic.graph import RegionGraph
from engine.segment.classic.segmenter import ClassicSegmenter, superpixel_fractions
from engine.types import Prompt


def state_rows(
    graph: RegionGraph,
    metrics: GeodesicMetrics,
    fraction: np.ndarray,
    seeds: Seeds,
    previous: np.ndarray | None,
    rng: np.random.Generator,
    sample: int = 3000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows×F features, rows fixed offsets, rows target fractions, rows weights)."""
    term = data_term(graph, metrics, seeds, CutParams(), previous)
    keep = np.ones(graph.count, bool)
    keep[seeds.positive] = keep[seeds.negative] = False  # hard constraints need no model
    if seeds.outside_box is not None:
        keep &= ~seeds.outside_box
    index = np.flatnonzero(keep)
    if len(index) > sample:
        index = rng.choice(index, sample, replace=False)
    weight = graph.size[index] * (graph.count / max(len(index), 1))
    return term.features[index], term.offset[index], fraction[index], weight


def fit_logistic(
    features: np.ndarray, offset: np.ndarray, target: np.ndarray, weight: np.ndarray, l2: float = 1e-3
) -> np.ndarray:
    """F float64 weights w minimising the size-weighted soft cross-entropy of
    sigmoid(offset + features·w) + l2·|w|² (the bias is not decayed)."""
    from scipy.optimize import minimize

    x = features.astype(np.float64)
    y = target.astype(np.float64)
    w = weight.astype(np.float64) / weight.sum()
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0

    def loss(beta: np.ndarray) -> tuple[float, np.ndarray]:
        z = offset + x @ beta
        # log(1 + e^z) - y z, computed stably.
        value = np.logaddexp(0, z) - y * z
        prob = 0.5 * (1 + np.tanh(z / 2))
        grad = x.T @ (w * (prob - y))
        return float(w @ value + penalty @ beta**2), grad + 2 * penalty * beta

    result = minimize(loss, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    return result.x


def rollout(segmenter, embedding, gt: np.ndarray, max_clicks: int, stop_iou: float = 0.95):
    """Drive ``segmenter`` on a prepared frame with the standard clicker against ``gt``
    (H×W uint8, 255 object) as `engine.evaluation.iseg.run_image` does; yields each state
    (N×2 float64 click points, N int labels, the previous pass's logits or None) just
    before the segmenter answers it."""
    clicks: list = []
    pred = mask_input = None
    for _ in range(max_clicks):
        click = next_click(gt, pred)
        if click is None:
            return
        clicks.append(click)
        points = np.array([[c.x, c.y] for c in clicks], np.float64)
        labels = np.array([int(c.positive) for c in clicks])
        yield points, labels, mask_input
        proposal = segmenter.predict(embedding, Prompt(points, labels, mask_input=mask_input))
        pred, mask_input = proposal.mask(0), proposal.logits[0][None]
        if iou(gt, pred) >= stop_iou:
            return


def collect(
    data_dir: str | Path,
    weights: np.ndarray | None,
    max_clicks: int = 20,
    seed: int = 0,
    positions: tuple[float, ...] | None = None,
):
    """Run the clicker with ``weights`` on every image; return the stacked training rows.

    positions: the DAVIS frames to use (`engine.evaluation.iseg.list_items`), by default
    `FIT_POSITIONS`, which the evaluation never scores.

    Every state is the one the segmenter sees in `engine.evaluation.iseg.run_image`: the
    clicks so far and the previous pass's mask; two box-only states per image are added.
    """
    import cv2
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    if weights is not None:
        classic_cut.UNARY_WEIGHTS[:] = weights
    segmenter = ClassicSegmenter()
    rows = []
    for item in tqdm(list_items(data_dir, positions or FIT_POSITIONS), file=sys.stderr):
        frame, gt = load_item(item)
        if not (gt > 128).any():
            continue
        embedding = segmenter.prepare(frame, 1.0)
        graph = RegionGraph.from_arrays(embedding.arrays)
        metrics = GeodesicMetrics(graph, (embedding.arrays["border_edge"], embedding.arrays["border_colour"]))
        height, width = graph.labels.shape
        obj = cv2.resize((gt > 128).astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)
        fraction = np.bincount(graph.labels.ravel(), obj.ravel(), graph.count) / graph.size
        scale = np.array([width / gt.shape[1], height / gt.shape[0]])
        for points, labels, mask_input in rollout(segmenter, embedding, gt, max_clicks):
            seeds = make_seeds(graph, points * scale, labels, None)
            previous = superpixel_fractions(mask_input, graph.labels, graph.count)
            rows.append(state_rows(graph, metrics, fraction, seeds, previous, rng))
        ys, xs = np.nonzero(gt > 128)
        for _ in range(2):
            size = np.tile([np.ptp(xs) + 1, np.ptp(ys) + 1], 2)
            jitter = rng.uniform(-0.05, 0.1, 4) * size
            box = np.array([xs.min() - jitter[0], ys.min() - jitter[1], xs.max() + 1 + jitter[2], ys.max() + 1 + jitter[3]])
            seeds = make_seeds(graph, np.zeros((0, 2)), np.zeros(0), box * np.tile(scale, 2))
            rows.append(state_rows(graph, metrics, fraction, seeds, None, rng))
    return tuple(np.concatenate(part) for part in zip(*rows))


def _collect_rows(
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    fraction: np.ndarray,
    sizes: np.ndarray,
    cand: np.ndarray,
    features: np.ndarray,
    label: int,
) -> None:
    """The segmenter's ``collect`` hook in `collect_accept` (bound with `functools.partial`):
    keeps one correction click's candidates as (features, target, weight) rows."""
    rows.append((features, ((fraction[cand] > 0.5) == bool(label)).astype(np.float64), sizes[cand]))


def collect_accept(
    data_dir: str | Path,
    weights: np.ndarray | None,
    max_clicks: int = 20,
    quiet: bool = False,
    positions: tuple[float, ...] | None = None,
):
    """Acceptance rows (`classic_accept`) of every correction click of the clicker on the
    held-out frames (``positions``, by default `FIT_POSITIONS`): (rows×F features, rows
    targets, rows weights).

    weights: the acceptance model to roll out with (`CutParams.accept = "model"`), or None
    for the zone rule. Target: 1 where flipping the candidate to the click's label agrees
    with the ground truth's majority over its pixels; weight: its size in pixels.
    """
    from tqdm import tqdm

    if weights is None:
        params = CutParams(accept="zone")
    else:
        params = CutParams(accept="model", accept_weights=tuple(float(v) for v in weights))
    segmenter = ClassicSegmenter(params)
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for item in tqdm(list_items(data_dir, positions or FIT_POSITIONS), file=sys.stderr, disable=quiet):
        frame, gt = load_item(item)
        obj = gt > 128
        if not obj.any():
            continue
        embedding = segmenter.prepare(frame, 1.0)
        graph = RegionGraph.from_arrays(embedding.arrays)
        fraction = np.bincount(graph.labels.ravel(), obj.ravel(), graph.count) / graph.size
        segmenter.collect = partial(_collect_rows, rows, fraction, graph.size)
        for _ in rollout(segmenter, embedding, gt, max_clicks):
            pass  # the rows arrive through ``collect`` during each predict
    if not rows:
        raise ValueError(f"{data_dir}: no correction click on the fitting frames (every first click was right)")
    return tuple(np.concatenate(part) for part in zip(*rows))


def fit_accept(
    data_dir: str | Path, rounds: int, l2: float = 1e-3, quiet: bool = False, positions: tuple[float, ...] | None = None
) -> tuple[np.ndarray, dict]:
    """(`classic_accept.ACCEPT_WEIGHTS` fitted from scratch, a report): a rollout with the
    zone rule, then ``rounds - 1`` rollouts with the model fitted so far, each fit on all
    rows so far. The report gives, over the last fit's rows, the fraction of the candidate
    area labelled right by the model (``model``), by the global cut's own flips (``cut``)
    and by flipping nothing (``keep``), and the row count (``rows``)."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    parts = []
    weights: np.ndarray | None = None
    report: dict = {}
    flips = ACCEPT_FEATURES.index("cut_flips")
    for round_index in range(rounds):
        parts.append(collect_accept(data_dir, weights, quiet=quiet, positions=positions))
        x, y, w = (np.concatenate(p) for p in zip(*parts))
        weights = fit_logistic(x, np.zeros(len(x)), y, w, l2)
        right = y > 0.5
        report = {
            "rows": len(x),
            "model": float(np.average((x @ weights > 0) == right, weights=w)),
            "cut": float(np.average((x[:, flips] > 0.5) == right, weights=w)),
            "keep": float(np.average(~right, weights=w)),
        }
        if not quiet:
            print(f"round {round_index}: {report}", file=sys.stderr)
    assert weights is not None  # rounds >= 1
    return weights, report


def _positions(text: str) -> tuple[float, ...]:
    """``0.125,0.25`` -> (0.125, 0.25); scored positions (0, 0.5) are refused."""
    import argparse

    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"positions must be comma-separated fractions, got {text!r}") from None
    if any(not 0.0 <= v < 1.0 for v in values) or set(values) & set(DAVIS_POSITIONS):
        raise argparse.ArgumentTypeError(f"positions must lie in [0, 1) and leave out the scored {DAVIS_POSITIONS}")
    return values


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="fit classic_cut.UNARY_WEIGHTS (or, with --accept, ACCEPT_WEIGHTS)")
    parser.add_argument("data_dir")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--l2", type=float, default=1e-3)
    parser.add_argument("--init", choices=("neutral", "current"), default="neutral",
                        help="weights of the first rollout: colour models only, or UNARY_WEIGHTS")
    parser.add_argument("--accept", action="store_true", help="fit classic_accept.ACCEPT_WEIGHTS instead")
    parser.add_argument("--positions", type=_positions, default=None,
                        help="frames of each sequence to fit on, as fractions of its length, "
                        "e.g. 0.125,0.25,0.375,0.625,0.75,0.875 (default: FIT_POSITIONS); "
                        "keep 0 and 0.5 out, the evaluation scores them")
    args = parser.parse_args(argv)
    if args.accept:
        weights, _ = fit_accept(args.data_dir, args.rounds, args.l2, positions=args.positions)
        for name, value in zip(ACCEPT_FEATURES, weights):
            print(f"    {value: .4f},  # {name}")
        return
    if args.init == "current":
        weights = UNARY_WEIGHTS.copy()
    else:
        # A neutral start that owes nothing to any earlier fit: the colour models alone.
        weights = np.zeros(len(FEATURE_NAMES))
        weights[FEATURE_NAMES.index("llr_near")] = 1.0
    parts = []
    for round_index in range(args.rounds):
        parts.append(collect(args.data_dir, weights, seed=round_index, positions=args.positions))
        x, offset, y, w = (np.concatenate(p) for p in zip(*parts))
        weights = fit_logistic(x, offset, y, w, args.l2)
        print(f"round {round_index}: {len(x)} rows", file=sys.stderr)
        print("UNARY_WEIGHTS = np.array([" + ", ".join(f"{v:.4f}" for v in weights) + "])", file=sys.stderr)
    for name, value in zip(FEATURE_NAMES, weights):
        print(f"    {value: .4f},  # {name}")


if __name__ == "__main__":
    main()
