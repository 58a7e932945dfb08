"""Segmenters: ``classic`` (weight-free default), ``sam`` (segment_anything + checkpoint) and
``sam2`` (SAM 2 / 2.1, the sam2 package + checkpoint)."""

from __future__ import annotations

import os

from engine.errors import CheckpointError, ExtraMissingError
from engine.segment.base import Segmenter
from engine.segment.classic.segmenter import ClassicSegmenter

BACKENDS = ("classic", "sam", "sam2")
CHECKPOINT_ENV = "FRAMEWISE_SAM_CHECKPOINT"
SAM2_CHECKPOINT_ENV = "FRAMEWISE_SAM2_CHECKPOINT"
SAM_MISSING = "the sam backend needs PyTorch and segment-anything: pip install 'framewise[sam]'"
SAM2_MISSING = "the sam2 backend needs PyTorch and SAM 2: pip install 'framewise[sam2]' (see the README)"


def require_sam_extra() -> None:
    """Import torch and segment_anything, or raise an `ExtraMissingError` saying how to install them."""
    try:
        import segment_anything  # noqa: F401  (imported to check it is installed)
        import torch  # noqa: F401
    except ImportError as exc:
        raise ExtraMissingError(SAM_MISSING) from exc


def require_sam2_extra() -> None:
    """Import torch and sam2, or raise an `ExtraMissingError` saying how to install them."""
    try:
        import sam2  # noqa: F401  (imported to check it is installed)
        import torch  # noqa: F401
    except ImportError as exc:
        raise ExtraMissingError(SAM2_MISSING) from exc


def make_segmenter(
    backend: str | None = None,
    checkpoint: str | None = None,
    device: str | None = None,
) -> Segmenter:
    """Build a segmenter.

    backend: ``classic``, ``sam``, ``sam2`` or None (``sam`` when a checkpoint is given or
        set in ``$FRAMEWISE_SAM_CHECKPOINT``, else ``sam2`` when ``$FRAMEWISE_SAM2_CHECKPOINT``
        is set, else ``classic``).
    checkpoint: path of a SAM (``.pth``) or SAM 2 (``.pt``) checkpoint; falls back to
        ``$FRAMEWISE_SAM_CHECKPOINT`` for sam, ``$FRAMEWISE_SAM2_CHECKPOINT`` for sam2.
    device: torch device for SAM / SAM 2 (default: CUDA when available).
    """
    sam_checkpoint = checkpoint or os.environ.get(CHECKPOINT_ENV) or None
    sam2_checkpoint = checkpoint or os.environ.get(SAM2_CHECKPOINT_ENV) or None
    if backend is None:
        backend = "sam" if sam_checkpoint else "sam2" if sam2_checkpoint else "classic"
    if backend == "classic":
        return ClassicSegmenter()
    if backend == "sam":
        require_sam_extra()  # before the checkpoint: without the extra, no checkpoint helps
        if not sam_checkpoint:
            raise CheckpointError(
                f"the sam backend needs a checkpoint: pass --checkpoint PATH or set ${CHECKPOINT_ENV}"
            )
        # torch + segment_anything: ~3.2 s to import here (measured), and an optional extra.
        from engine.segment.sam.segmenter import SamSegmenter

        return SamSegmenter.from_checkpoint(sam_checkpoint, device=device)
    if backend == "sam2":
        require_sam2_extra()
        if not sam2_checkpoint:
            raise CheckpointError(
                f"the sam2 backend needs a SAM 2 checkpoint: pass --checkpoint PATH or set ${SAM2_CHECKPOINT_ENV}"
            )
        from engine.segment.sam2.segmenter import Sam2Segmenter

        return Sam2Segmenter.from_checkpoint(sam2_checkpoint, device=device)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")

__all__ = [
    "BACKENDS", "CHECKPOINT_ENV", "SAM2_CHECKPOINT_ENV", "SAM2_MISSING", "SAM_MISSING", "Segmenter", "make_segmenter",
    "require_sam2_extra", "require_sam_extra",
]
