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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.segment.classic_features import FEATURE_NAMES, GeodesicMetrics, Seeds, click_features
from engine.segment.classic_graph import RegionGraph

INF = 1e9

# Foreground log-odds per pixel = features · UNARY_WEIGHTS (same order as FEATURE_NAMES),
# fitted by `classic_fit` on click states of iseg-dev.
UNARY_WEIGHTS = np.array([-7.0158, 0.0967, -0.1614, 0.0330, -0.2582, -0.0637, 0.3268, 0.5614, 0.8779, 0.2347, 0.5511, 0.7472, -0.0199, -0.7671, 0.1648, 0.8235, 0.5704, 0.3913, -0.1791, -0.0199, -1.0829, 0.0246, 0.5137, 0.0953, -0.2176, -0.2846, 0.2417, 1.1094, 1.4698, -0.0339])


@dataclass(frozen=True)
class CutParams:
    """Weights of the superpixel energy."""

    smoothness: float = 3.0
    unary_scale: float = 1.0
    star: bool = True
    stability: float = 0.0
    stability_sigma: float = 1.0
    stability_metric: str = "edge"
    local: float = 0.0
    local_sigma: float = 1.0
    local_metric: str = "edge"
    accept_local: bool = True
    colour_from_previous: bool = True


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
    return Seeds(positive, negative, outside, box)


def solve(
    graph: RegionGraph,
    metrics: GeodesicMetrics,
    seeds: Seeds,
    params: CutParams,
    previous: np.ndarray | None = None,
    weights: np.ndarray = UNARY_WEIGHTS,
) -> CutResult:
    """Segment the superpixel graph for the given seeds.

    previous: n float in [0, 1], each region's foreground fraction in the previous pass's
        mask (`Prompt.mask_input`), or None. Away from the clicks the solution then keeps
        the previous labels, so that a correction stays local.
    """
    import maxflow

    n = graph.count
    features, parent, near_click = click_features(graph, metrics, seeds, previous if params.colour_from_previous else None)
    logodds = (features.astype(np.float64) @ weights).astype(np.float32)
    data = params.unary_scale * logodds.astype(np.float64)
    if params.local > 0:
        d_pos = near_click[params.local_metric + "_pos"]
        d_neg = near_click[params.local_metric + "_neg"]
        vote = np.where(d_pos <= d_neg, 1.0, -1.0)
        data = data + params.local * vote * np.exp(-np.minimum(d_pos, d_neg) / params.local_sigma)
    if previous is not None and params.stability > 0:
        keep = 1.0 - np.exp(-near_click[params.stability_metric] / params.stability_sigma)
        data = data + params.stability * keep * (2.0 * previous - 1.0)
    data = data * graph.size

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
    if previous is not None and params.accept_local:
        foreground = accept_local_changes(graph, previous > 0.5, foreground, seeds)
    return CutResult(foreground, logodds)


def accept_local_changes(graph: RegionGraph, before: np.ndarray, after: np.ndarray, seeds: Seeds) -> np.ndarray:
    """Keep only the changes connected to a click.

    before / after: n bool labels. A connected set of regions whose label changed is
    accepted only if it contains a clicked region; elsewhere ``before`` stays, so a click
    edits the region it lands in and a colour model refitted for it cannot flip distant,
    already-correct parts of the mask.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    changed = before != after
    if not changed.any():
        return after
    i, j = graph.edges[:, 0], graph.edges[:, 1]
    both = changed[i] & changed[j]
    n = graph.count
    adjacency = coo_matrix((np.ones(int(both.sum()), np.int8), (i[both], j[both])), shape=(n, n))
    _, component = connected_components(adjacency, directed=False)
    clicked = np.concatenate([seeds.positive, seeds.negative]).astype(np.int64)
    accepted = np.isin(component, component[clicked[changed[clicked]]]) & changed
    result = before.copy()
    result[accepted] = after[accepted]
    return result
