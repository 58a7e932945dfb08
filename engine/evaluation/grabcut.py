"""The reference baseline: plain OpenCV GrabCut driven by clicks.

As described in ``shared/data/README.md``: every prompt reruns GrabCut from scratch for
3 iterations on the full-resolution frame, seeded with

- each click as a definite disc of radius 5 px (foreground for a positive click,
  background for a negative one),
- a probable-foreground disc around each positive click (radius `PROBABLE_RADIUS_FRACTION`
  of the frame's short side),
- everything else probable background (and definite background outside a box, when the
  prompt has one).

It follows the `Segmenter` protocol so the same evaluation loop drives it; it is slow
(seconds per click) and meant only as a yardstick.
"""

from __future__ import annotations

import numpy as np

from engine.errors import PromptError
from engine.types import Embedding, Prompt, Proposal, check_quality

SEED_RADIUS = 5
PROBABLE_RADIUS_FRACTION = 0.15
ITERATIONS = 3


class GrabCutBaseline:
    """OpenCV GrabCut as a (slow) segmenter; ``quality`` is accepted and ignored."""

    name = "grabcut"
    model = f"opencv-grabcut-{ITERATIONS}it"

    def prepare(self, frame: np.ndarray, quality: float) -> Embedding:
        """Keep the frame (H×W×3 uint8 RGB); GrabCut has no per-frame precomputation."""
        check_quality(quality)
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise PromptError(f"a frame must be H×W×3 uint8, got {frame.shape} {frame.dtype}")
        return Embedding(
            backend=self.name,
            model=self.model,
            quality=float(quality),
            frame_size=(frame.shape[0], frame.shape[1]),
            arrays={"frame": np.ascontiguousarray(frame)},
        )

    def seed_mask(self, frame_size: tuple[int, int], prompt: Prompt) -> np.ndarray:
        """H×W uint8 GrabCut mask (cv2.GC_* values) built from the prompt."""
        import cv2

        height, width = frame_size
        mask = np.full((height, width), cv2.GC_PR_BGD, np.uint8)
        if prompt.box is not None:
            x0, y0, x1, y1 = np.round(prompt.box).astype(int).tolist()
            mask[:] = cv2.GC_BGD
            mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = cv2.GC_PR_BGD
        probable_radius = max(SEED_RADIUS + 1, int(round(PROBABLE_RADIUS_FRACTION * min(height, width))))
        for x, y in np.round(prompt.positive).astype(int):
            cv2.circle(mask, (int(x), int(y)), probable_radius, cv2.GC_PR_FGD, -1)
        # Definite seeds last, so that a click always wins over the probable regions.
        for (x, y), label in zip(np.round(prompt.points).astype(int), prompt.labels):
            value = cv2.GC_FGD if label == 1 else cv2.GC_BGD
            cv2.circle(mask, (int(x), int(y)), SEED_RADIUS, value, -1)
        return mask

    def predict(self, embedding: Embedding, prompt: Prompt) -> Proposal:
        """Run GrabCut for this prompt; one candidate, score 1 (GrabCut gives no confidence)."""
        import cv2

        frame = embedding.arrays["frame"]
        height, width = embedding.frame_size
        prompt.check_inside(height, width)
        mask = self.seed_mask((height, width), prompt)
        fg_values = (cv2.GC_FGD, cv2.GC_PR_FGD)
        bg_values = (cv2.GC_BGD, cv2.GC_PR_BGD)
        # GrabCut needs samples of both models; with no background sample (a box covering
        # the frame, discs everywhere) there is nothing to learn, so keep the seeds.
        if np.isin(mask, fg_values).any() and np.isin(mask, bg_values).any():
            bgd_model = np.zeros((1, 65), np.float64)
            fgd_model = np.zeros((1, 65), np.float64)
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            # cv2's stubs miss that rect may be None (it is unused with GC_INIT_WITH_MASK).
            cv2.grabCut(bgr, mask, None, bgd_model, fgd_model, ITERATIONS, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
        result = np.isin(mask, fg_values)
        logits = np.where(result, 1.0, -1.0).astype(np.float32)[None]
        return Proposal.from_masks(result[None], np.ones(1, np.float32), logits)
