"""Segmenters: ``classic`` (weight-free default) and ``sam`` (segment_anything + checkpoint)."""

from __future__ import annotations

import os

from engine.errors import CheckpointError
from engine.segment.base import Segmenter

BACKENDS = ("classic", "sam")
CHECKPOINT_ENV = "FRAMEWISE_SAM_CHECKPOINT"


def make_segmenter(
    backend: str | None = None,
    checkpoint: str | None = None,
    device: str | None = None,
) -> Segmenter:
    """Build a segmenter.

    backend: ``classic``, ``sam`` or None (``sam`` when a checkpoint is given or set in
        ``$FRAMEWISE_SAM_CHECKPOINT``, else ``classic``).
    checkpoint: path of a SAM checkpoint (``.pth``); falls back to ``$FRAMEWISE_SAM_CHECKPOINT``.
    device: torch device for SAM (default: CUDA when available).
    """
    checkpoint = checkpoint or os.environ.get(CHECKPOINT_ENV) or None
    if backend is None:
        backend = "sam" if checkpoint else "classic"
    if backend == "classic":
        from engine.segment.classic.segmenter import ClassicSegmenter

        return ClassicSegmenter()
    if backend == "sam":
        if not checkpoint:
            raise CheckpointError(
                f"the sam backend needs a checkpoint: pass --checkpoint PATH or set ${CHECKPOINT_ENV}"
            )
        from engine.segment.sam.segmenter import SamSegmenter

        return SamSegmenter.from_checkpoint(checkpoint, device=device)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "CHECKPOINT_ENV", "Segmenter", "make_segmenter"]
