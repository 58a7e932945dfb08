"""The weight-free default segmenter ("classic" backend).

prepare (per frame, ~0.5–1.5 s on 2 CPU cores):
  the frame is resized to the working resolution (long side ``quality × WORKING_LONG_SIDE``,
  never upscaled), then `classic_graph.build_region_graph` computes SLIC superpixels,
  a colour palette, per-superpixel colour histograms and the superpixel adjacency graph
  with boundary lengths and contrasts. Everything is stored as numpy arrays.

predict (per click, tens of milliseconds):
  clicks and box are mapped to superpixels, `classic_cut.solve` segments the superpixel
  graph (colour models + geodesic prior + contrast-sensitive graph cut with geodesic
  star convexity), `classic_refine.refine` moves the boundary to pixel precision with a
  small graph cut in a band around it, and the full-resolution mask is rendered lazily.

The working resolution is tied to an absolute size rather than to a fraction of the frame
because the detail a superpixel can resolve is measured in pixels: quality 0.6 keeps an
854×480 frame at full resolution and brings 1920×1080 down to 864 px wide.
"""

from __future__ import annotations

import numpy as np

from engine.errors import PromptError
from engine.segment.classic_cut import CutParams, solve
from engine.segment.classic_graph import RegionGraph, build_region_graph
from engine.types import Embedding, Prompt, Proposal, check_quality

WORKING_LONG_SIDE = 1440
LOGIT_STRIDE = 4


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

    def __init__(self, params: CutParams | None = None) -> None:
        self.params = params or CutParams()

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
        return Embedding(
            backend=self.name,
            model=self.model,
            quality=quality,
            frame_size=(height, width),
            arrays=graph.to_arrays(),
            meta={"working_height": work_h, "working_width": work_w, "superpixels": graph.count},
        )

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
        graph = RegionGraph.from_arrays(embedding.arrays)
        work_h, work_w = graph.labels.shape
        work_prompt = prompt.scaled(work_w / width, work_h / height)
        points = np.clip(np.round(work_prompt.points).astype(np.int64), 0, [work_w - 1, work_h - 1])
        clicked = graph.labels[points[:, 1], points[:, 0]]
        # The last click on a region decides its label (a correction overrides an old click).
        last = {}
        for region, label in zip(clicked.tolist(), work_prompt.labels.tolist()):
            last[region] = label
        positive = np.array([r for r, lab in last.items() if lab == 1], np.int64)
        negative = np.array([r for r, lab in last.items() if lab == 0], np.int64)
        box = None
        outside = None
        if work_prompt.box is not None:
            box = np.clip(work_prompt.box, 0, [work_w, work_h, work_w, work_h])
            bb = graph.bbox
            outside = (bb[:, 2] <= box[0]) | (bb[:, 0] >= box[2]) | (bb[:, 3] <= box[1]) | (bb[:, 1] >= box[3])
        if len(positive) == 0 and box is None:
            foreground = np.zeros(graph.count, bool)
            confidence = np.full(graph.count, -1.0, np.float32)
        else:
            result = solve(graph, positive, negative, outside, self.params)
            foreground, confidence = result.foreground, result.confidence
        work_mask = foreground[graph.labels]
        if box is not None:
            x0, y0, x1, y1 = np.round(box).astype(int).tolist()
            clip = np.zeros_like(work_mask)
            clip[y0:y1, x0:x1] = True
            work_mask &= clip
        score = np.float32(np.clip(0.5 + 0.1 * np.abs(confidence[foreground]).mean(), 0, 1)) if foreground.any() else np.float32(0)
        logits = np.clip(confidence, -20, 20)[graph.labels[::LOGIT_STRIDE, ::LOGIT_STRIDE]]
        logits = np.where(work_mask[::LOGIT_STRIDE, ::LOGIT_STRIDE], np.abs(logits) + 0.1, -np.abs(logits) - 0.1)

        def render(k: int) -> np.ndarray:
            return _upscale(work_mask, (height, width))

        return Proposal(np.array([score], np.float32), logits[None].astype(np.float32), (height, width), render)


def _upscale(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H×W bool: ``mask`` (h×w bool) resized with a linear ramp so edges stay smooth."""
    import cv2

    height, width = size
    if mask.shape == (height, width):
        return mask
    up = cv2.resize(mask.astype(np.uint8) * 255, (width, height), interpolation=cv2.INTER_LINEAR)
    return up > 127
