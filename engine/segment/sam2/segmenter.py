"""The ``sam2`` backend: SAM 2 / SAM 2.1 clicks with a user checkpoint, at an adjustable quality.

``prepare`` runs the image encoder on the frame stretched to the quality's square
(`engine.segment.sam2.encode`); ``predict`` runs SAM 2's prompt encoder and mask decoder as
`SAM2ImagePredictor.predict` does (points and box as one point list, the box's corners
first; three candidates for a single click; the chosen candidate's logits fed back as the
next click's mask input) and renders only the candidate asked for, only where it can be
positive (`engine.segment.sam.render`: one bilinear step, since SAM 2's logits span the
stretched frame).

Logit layouts: SAM 2's low-resolution logits (4g×4g) cover the whole frame stretched to a
square; the engine's shared layout (`engine.segment.base`) puts the frame's long side on
256 px, top-left, so that a propagated mask (`mask_logits`) can prompt any backend.
`Proposal.logits` are in the shared layout; a mask input is converted back to SAM 2's by
resampling, except when it equals logits this segmenter returned, whose native form is
remembered: feeding back a candidate is then exactly what the predictor does.

Grid handling at quality < 1 is the sam backend's: the decoder runs on the encoder's own
g×g grid with the prompt encoder's continuous positional encoding evaluated there, mask
inputs given at 4g×4g.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch

from engine.errors import PromptError
from engine.segment.base import LOGIT_SIDE, logit_grid
from engine.segment.sam.render import render_mask
from engine.segment.sam.weights import placement
from engine.segment.sam2.checkpoint import load_sam2
from engine.segment.sam2.encode import Sam2ImageEncoder
from engine.types import Embedding, Prompt, Proposal, check_quality

if TYPE_CHECKING:
    from sam2.modeling.sam2_base import SAM2Base

LOGIT_CLAMP = 32.0
"""SAM2ImagePredictor clamps the low-resolution logits it returns to ±32."""
FEATURE_KEYS = ("image_embed", "high_res_0", "high_res_1")



def to_shared_layout(native: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """K×256×256 float32 logits in the shared layout (long side 256, top-left, the rest
    -32) from SAM 2's K×n×n logits over the stretched frame (``frame_size`` = (H, W))."""
    grid_h, grid_w = logit_grid(*frame_size)
    out = np.full((len(native), LOGIT_SIDE, LOGIT_SIDE), -LOGIT_CLAMP, np.float32)
    for k, logits in enumerate(native):
        if logits.shape == (grid_h, grid_w):
            out[k, :grid_h, :grid_w] = logits
        else:
            shrink = grid_h * grid_w < logits.size
            interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
            out[k, :grid_h, :grid_w] = cv2.resize(logits, (grid_w, grid_h), interpolation=interpolation)
    return out


def from_shared_layout(shared: np.ndarray, frame_size: tuple[int, int], side: int) -> np.ndarray:
    """side×side float32 logits over the stretched frame from 1×h×w shared-layout ones
    (the frame's long side spanning the square's, top-left)."""
    grid_h, grid_w = logit_grid(*frame_size, side=shared.shape[-1])
    region = np.ascontiguousarray(shared[0, :grid_h, :grid_w], np.float32)
    if region.shape == (side, side):
        return region
    return cv2.resize(region, (side, side), interpolation=cv2.INTER_LINEAR)


