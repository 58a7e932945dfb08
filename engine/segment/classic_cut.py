"""Per-click solve on the superpixel graph: colour models, geodesics, star-convex graph cut.

Energy over superpixel labels x_s ∈ {fg, bg} (minimised with PyMaxflow):

- data term: the superpixel's palette histogram scored by the foreground and background
  colour models (sum of per-pixel negative log-likelihoods), plus a geodesic prior that
  makes regions reachable from a positive click along low-contrast paths cheaper as
  foreground and those close to a negative click / the frame border cheaper as
  background;
- smoothness: contrast-sensitive Potts on the shared boundary (length × exp(-β·contrast));
- geodesic star convexity: every foreground superpixel's parent on the shortest-path tree
  from the positive clicks is foreground too, so the object is a union of low-contrast
  paths from its clicks and cannot jump to a look-alike elsewhere in the frame;
- clicks and the outside of a box are hard constraints.

The colour models start from the geodesic neighbourhoods of the clicks and are re-fitted
to the cut a few times (GrabCut-style).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.segment.classic_graph import RegionGraph

INF = 1e9


@dataclass(frozen=True)
class CutParams:
    """Weights of the superpixel energy (tuned on iseg-dev; see docs in classic.py)."""

    smoothness: float = 6.0
    geodesic_colour: float = 0.15
    geodesic_edge: float = 0.15
    geodesic_hop: float = 1.0
    geodesic_sigma: float = 6.0
    prior_weight: float = 1.0
    border_seed: float = 0.5
    colour_prior: float = 1.0
    iterations: int = 3
    star: bool = True
    colour_weight: float = 1.0
    prior_clip: float = 4.0
    geodesic_power: float = 1.0


@dataclass
class CutResult:
    """The superpixel solution.

    foreground: n bool superpixel labels.
    fg_logprob / bg_logprob: P float32 log colour models (palette) of the last fit.
    confidence: n float32 per-superpixel foreground log-odds of the data term.
    """

    foreground: np.ndarray
    fg_logprob: np.ndarray
    bg_logprob: np.ndarray
    confidence: np.ndarray


def geodesic_weights(graph: RegionGraph, params: CutParams) -> np.ndarray:
    """e float64 edge lengths for geodesic distances: hop + colour step + boundary edge."""
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    colour = np.linalg.norm(graph.mean_lab[i] - graph.mean_lab[j], axis=1)
    edge = np.sqrt(graph.edge_contrast)
    p = params.geodesic_power
    return (
        params.geodesic_hop + params.geodesic_colour * colour**p + params.geodesic_edge * edge**p
    ).astype(np.float64)


def _csr(graph: RegionGraph, weights: np.ndarray):
    from scipy.sparse import csr_matrix

    n = graph.count
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    return csr_matrix(
        (np.concatenate([weights, weights]), (np.concatenate([i, j]), np.concatenate([j, i]))), shape=(n, n)
    )


def _geodesic(csr, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n float64 distance to the nearest seed, n int32 predecessor or -9999)."""
    from scipy.sparse.csgraph import dijkstra

    n = csr.shape[0]
    if len(seeds) == 0:
        return np.full(n, np.inf), np.full(n, -9999, np.int32)
    dist, pred, _ = dijkstra(csr, directed=False, indices=seeds, min_only=True, return_predecessors=True)
    return dist, pred.astype(np.int32)


def _colour_model(hist: np.ndarray, weights: np.ndarray, pseudo: float) -> np.ndarray:
    """P float32 log-probabilities of a palette model fitted to weighted histograms."""
    counts = weights @ hist + pseudo
    return np.log(counts / counts.sum()).astype(np.float32)


