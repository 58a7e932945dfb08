"""Segmenters: ``classic`` (weight-free default) and ``sam`` (segment_anything + checkpoint)."""

from __future__ import annotations

import os

from engine.errors import CheckpointError, ExtraMissingError
from engine.segment.base import Segmenter
from engine.segment.classic.segmenter import ClassicSegmenter

BACKENDS = ("classic", "sam")
CHECKPOINT_ENV = "FRAMEWISE_SAM_CHECKPOINT"
SAM_MISSING = "the sam backend needs PyTorch and segment-anything: pip install 'framewise[sam]'"


def require_sam_extra() -> None:
    """Import torch and segment_anything, or raise an `ExtraMissingError` saying how to install them."""
    try:
        import segment_anything  # noqa: F401  (imported to check it is installed)
        import torch  # noqa: F401
    except ImportError as exc:
        raise ExtraMissingError(SAM_MISSING) from exc


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
        return ClassicSegmenter()
    if backend == "sam":
        require_sam_extra()  # before the checkpoint: without the extra, no checkpoint helps
        if not checkpoint:
            raise CheckpointError(
                f"the sam backend needs a checkpoint: pass --checkpoint PATH or set ${CHECKPOINT_ENV}"
            )
        # torch + segment_anything: ~3.2 s to import here (measured), and an optional extra.
        from engine.segment.sam.segmenter import SamSegmenter

        return SamSegmenter.from_checkpoint(checkpoint, device=device)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


__all__ = ["BACKENDS", "CHECKPOINT_ENV", "SAM_MISSING", "Segmenter", "make_segmenter", "require_sam_extra"]