class Sam2Segmenter:
    """Promptable segmentation with a SAM 2 / 2.1 model (`SAM2Base`).

    net: the ``SAM2Base`` module (moved to ``device``, eval mode); `net` is public, so that
        the memory-based propagation can run the same model.
    model_name: identifies the weights, e.g. ``sam2.1_hiera_tiny-01ec64d2``; part of the
        embedding cache key.
    device: torch device; default CUDA when available, else CPU.
    feature_dtype: dtype of the cached features (three levels, 4.2 M values at 1024 px:
        8 MiB as float16, 1.3 MiB at quality 0.6); float16's 1e-3 relative precision is far
        below what moves a mask.
    """

    name = "sam2"

    def __init__(
        self,
        net: SAM2Base,
        model_name: str,
        device: str | torch.device | None = None,
        feature_dtype: str = "float16",
    ) -> None:
        self.device, self.feature_dtype = placement(device, feature_dtype)
        self.net = net.to(self.device).eval()
        self.model = model_name
        self.encoder = Sam2ImageEncoder(self.net)
        self.image_size = self.encoder.image_size
        self._dense_pe: dict[int, torch.Tensor] = {}
        # The last embedding's features as tensors: clicks on one frame reuse them.
        self._features: tuple[np.ndarray, tuple[torch.Tensor, ...]] | None = None
        # The last proposal's logits, shared layout and SAM 2's own (see the module docstring).
        self._returned: tuple[np.ndarray, np.ndarray] | None = None

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike[str], device: str | torch.device | None = None) -> Sam2Segmenter:
        """Load a SAM 2 / 2.1 checkpoint (``{"model": state_dict}``); raises `CheckpointError`."""
        net, _, model_name = load_sam2(path)
        return cls(net, model_name, device)

    def __repr__(self) -> str:
        return f"Sam2Segmenter(model={self.model!r}, device={str(self.device)!r})"

    def autocast(self) -> AbstractContextManager[object]:
        """bfloat16 autocast on CUDA (as SAM 2 is meant to run there), nothing on the CPU."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    # -- per frame ---------------------------------------------------------------------

    def prepare(self, frame: np.ndarray, quality: float) -> Embedding:
        """Encode ``frame`` (H×W×3 uint8 RGB) at ``quality`` in [0.2, 1].

        Embedding arrays: ``image_embed`` 1×256×g×g, ``high_res_0`` 1×32×4g×4g,
        ``high_res_1`` 1×64×2g×2g (float16, or float32), ``original_size`` (H, W) int32,
        ``encoder_side`` (S,) int32; S = 16·g = image_size (1024) at quality 1.
        """
        quality = check_quality(quality)
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise PromptError(f"a frame must be an H×W×3 uint8 RGB array, got {frame.shape} {frame.dtype}")
        side = self.encoder.input_side(quality)
        with self.autocast():
            features = self.encoder(self.encoder.preprocess(frame, side))
        height, width = frame.shape[:2]
        arrays = {key: f.float().cpu().numpy().astype(self.feature_dtype) for key, f in zip(FEATURE_KEYS, features)}
        arrays["original_size"] = np.array([height, width], np.int32)
        arrays["encoder_side"] = np.array([side], np.int32)
        return Embedding(self.name, self.model, quality, (height, width), arrays)

    # -- per click ---------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, embedding: Embedding, prompt: Prompt) -> Proposal:
        """Candidate masks for ``prompt`` on a prepared frame, best first.

        One point alone (no box, no mask input) gives three candidates, as SAM 2 is meant to
        be used; any other prompt one (SAM 2's decoder falls back to its best multimask
        candidate when that one is unstable). Scores are SAM 2's predicted IoU; logits are
        K×256×256 float32 in the shared layout (feed ``logits[k][None]`` back as
        ``mask_input``). Raises `PromptError` for points or boxes outside the frame or a
        malformed mask_input.
        """
        image_embed, high_res_0, high_res_1 = self._unpack(embedding)
        height, width = embedding.frame_size
        prompt.check_inside(height, width)
        grid = image_embed.shape[-1]
        multimask = len(prompt.points) == 1 and prompt.box is None and prompt.mask_input is None
        with self.autocast():
            sparse = self._embed_sparse(prompt, (height, width))
            dense = self._embed_dense(prompt.mask_input, grid, (height, width))
            low_res, iou, _, _ = self.net.sam_mask_decoder(
                image_embeddings=image_embed,
                image_pe=self._dense_positional_encoding(grid),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=multimask,
                repeat_image=False,
                high_res_features=[high_res_0, high_res_1],
            )
        scores = iou[0].float().cpu().numpy()
        order = np.argsort(-scores, kind="stable")
        raw = low_res[0].float().cpu().numpy()[order]  # K×4g×4g, unclamped: what the masks come from
        native = np.clip(raw, -LOGIT_CLAMP, LOGIT_CLAMP)
        logits = to_shared_layout(native, (height, width))
        self._returned = (logits, native)
        side = raw.shape[-1]

        def render(k: int) -> np.ndarray:
            return render_mask(raw[k], (side, side), (height, width), input_per_logit=1.0, threshold=0.0)

        return Proposal(scores[order], logits, (height, width), render)

    # -- helpers -----------------------------------------------------------------------

    def _unpack(self, embedding: Embedding) -> tuple[torch.Tensor, ...]:
        """(image embedding, high-res features ×2) as float32 tensors on the device."""
        if embedding.backend != self.name or embedding.model != self.model:
            raise PromptError(
                f"embedding from {embedding.backend}/{embedding.model} "
                f"given to {self.name}/{self.model}; prepare the frame with this segmenter"
            )
        first = embedding.arrays[FEATURE_KEYS[0]]
        cached = self._features
        if cached is not None and cached[0] is first:
            return cached[1]
        tensors = tuple(
            torch.from_numpy(np.asarray(embedding.arrays[key])).to(self.device, torch.float32) for key in FEATURE_KEYS
        )
        self._features = (first, tensors)
        return tensors

    def _embed_sparse(self, prompt: Prompt, frame_size: tuple[int, int]) -> torch.Tensor:
        """1×T×256 embeddings of the box corners (labels 2, 3) then the points, with the
        predictor's coordinate mapping: x·image_size/W, y·image_size/H."""
        height, width = frame_size

        def to_model(xy: np.ndarray) -> torch.Tensor:
            coords = torch.as_tensor(xy, dtype=torch.float32, device=self.device).clone()
            coords[..., 0] = coords[..., 0] / width
            coords[..., 1] = coords[..., 1] / height
            return coords * self.image_size

        coords: list[torch.Tensor] = []
        labels: list[torch.Tensor] = []
        if prompt.box is not None:
            coords.append(to_model(prompt.box.reshape(1, 2, 2)))
            labels.append(torch.tensor([[2, 3]], dtype=torch.int, device=self.device))
        if len(prompt.points):
            coords.append(to_model(prompt.points[None]))
            labels.append(torch.as_tensor(prompt.labels[None], dtype=torch.int, device=self.device))
        points = (torch.cat(coords, dim=1), torch.cat(labels, dim=1))
        sparse, _ = self.net.sam_prompt_encoder(points=points, boxes=None, masks=None)
        return sparse

    def _embed_dense(self, mask_input: np.ndarray | None, grid: int, frame_size: tuple[int, int]) -> torch.Tensor:
        """1×256×g×g: the "no mask" embedding, or the mask input's (at 4g×4g in SAM 2's layout)."""
        encoder = self.net.sam_prompt_encoder
        if mask_input is None:
            return encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, grid, grid)
        native = self._native_mask_input(mask_input, 4 * grid, frame_size)
        return encoder._embed_masks(torch.from_numpy(native)[None, None].to(self.device))

    def _native_mask_input(self, mask_input: np.ndarray, side: int, frame_size: tuple[int, int]) -> np.ndarray:
        """side×side logits in SAM 2's layout for a shared-layout ``mask_input`` (1×h×w)."""
        logits = np.asarray(mask_input, np.float32)
        if logits.ndim == 2:
            logits = logits[None]
        if logits.ndim != 3 or logits.shape[0] != 1 or min(logits.shape[1:]) < 4 or logits.shape[1] != logits.shape[2]:
            raise PromptError(f"mask_input must be 1×256×256 logits, got shape {logits.shape}")
        if not np.isfinite(logits).all():
            raise PromptError("mask_input holds non-finite values")
        if self._returned is not None:
            shared, native = self._returned
            if native.shape[-1] == side and shared.shape[1:] == logits.shape[1:]:
                for k in range(len(shared)):
                    if np.array_equal(shared[k], logits[0]):
                        return native[k]
        return from_shared_layout(logits, frame_size, side)

    def _dense_positional_encoding(self, grid: int) -> torch.Tensor:
        """1×256×g×g positional encoding of the token grid (``get_dense_pe`` at the model's grid)."""
        if grid not in self._dense_pe:
            encoder = self.net.sam_prompt_encoder
            if (grid, grid) == tuple(encoder.image_embedding_size):
                self._dense_pe[grid] = encoder.get_dense_pe()
            else:
                self._dense_pe[grid] = encoder.pe_layer((grid, grid)).unsqueeze(0)
        return self._dense_pe[grid]
