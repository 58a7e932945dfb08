"""Per-click solve on the superpixel graph: learned data term + star-convex graph cut.

Energy over superpixel labels x_s ∈ {fg, bg}, minimised exactly with PyMaxflow:

- data term: a linear model over `classic_features.click_features` gives each region's
  foreground log-odds per pixel; it is multiplied by the region's pixel count;
- smoothness: contrast-sensitive Potts on the shared boundary,
  ``smoothness · length · exp(-β · contrast)`` with β from the frame's mean contrast;
- geodesic star convexity: every foreground region's parent on the shortest-path tree
  from the positive clicks is foreground too, so the object is a union of paths from its
  clicks and cannot jump to a look-alike elsewhere in the frame;
- hard constraints: clicked regions, and regions entirely outside a box.

After the first click the cut only proposes: `classic_accept` decides which of its
changes the newest click really asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.segment.classic import accept as classic_accept
from engine.segment.classic.features import GeodesicMetrics, Seeds, click_features
from engine.segment.classic.graph import RegionGraph

INF = 1e9

# Foreground log-odds per pixel = features · UNARY_WEIGHTS (same order as FEATURE_NAMES),
# fitted by `classic_fit` on click states of held-out davis16-train10 frames (the frames at
# 1/4 and 3/4 of each sequence; the harness scores the first and middle ones, and iseg-dev).
UNARY_WEIGHTS = np.array([
    -6.5384, 0.5293, -0.0253, -0.0106, -0.5546, -0.5400, 0.2016, 0.3874, 0.9039, 0.1858,
    0.7022, -0.0585, 0.1900, 0.2484, 0.1156, 0.6626, 0.4189, 0.3975, -0.0214, -0.2846,
    -0.2215, 0.1127, 0.4297, 0.2001, -1.2153, -0.3048, 0.5598, 0.2786, 0.2806, 0.3814,
])


@dataclass(frozen=True)
class CutParams:
    """Weights of the superpixel energy."""

    # 3.5: the lowest NoC@90 over 140 unscored davis16-train10 frames (docs/BENCHMARKS.md)
    smoothness: float = 3.5
    unary_scale: float = 1.0
    star: bool = True
    local: float = 16.0
    local_sigma: float = 3.0
    local_metric: str = "edge"
    accept: str = "model"  # which changes a correction click keeps: "model", "zone" or "none"
    accept_weights: tuple[float, ...] | None = None  # the model's; None: classic_accept.ACCEPT_WEIGHTS
    zone: float = 3.0
    zone_min: float = 4.0
    colour_from_previous: bool = True
    reach: float = 5.0


@dataclass
class CutResult:
    """The superpixel solution: n bool labels and n float32 data-term log-odds per pixel."""

    foreground: np.ndarray
    logodds: np.ndarray


def make_seeds(graph: RegionGraph, points: np.ndarray, labels: np.ndarray, box: np.ndarray | None) -> Seeds:
    """Map clicks (N×2 working pixels (x, y), N int labels) and a box to superpixels.

    The last click on a region decides its label, so a correction overrides an old click.
    A region counts as outside the box only if its bounding box does not meet the box.
    """
    height, width = graph.labels.shape
    xy = np.clip(np.round(points).astype(np.int64), 0, [width - 1, height - 1]).reshape(-1, 2)
    regions = graph.labels[xy[:, 1], xy[:, 0]]
    last: dict[int, int] = {}
    for region, label in zip(regions.tolist(), np.asarray(labels).tolist()):
        last.pop(region, None)
        last[region] = label
    positive = np.array([r for r, lab in last.items() if lab == 1], np.int64)
    negative = np.array([r for r, lab in last.items() if lab == 0], np.int64)
    outside = None
    if box is not None:
        box = np.clip(np.asarray(box, np.float64), 0, [width, height, width, height])
        bb = graph.bbox
        outside = (bb[:, 2] <= box[0]) | (bb[:, 0] >= box[2]) | (bb[:, 3] <= box[1]) | (bb[:, 1] >= box[3])
        outside[positive] = False
    newest = None
    if len(regions):
        newest = (int(regions[-1]), int(np.asarray(labels)[-1]), float(points[-1][0]), float(points[-1][1]))
    return Seeds(positive, negative, outside, box, newest)


@dataclass
class DataTerm:
    """The per-region data term and what it was made of.

    features: n×F float32 (`FEATURE_NAMES`); offset: n float64 fixed log-odds per pixel
    (the clicks' local votes); logodds: n float64 total foreground log-odds per pixel;
    parent: n int32 star-tree parents.
    """

    features: np.ndarray
    offset: np.ndarray
    logodds: np.ndarray
    parent: np.ndarray


def data_term(
    graph: RegionGraph,
    metrics: GeodesicMetrics,
    seeds: Seeds,
    params: CutParams,
    previous: np.ndarray | None = None,
    weights: np.ndarray = UNARY_WEIGHTS,
) -> DataTerm:
    """Foreground log-odds per pixel of every region: linear model + local click votes.

    Each click votes for its label on the regions geodesically closest to it (edge
    metric), with a weight that decays with that distance: a click claims the region it
    lands in up to the next strong boundary, whatever the colour models say.
    """
    features, parent, near_click = click_features(
        graph, metrics, seeds, previous if params.colour_from_previous else None
    )
    offset = np.zeros(graph.count)
    if params.local > 0:
        d_pos = near_click[params.local_metric + "_pos"]
        d_neg = near_click[params.local_metric + "_neg"]
        vote = np.where(d_pos <= d_neg, 1.0, -1.0)
        offset = params.local * vote * np.exp(-np.minimum(d_pos, d_neg) / params.local_sigma)
    logodds = params.unary_scale * (features.astype(np.float64) @ weights) + offset
    return DataTerm(features, offset, logodds, parent)


def solve(
    graph: RegionGraph,
    metrics: GeodesicMetrics,
    seeds: Seeds,
    params: CutParams,
    previous: np.ndarray | None = None,
    weights: np.ndarray = UNARY_WEIGHTS,
    collect=None,
) -> CutResult:
    """Segment the superpixel graph for the given seeds.

    previous: n float in [0, 1], each region's foreground fraction in the previous pass's
        mask (`Prompt.mask_input`), or None. It seeds the colour models, and of the cut's
        changes only those the newest click asks for are kept, by ``params.accept``: the
        fitted model of `classic_accept` (`accept_by_model`), or the older zone rule
        (`accept_local_changes`, the first rollout of `classic_fit --accept`).
    collect: passed to `accept_by_model` (training rows for `classic_fit`).
    """
    import maxflow

    n = graph.count
    term = data_term(graph, metrics, seeds, params, previous, weights)
    parent = term.parent
    logodds = term.logodds.astype(np.float32)
    data = term.logodds * graph.size

    i, j = graph.edges[:, 0], graph.edges[:, 1]
    beta = 1.0 / (2.0 * max(float(np.average(graph.edge_contrast, weights=graph.edge_length)), 1e-6))
    pairwise = params.smoothness * graph.edge_length * np.exp(-beta * graph.edge_contrast)

    g = maxflow.Graph[float](n, 2 * len(i) + n)
    nodes = g.add_nodes(n)
    g.add_edges(nodes[i], nodes[j], pairwise, pairwise)
    source = np.maximum(data, 0)  # paid when labelled background
    sink = np.maximum(-data, 0)
    source[seeds.positive] = INF
    sink[seeds.negative] = INF
    if seeds.outside_box is not None:
        sink[seeds.outside_box] = INF
    g.add_grid_tedges(nodes, source, sink)
    if params.star and len(seeds.positive):
        child = np.flatnonzero(parent >= 0)
        # A foreground child with a background parent would cut this edge: forbid it.
        g.add_edges(nodes[child], nodes[parent[child]], np.full(len(child), INF), np.zeros(len(child)))
    g.maxflow()
    foreground = ~g.get_grid_segments(nodes)
    if previous is not None and params.accept != "none":
        before = previous > 0.5
        if params.accept == "model" or collect is not None:
            learned = accept_by_model(graph, metrics, before, foreground, term.logodds, seeds, params, collect)
        if params.accept == "model":
            foreground = learned
        else:
            foreground = accept_local_changes(graph, before, foreground, seeds, params)
    return CutResult(foreground, logodds)


def accept_by_model(
    graph: RegionGraph,
    metrics: GeodesicMetrics,
    before: np.ndarray,
    after: np.ndarray,
    logodds: np.ndarray,
    seeds: Seeds,
    params: CutParams,
    collect=None,
) -> np.ndarray:
    """n bool labels: ``before`` (n bool) changed where `classic_accept` accepts the global
    cut's proposal ``after`` (n bool) for the newest click; see that module.

    collect: when given, called with (candidate ids, their features, the click's label)
    — how `classic_fit` gathers training rows.
    """
    if seeds.newest is None or not before.any() or before.all():
        # No previous object (or nothing outside it): nothing to keep, and no boundary to
        # measure a click's depth from; the cut's answer stands, as for a first click.
        return after
    region, label, x, y = seeds.newest
    if before[region] == bool(label):
        return before  # the click's region already has its label: a pixel-level matter
    depth, click_depth = _boundary_depth(graph, before, x, y)
    scale = max(click_depth, params.zone_min)
    cand = classic_accept.candidates(graph, before, seeds.newest, scale)
    features = classic_accept.accept_features(graph, metrics, cand, before, after, logodds, depth, seeds, scale)
    if collect is not None:
        collect(cand, features, label)
    weights = classic_accept.ACCEPT_WEIGHTS if params.accept_weights is None else np.asarray(params.accept_weights)
    return classic_accept.accept(graph, cand, features, before, seeds.newest, weights)


def accept_local_changes(
    graph: RegionGraph, before: np.ndarray, after: np.ndarray, seeds: Seeds, params: CutParams
) -> np.ndarray:
    """Keep only the change the newest click asks for.

    before / after: n bool labels. Of the regions whose label changed, only the connected
    set containing the newest click is accepted, and only its part within the click's
    zone: the regions of the other label at most ``zone × d`` from the old boundary, where
    d is the click's own distance to that boundary. A user clicks in the middle of what
    is wrong, so d is about half the thickness of the wrong strip; this keeps a
    correction from spilling past the edge it should stop at, and keeps distant,
    already-correct parts of the mask as they were. With ``reach`` > 0 the accepted
    regions must also lie within ``reach × d`` of the click itself: a click on a thin
    wrong strip along the mask (a stick, a shadow) then cannot flood a long look-alike
    stretch of the old boundary, which otherwise costs the next clicks to undo.
    """
    changed = before != after
    if not changed.any() or seeds.newest is None:
        return after
    region, label, x, y = seeds.newest
    if not changed[region]:
        return before
    accepted = graph.component(changed, region)
    if params.zone > 0:
        depth, click_depth = _boundary_depth(graph, before, x, y)
        limit = params.zone * max(click_depth, params.zone_min)
        accepted &= depth <= limit
        if params.reach > 0:
            far = np.hypot(graph.centroid[:, 0] - x, graph.centroid[:, 1] - y)
            accepted &= far <= params.reach * max(click_depth, params.zone_min)
        accepted[region] = True
    result = before.copy()
    result[accepted] = after[accepted]
    return result


def _boundary_depth(graph: RegionGraph, labels: np.ndarray, x: float, y: float, stride: int = 2):
    """(n float distance in working pixels from each region's centroid to the boundary of
    ``labels`` (n bool), the same distance at the point (x, y)), on a stride-2 grid."""
    import cv2

    grid = labels[graph.labels[::stride, ::stride]].astype(np.uint8)
    inside = cv2.distanceTransform(grid, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - grid, cv2.DIST_L2, 3)
    depth = (inside + outside) * stride  # one of the two is zero at every cell
    rows, cols = depth.shape
    cy = np.clip((graph.centroid[:, 1] / stride).astype(int), 0, rows - 1)
    cx = np.clip((graph.centroid[:, 0] / stride).astype(int), 0, cols - 1)
    click = depth[min(int(y / stride), rows - 1), min(int(x / stride), cols - 1)]
    return depth[cy, cx], float(click)
