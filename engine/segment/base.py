"""The Segmenter protocol: an expensive per-frame `prepare`, a cheap per-click `predict`;
and the low-resolution logit layout both backends share (`Prompt.mask_input`,
`Proposal.logits`): `mask_logits` writes it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from engine.types import Embedding, Prompt, Proposal

LOGIT_SIDE = 256
"""Side of SAM's low-resolution logit square: the frame's long side spans it, top-left."""
LOGIT_RANGE = 10.0
"""`mask_logits` maps foreground fraction 1 to +LOGIT_RANGE, 0 to -LOGIT_RANGE."""


def logit_grid(height: int, width: int, side: int = LOGIT_SIDE) -> tuple[int, int]:
    """(h, w) a height×width frame covers in a side×side logit square: long side ``side``, top-left."""
    scale = side / max(height, width)
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def mask_logits(fraction: np.ndarray, *, clip: bool = True) -> np.ndarray:
    """1×256×256 float32 logits of ``fraction`` (an H×W bool mask or float foreground
    fraction map in [0, 1]) in SAM's low-resolution layout (long side 256, top-left, the
    rest background), usable as `Prompt.mask_input` by both backends.

    clip: clamp the area-averaged fractions to [0, 1] first (area averaging can overshoot
        1 by a float32 ulp). The classic segmenter's own logits are written unclamped
        (``clip=False``), as they always were, so its figures stay bit for bit the same.
    """
    import cv2

    fraction = np.asarray(fraction, np.float32)
    grid_h, grid_w = logit_grid(*fraction.shape)
    small = cv2.resize(fraction, (grid_w, grid_h), interpolation=cv2.INTER_AREA)
    if clip:
        small = np.clip(small, 0.0, 1.0)
    logits = np.full((LOGIT_SIDE, LOGIT_SIDE), -LOGIT_RANGE, np.float32)
    logits[:grid_h, :grid_w] = (small - 0.5) * (2 * LOGIT_RANGE)
    return logits[None]


@runtime_checkable
class Segmenter(Protocol):
    """A promptable segmenter.

    ``name`` is the backend (``classic``, ``sam`` or ``sam2``), ``model`` identifies the weights or
    algorithm version, both part of the embedding cache key.
    """

    name: str
    model: str

    def prepare(self, frame: np.ndarray, quality: float) -> Embedding:
        """Do the per-frame work for ``frame`` (H×W×3 uint8 RGB) at ``quality`` in [0.2, 1]."""
        ...

    def predict(self, embedding: Embedding, prompt: Prompt) -> Proposal:
        """Answer one prompt on a prepared frame; fast (tens of milliseconds)."""
        ...
