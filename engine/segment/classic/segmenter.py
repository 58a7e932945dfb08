"""The weight-free default segmenter ("classic" backend).

prepare (per frame, ~0.5–1.5 s on 2 CPU cores):
  the frame is resized to the working resolution (long side ``quality × WORKING_LONG_SIDE``,
  never upscaled), then `classic_graph.build_region_graph` computes SLIC superpixels,
  a colour palette, per-superpixel colour histograms and the superpixel adjacency graph
  with boundary lengths and contrasts. Everything is stored as numpy arrays.

predict (per click, tens of milliseconds):
  clicks and box are mapped to superpixels, `classic_cut.solve` segments the superpixel
  graph (colour models + geodesic prior + contrast-sensitive graph cut with geodesic
  star convexity; after the first click `classic_accept` keeps only the changes the newest
  click asks for), `classic_refine.refine` moves the boundary to pixel precision with a
  small graph cut in a band around it, and the full-resolution mask is rendered lazily.

The working resolution is tied to an absolute size rather than to a fraction of the frame
because the detail a superpixel can resolve is measured in pixels: quality 0.6 keeps an
854×480 frame at full resolution and brings 1920×1080 down to 864 px wide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine.errors import PromptError
from engine.segment.base import logit_grid, mask_logits
from engine.segment.classic.cut import CutParams, make_seeds, solve
from engine.segment.classic.features import GeodesicMetrics
from engine.segment.classic.graph import RegionGraph, build_region_graph
from engine.segment.classic.refine import RefineParams, neighbour_contrast, refine
from engine.types import Embedding, Prompt, Proposal, check_quality

WORKING_LONG_SIDE = 1440
# The refinement for seed points (`ClassicSegmenter.for_seeds`): the settings measured for
# propagation. Held superpixels and a 9×9 square make a tracked point that drifted onto the
# background eat into the object frame after frame (tests/propagation/test_propagate.py: IoU 0.59
# instead of 0.86 after 21 frames), and the wider, smoother band chosen for clicks costs
# propagation 1.2 J&F on davis16-train10 (62.5 against 63.7). The local colour models
# (`classic_refine._local_colour`) were fitted for clicks and are not measured on
# propagation yet: seeds keep the object-wide histograms alone.
SEED_REFINE: dict[str, Any] = {
    "click_region": False, "click_radius": 2, "band": 5, "smoothness": 4.0, "local_weight": 0.0, "colour_weight": 1.0,
}
# The superpixel cut's smoothness for seeds: 3.0, the value propagation was measured with
# (clicks moved to 3.5 later; `eval vos` has not been re-run with it).
SEED_CUT: dict[str, Any] = {"smoothness": 3.0}


def working_size(height: int, width: int, quality: float) -> tuple[int, int]:
    """(h, w) of the working resolution for a ``height``×``width`` frame at ``quality``."""
    quality = check_quality(quality)
    long_side = max(height, width)
    target = min(long_side, int(round(quality * WORKING_LONG_SIDE)))
    scale = target / long_side
    return max(8, int(round(height * scale))), max(8, int(round(width * scale)))


class ClassicSegmenter:
    """Superpixel graph-cut segmenter; see the module docstring."""

    name = "classic"
    model = "classic-v1"

    def __init__(self, params: CutParams | None = None, refine: RefineParams | None = None) -> None:
        self.params = params or CutParams()
        self.refine = refine if refine is not None else RefineParams()
        # Called with each correction click's acceptance rows (`classic_fit --accept`).
        self.collect: Callable[[np.ndarray, np.ndarray, int], None] | None = None
        self._last: tuple[dict, RegionGraph, GeodesicMetrics, tuple[np.ndarray, np.ndarray]] | None = None

    def for_seeds(self) -> ClassicSegmenter:
        """This segmenter for automatic seed points (propagation), which may sit on the
        wrong side of the object: the refinement settings of `SEED_REFINE` (a small square
        held around each point, not its whole superpixel) and the cut settings of
        `SEED_CUT`. Embeddings are shared."""
        import dataclasses

        seeds = ClassicSegmenter(
            dataclasses.replace(self.params, **SEED_CUT), dataclasses.replace(self.refine, **SEED_REFINE)
        )
        seeds.collect = self.collect
        return seeds

    def prepare(self, frame: np.ndarray, quality: float) -> Embedding:
        """Precompute the region graph of ``frame`` (H×W×3 uint8 RGB) at ``quality``."""
        import cv2

        quality = check_quality(quality)
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise PromptError(f"a frame must be an H×W×3 uint8 RGB array, got {frame.shape} {frame.dtype}")
        height, width = frame.shape[:2]
        if height < 8 or width < 8:
            raise PromptError(f"frame {width}×{height} is too small to segment (need ≥ 8×8)")
        work_h, work_w = working_size(height, width, quality)
        work = frame if (work_h, work_w) == (height, width) else cv2.resize(
            frame, (work_w, work_h), interpolation=cv2.INTER_AREA
        )
        graph = build_region_graph(np.ascontiguousarray(work))
        metrics = GeodesicMetrics(graph)
        arrays = graph.to_arrays()
        arrays["border_edge"] = metrics.edge_border
        arrays["border_colour"] = metrics.colour_border
        return Embedding(
            backend=self.name,
            model=self.model,
            quality=quality,
            frame_size=(height, width),
            arrays=arrays,
            meta={"working_height": work_h, "working_width": work_w, "superpixels": graph.count},
        )

    def _graph(self, embedding: Embedding) -> tuple[RegionGraph, GeodesicMetrics, tuple[np.ndarray, np.ndarray]]:
        """The region graph, geodesic metrics and pixel contrasts (`neighbour_contrast`)
        of ``embedding``, kept for the last one: the clicks on a frame come one after
        another on the same embedding."""
        cached = self._last
        if cached is not None and cached[0] is embedding.arrays:
            return cached[1], cached[2], cached[3]
        graph = RegionGraph.from_arrays(embedding.arrays)
        metrics = GeodesicMetrics(graph, (embedding.arrays["border_edge"], embedding.arrays["border_colour"]))
        contrast = neighbour_contrast(graph.lab)
        self._last = (embedding.arrays, graph, metrics, contrast)
        return graph, metrics, contrast

    def predict(self, embedding: Embedding, prompt: Prompt) -> Proposal:
        """Segment ``prompt`` on a prepared frame; one candidate mask, best first."""
        if embedding.backend != self.name or embedding.model != self.model:
            raise PromptError(
                f"embedding was made by {embedding.backend}/{embedding.model}, not {self.name}/{self.model}"
            )
        if not isinstance(prompt, Prompt):
            raise PromptError(f"expected a Prompt, got {type(prompt).__name__}")
        height, width = embedding.frame_size
        prompt.check_inside(height, width)
        graph, metrics, contrast = self._graph(embedding)
        work_h, work_w = graph.labels.shape
        work_prompt = prompt.scaled(work_w / width, work_h / height)
        seeds = make_seeds(graph, work_prompt.points, work_prompt.labels, work_prompt.box)
        box = seeds.box
        if len(seeds.positive) == 0 and box is None:
            foreground = np.zeros(graph.count, bool)
            confidence = np.full(graph.count, -1.0, np.float32)
        else:
            previous = superpixel_fractions(prompt.mask_input, graph.labels, graph.count)
            result = solve(graph, metrics, seeds, self.params, previous, collect=self.collect)
            foreground, confidence = result.foreground, result.logodds
        work_mask = foreground[graph.labels]
        if self.refine.band > 0 and foreground.any():
            work_mask = refine(
                work_mask, graph.labels, graph.lab, graph.colour_index, graph.palette.shape[0],
                work_prompt.points, work_prompt.labels, box, self.refine, contrast,
            )
        if box is not None:
            x0, y0, x1, y1 = np.round(box).astype(int).tolist()
            clip = np.zeros_like(work_mask)
            clip[y0:y1, x0:x1] = True
            work_mask &= clip
        score = _score(foreground, confidence)
        logits = mask_logits(work_mask, clip=False)

        def render(k: int) -> np.ndarray:
            return _upscale(work_mask, (height, width))

        return Proposal(np.array([score], np.float32), logits, (height, width), render)


def _score(foreground: np.ndarray, logodds: np.ndarray) -> float:
    """A confidence in [0, 1]: how decided the data term is on the chosen regions."""
    if not foreground.any():
        return 0.0
    return float(np.clip(1.0 / (1.0 + np.exp(-np.mean(logodds[foreground]))), 0.0, 1.0))


def superpixel_fractions(mask_input: np.ndarray | None, labels: np.ndarray, count: int) -> np.ndarray | None:
    """n float in [0, 1]: each superpixel's foreground fraction in ``mask_input``.

    mask_input: 1×S×S (or S×S) logits in SAM's layout (long side across, top-left), as
        `engine.segment.base.mask_logits` writes them; any S works. None gives None.
    """
    import cv2

    if mask_input is None:
        return None
    grid = np.asarray(mask_input, np.float32)
    if grid.ndim == 3 and grid.shape[0] == 1:
        grid = grid[0]
    if grid.ndim != 2 or grid.shape[0] != grid.shape[1] or grid.shape[0] < 4 or not np.isfinite(grid).all():
        raise PromptError(f"mask_input must be 1×S×S finite logits, got shape {grid.shape}")
    height, width = labels.shape
    grid_h, grid_w = logit_grid(height, width, grid.shape[0])
    # Back to the working resolution: a per-pixel foreground indicator, averaged per region.
    up = cv2.resize(grid[:grid_h, :grid_w], (width, height), interpolation=cv2.INTER_LINEAR) > 0
    fraction = np.bincount(labels.ravel(), up.ravel().astype(np.float32), count)
    return fraction / np.maximum(np.bincount(labels.ravel(), minlength=count), 1)


def _upscale(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H×W bool: ``mask`` (h×w bool) resized with a linear ramp so edges stay smooth."""
    import cv2

    height, width = size
    if mask.shape == (height, width):
        return mask
    up = cv2.resize(mask.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR)
    return up > 127
