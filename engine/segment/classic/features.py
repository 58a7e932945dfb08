"""Per-click superpixel features: what the clicks say about each region.

For every superpixel, given the positive / negative clicks (and box), `click_features`
describes how it relates to them: geodesic distances along two metrics (boundary
contrast and colour change) to the nearest positive click, negative click and frame
border or box outside, plain image distances, colour likelihood ratios from palette models
fitted around the seeds, and colour similarity to the clicked regions. A linear model
(`classic_cut.UNARY_WEIGHTS`, fitted by `classic_fit` on held-out davis16-train10 frames) turns them into the
graph cut's data term.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from engine.segment.classic.graph import RegionGraph

FAR = 1e4
# Colour-geodesic distance (`GeodesicMetrics.colour` units) over which a click takes its
# colour out of the other label's previous-mask colour model.
CLICK_COLOUR_SIGMA = 3.0

FEATURE_NAMES = (
    "bias",
    "edge_pos",
    "edge_neg",
    "edge_border",
    "edge_neg_minus_pos",
    "edge_border_minus_pos",
    "colour_pos",
    "colour_neg",
    "colour_border",
    "colour_neg_minus_pos",
    "colour_border_minus_pos",
    "image_pos",
    "image_neg",
    "image_neg_minus_pos",
    "llr_near",
    "llr_broad",
    "lab_pos",
    "lab_neg",
    "lab_neg_minus_pos",
    "has_negative",
    "has_positive",
    "in_box",
    "box_depth",
    "on_border",
    "lik_pos",
    "lik_neg",
    "lik_border",
    "lik_vote",
    "lik_near_pos",
    "lik_near_bg",
)


@dataclass
class Seeds:
    """Superpixel ids of the clicks and, with a box, the regions outside it.

    positive / negative: int64 ids (unique, disjoint).
    outside_box: n bool, or None without a box.
    box: 4 float (x0, y0, x1, y1) in working pixels, or None.
    newest: the last click as (region, label, x, y), or None without clicks.
    """

    positive: np.ndarray
    negative: np.ndarray
    outside_box: np.ndarray | None
    box: np.ndarray | None
    newest: tuple[int, int, float, float] | None = None


class GeodesicMetrics:
    """The two superpixel-graph metrics, built once per embedding and reused per click."""

    def __init__(self, graph: RegionGraph, border: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """border: the (edge, colour) distances to the frame border when already known."""
        from scipy.sparse import csr_matrix

        n = graph.count
        i, j = graph.edges[:, 0], graph.edges[:, 1]
        # A small hop cost keeps distances finite in flat areas; the steps dominate.
        edge_cost = 0.05 + np.sqrt(graph.edge_contrast) / 10.0
        colour_cost = 0.05 + np.linalg.norm(graph.mean_lab[i] - graph.mean_lab[j], axis=1) / 10.0
        rows, cols = np.concatenate([i, j]), np.concatenate([j, i])
        # float64, the dtype scipy's dijkstra works in, so that it does not copy per call.
        self.edge = csr_matrix((np.concatenate([edge_cost, edge_cost]).astype(np.float64), (rows, cols)), shape=(n, n))
        self.colour = csr_matrix(
            (np.concatenate([colour_cost, colour_cost]).astype(np.float64), (rows, cols)), shape=(n, n)
        )
        # Single-source distances per (metric, region), kept for the clicks to come.
        self._from_region: dict[tuple[str, int], np.ndarray] = {}
        if border is None:
            seeds = np.flatnonzero(graph.border > 0)
            border = (self.distance(self.edge, seeds)[0], self.distance(self.colour, seeds)[0])
        self.edge_border, self.colour_border = border
        self._pattern = (rows, cols, n)
        self._edges = (i, j, edge_cost, colour_cost)

    def from_clicks(self, metric: str, regions: np.ndarray) -> np.ndarray:
        """n float64 distance along ``metric`` ("edge" or "colour") to the nearest of
        ``regions`` (int ids; FAR everywhere if empty).

        The minimum of single-source distances, each computed once per embedding: a click
        adds one search per metric instead of all clicks being searched again.
        """
        n = self._pattern[2]
        if len(regions) == 0:
            return np.full(n, FAR)
        csr = self.edge if metric == "edge" else self.colour
        found = []
        for region in np.asarray(regions).tolist():
            key = (metric, region)
            if key not in self._from_region:
                self._from_region[key] = self.distance(csr, np.array([region]))[0]
            found.append(self._from_region[key])
        return np.minimum.reduce(found)

    def within(self, regions: np.ndarray):
        """(edge csr, colour csr) of the subgraph induced by ``regions`` (c int ids), its
        nodes numbered as in ``regions``: for geodesics that may not leave them."""
        from scipy.sparse import csr_matrix

        i, j, edge_cost, colour_cost = self._edges
        index = np.full(self._pattern[2], -1, np.int64)
        index[regions] = np.arange(len(regions))
        a, b = index[i], index[j]
        inside = (a >= 0) & (b >= 0)
        rows = np.concatenate([a[inside], b[inside]])
        cols = np.concatenate([b[inside], a[inside]])
        shape = (len(regions), len(regions))
        return tuple(
            csr_matrix((np.concatenate([cost[inside], cost[inside]]), (rows, cols)), shape=shape)
            for cost in (edge_cost, colour_cost)
        )

    def with_costs(self, costs: np.ndarray):
        """A csr graph on the same adjacency with per-edge ``costs`` (e float)."""
        from scipy.sparse import csr_matrix

        rows, cols, n = self._pattern
        return csr_matrix((np.concatenate([costs, costs]).astype(np.float64), (rows, cols)), shape=(n, n))

    @overload
    @staticmethod
    def distance(csr, seeds: np.ndarray, parents: Literal[False] = False) -> tuple[np.ndarray, None]: ...

    @overload
    @staticmethod
    def distance(csr, seeds: np.ndarray, parents: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...

    @staticmethod
    def distance(csr, seeds: np.ndarray, parents: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """(n float64 distance to the nearest seed (FAR if none), n int32 parent or None).

        csr: a symmetric cost matrix (every graph here holds both directions of each
        edge), so it is searched as directed: the same paths, without scipy building the
        transpose on every call.
        """
        from scipy.sparse.csgraph import dijkstra

        n = csr.shape[0]
        if len(seeds) == 0:
            return np.full(n, FAR), (np.full(n, -9999, np.int32) if parents else None)
        if parents:
            dist, pred, _ = dijkstra(csr, directed=True, indices=seeds, min_only=True, return_predecessors=True)
            return np.minimum(dist, FAR), pred.astype(np.int32)
        dist = dijkstra(csr, directed=True, indices=seeds, min_only=True)
        return np.minimum(dist, FAR), None


def _colour_llr(graph: RegionGraph, fg_weight: np.ndarray, bg_weight: np.ndarray) -> np.ndarray:
    """n float32 mean per-pixel log-likelihood ratio of palette models fitted to weights."""
    fg = fg_weight @ graph.hist + 1.0
    bg = bg_weight @ graph.hist + 1.0
    log_ratio = np.log(fg / fg.sum()) - np.log(bg / bg.sum())
    return np.clip((graph.hist @ log_ratio) / graph.size, -8, 8).astype(np.float32)


def click_features(
    graph: RegionGraph, metrics: GeodesicMetrics, seeds: Seeds, previous: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """(n×F float32 features in `FEATURE_NAMES` order, n int32 star-tree parent ids,
    distances to the nearest click of either label per metric).

    previous: n float in [0, 1], each region's foreground fraction in the previous mask,
    or None; when given it seeds the colour models.
    The parent array is the shortest-path tree from the positive clicks along the colour
    posterior metric (-9999 for roots and unreachable regions), used for geodesic star
    convexity.
    """
    n = graph.count
    pos, neg = seeds.positive, seeds.negative
    edge_pos = metrics.from_clicks("edge", pos)
    edge_neg = metrics.from_clicks("edge", neg)
    colour_pos = metrics.from_clicks("colour", pos)
    colour_neg = metrics.from_clicks("colour", neg)
    if seeds.outside_box is not None:
        outside = np.flatnonzero(seeds.outside_box | (graph.border > 0))
        edge_border, _ = metrics.distance(metrics.edge, outside)
        colour_border, _ = metrics.distance(metrics.colour, outside)
    else:
        edge_border, colour_border = metrics.edge_border, metrics.colour_border

    height, width = graph.labels.shape
    diag = float(np.hypot(height, width))
    # Without clicks of a kind, distances saturate at a value past any real one.
    image_pos = _nearest(graph.centroid, graph.centroid[pos], 1.5 * diag) / diag
    image_neg = _nearest(graph.centroid, graph.centroid[neg], 1.5 * diag) / diag

    # Colour models: "near" from the close geodesic neighbourhood of the positive clicks,
    # "broad" from everything reachable before the border; background from the border,
    # the negative clicks' neighbourhoods and the outside of a box.
    near_fg = np.exp(-edge_pos / 1.0)
    broad_fg = np.exp(-edge_pos / 4.0) * (1 - np.exp(-edge_border / 2.0))
    near_bg = np.maximum(np.exp(-edge_neg / 1.0), np.exp(-edge_border / 1.0))
    if seeds.outside_box is not None:
        near_bg = np.maximum(near_bg, seeds.outside_box.astype(np.float64))
        if len(pos) == 0:
            inside = (~seeds.outside_box).astype(np.float64)
            near_fg = broad_fg = inside * (1 - np.exp(-edge_border / 2.0))
    broad_bg = np.maximum(near_bg, 1 - broad_fg)
    if previous is not None:
        # The previous mask is the best sample of both colour models (GrabCut's
        # iteration, carried across clicks); it keeps them from swinging on one click.
        # What a click says overrides it: the previous object's regions of the colour a
        # negative click sits on (colour-geodesically near it) leave the object model,
        # and likewise for positive clicks and the background model.
        keep_fg = 1 - np.exp(-colour_neg / CLICK_COLOUR_SIGMA)
        keep_bg = 1 - np.exp(-colour_pos / CLICK_COLOUR_SIGMA)
        near_fg = np.maximum(near_fg * (1 - np.exp(-edge_neg / 1.0)), previous * keep_fg)
        near_bg = np.maximum(near_bg * (1 - np.exp(-edge_pos / 1.0)), (1 - previous) * keep_bg)
        broad_fg, broad_bg = near_fg, near_bg
    llr_near = _colour_llr(graph, near_fg, near_bg)
    llr_broad = _colour_llr(graph, broad_fg, broad_bg)

    lab_pos = _nearest(graph.mean_lab, graph.mean_lab[pos], 150.0) / 50.0
    lab_neg = _nearest(graph.mean_lab, graph.mean_lab[neg], 150.0) / 50.0

    in_box = np.ones(n)
    box_depth = np.zeros(n)
    if seeds.box is not None:
        x0, y0, x1, y1 = seeds.box
        cx, cy = graph.centroid[:, 0], graph.centroid[:, 1]
        in_box = ((cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)).astype(np.float64)
        depth = np.minimum.reduce([cx - x0, x1 - cx, cy - y0, y1 - cy]) / max(min(x1 - x0, y1 - y0) / 2, 1.0)
        box_depth = np.clip(depth, -1, 1)

    # Geodesics on the colour posterior (Bai & Sapiro): paths inside regions of one
    # colour class are free, crossing between classes costs the posterior change.
    posterior = 1.0 / (1.0 + np.exp(-llr_near.astype(np.float64)))
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    lik_cost = 0.02 + np.abs(posterior[i] - posterior[j])
    lik = metrics.with_costs(lik_cost)
    lik_pos, parent = metrics.distance(lik, pos, parents=True)
    lik_neg, _ = metrics.distance(lik, neg)
    border_ids = np.flatnonzero((graph.border > 0) | (seeds.outside_box if seeds.outside_box is not None else False))
    lik_border, _ = metrics.distance(lik, border_ids)
    lik_bg = np.minimum(lik_neg, lik_border + 0.5)
    lik_vote = np.clip(lik_bg - lik_pos, -2, 2)

    logd = np.log1p
    features = np.stack(
        [
            np.ones(n),
            logd(edge_pos),
            logd(edge_neg),
            logd(edge_border),
            logd(edge_neg) - logd(edge_pos),
            logd(edge_border) - logd(edge_pos),
            logd(colour_pos),
            logd(colour_neg),
            logd(colour_border),
            logd(colour_neg) - logd(colour_pos),
            logd(colour_border) - logd(colour_pos),
            image_pos,
            image_neg,
            image_neg - image_pos,
            llr_near,
            llr_broad,
            lab_pos,
            lab_neg,
            lab_neg - lab_pos,
            np.full(n, float(len(neg) > 0)),
            np.full(n, float(len(pos) > 0)),
            in_box,
            box_depth,
            (graph.border > 0).astype(np.float64),
            np.minimum(lik_pos, 5),
            np.minimum(lik_neg, 5),
            np.minimum(lik_border, 5),
            lik_vote,
            np.exp(-lik_pos / 0.3),
            np.exp(-lik_bg / 0.3),
        ],
        axis=1,
    ).astype(np.float32)
    near_click = {
        "edge_pos": edge_pos,
        "edge_neg": edge_neg,
        "colour_pos": colour_pos,
        "colour_neg": colour_neg,
        "edge": np.minimum(edge_pos, edge_neg),
        "likelihood": np.minimum(lik_pos, lik_neg),
        "image": np.minimum(image_pos, image_neg),
    }
    return features, parent, near_click


def _nearest(points: np.ndarray, targets: np.ndarray, far: float) -> np.ndarray:
    """n float64 Euclidean distance from each row of ``points`` (n×D) to the nearest of
    ``targets`` (k×D), or ``far`` for every row when there is no target."""
    if len(targets) == 0:
        return np.full(len(points), far)
    diff = np.asarray(points, np.float64)[:, None, :] - np.asarray(targets, np.float64)[None, :, :]
    return np.sqrt(np.einsum("nkd,nkd->nk", diff, diff).min(axis=1))
