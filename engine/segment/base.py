"""The Segmenter protocol: an expensive per-frame `prepare`, a cheap per-click `predict`."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from engine.types import Embedding, Prompt, Proposal


@runtime_checkable
class Segmenter(Protocol):
    """A promptable segmenter.

    ``name`` is the backend (``classic`` or ``sam``), ``model`` identifies the weights or
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