def solve(
    graph: RegionGraph,
    positive: np.ndarray,
    negative: np.ndarray,
    outside_box: np.ndarray | None,
    params: CutParams,
) -> CutResult:
    """Segment the superpixel graph for the given seeds.

    positive / negative: int arrays of clicked superpixel ids.
    outside_box: n bool superpixels outside the prompt box (forced background), or None.
    """
    import maxflow

    n = graph.count
    positive = np.unique(np.asarray(positive, np.int64))
    negative = np.unique(np.asarray(negative, np.int64))
    negative = negative[~np.isin(negative, positive)]  # a later click on the same region wins below
    csr = _csr(graph, geodesic_weights(graph, params))
    d_pos, parent = _geodesic(csr, positive)
    bg_seeds = negative
    d_neg, _ = _geodesic(csr, bg_seeds)
    border = graph.border > 0
    if outside_box is not None:
        border = border | outside_box
    d_border, _ = _geodesic(csr, np.flatnonzero(border))
    d_border = d_border + params.border_seed * params.geodesic_sigma
    d_bg = np.minimum(d_neg, d_border)

    sigma = params.geodesic_sigma
    near_fg = np.exp(-np.minimum(d_pos, 1e6) / sigma) if len(positive) else np.zeros(n)
    near_bg = np.exp(-np.minimum(d_bg, 1e6) / sigma)
    # Geodesic prior: log-odds that grows with how much closer a region is to the
    # positive clicks than to the background seeds, per pixel of the region.
    d_pos_c = np.minimum(d_pos, 1e6)
    d_bg_c = np.minimum(d_bg, 1e6)
    prior = np.clip((d_bg_c - d_pos_c) / sigma, -params.prior_clip, params.prior_clip) * params.prior_weight
    if len(positive) == 0:
        # Box only: no click to measure from, so the colour models inside vs outside the
        # box decide (GrabCut's initialisation), without a spatial prior.
        prior = np.zeros(n)
        near_fg = (~outside_box).astype(np.float64) if outside_box is not None else np.zeros(n)

    i, j = graph.edges[:, 0], graph.edges[:, 1]
    beta = 1.0 / (2.0 * max(float(np.average(graph.edge_contrast, weights=graph.edge_length)), 1e-6))
    pairwise = params.smoothness * graph.edge_length * np.exp(-beta * graph.edge_contrast)

    fg_weight = near_fg.copy()
    bg_weight = 1.0 - near_fg
    if outside_box is not None:
        bg_weight = np.where(outside_box, 1.0, bg_weight)
    foreground = np.zeros(n, bool)
    fg_log = bg_log = np.zeros(graph.hist.shape[1], np.float32)
    llr = np.zeros(n, np.float32)
    for _ in range(max(1, params.iterations)):
        fg_log = _colour_model(graph.hist, fg_weight, params.colour_prior)
        bg_log = _colour_model(graph.hist, bg_weight, params.colour_prior)
        llr = (graph.hist @ (fg_log - bg_log)) * params.colour_weight  # sum over the region's pixels
        data = llr + prior * graph.size
        g = maxflow.Graph[float](n, 2 * len(i) + n)
        nodes = g.add_nodes(n)
        g.add_edges(nodes[i], nodes[j], pairwise, pairwise)
        source = np.maximum(data, 0)  # paid when labelled background
        sink = np.maximum(-data, 0)
        source[positive] = INF
        sink[negative] = INF
        if outside_box is not None:
            sink[outside_box & ~np.isin(np.arange(n), positive)] = INF
        g.add_grid_tedges(nodes, source, sink)
        if params.star and len(positive):
            child = np.flatnonzero(parent >= 0)
            # child in fg and parent in bg would cut this edge: forbid it.
            g.add_edges(nodes[child], nodes[parent[child]], np.full(len(child), INF), np.zeros(len(child)))
        g.maxflow()
        foreground = ~g.get_grid_segments(nodes)
        if not foreground.any():
            break
        fg_weight = np.maximum(foreground.astype(np.float64), near_fg)
        bg_weight = np.where(foreground, near_bg * 0.0, 1.0)
        if outside_box is not None:
            bg_weight = np.where(outside_box, 1.0, bg_weight)
    return CutResult(foreground, fg_log, bg_log, llr / np.maximum(graph.size, 1))
