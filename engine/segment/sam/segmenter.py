"""The ``sam`` backend: segment_anything with a user checkpoint, at an adjustable quality.

``prepare`` runs the image encoder at the quality's input size (`sam_encode`); ``predict``
runs the prompt encoder and the mask decoder (`sam_decode`: SAM's decoder with fewer
copies and per-frame caching, same results) on that embedding, and renders only the
candidate that is asked for, only where it is non-empty (`sam_render`).

Grid handling: at quality < 1 the decoder runs on the encoder's own g×g grid rather than on
features upsampled to 64×64. The decoder is a transformer with a positional encoding that
is a continuous function of position (`PositionEmbeddingRandom`), so a dense encoding for a
g×g grid and prompts normalised by the S px square describe the same places as at 1024 px;
its upscaling is convolutional and size-agnostic; mask inputs go through a stride-4 conv
stack, so they are given at 4g×4g. Upsampled features would be smooth, off-distribution
inputs adding no detail, and would keep the click at full-grid cost; on the native grid a
click gets cheaper with the quality, as the encoder does.
"""

from __future__ import annotations

import os

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from segment_anything import SamPredictor
from segment_anything.modeling import Sam

from engine.errors import PromptError
from engine.segment.sam.checkpoint import load_sam
from engine.segment.sam.decode import FastMaskDecoder
from engine.segment.sam.encode import SamImageEncoder
from engine.segment.sam.render import render_mask
from engine.segment.sam.weights import placement
from engine.types import Embedding, Prompt, Proposal, check_quality


class SamSegmenter:
    """Promptable segmentation with a SAM model (vit_b / vit_l / vit_h or any SAM-shaped one).

    model: the `Sam` module (moved to ``device`` and put in eval mode).
    model_name: identifies the weights, e.g. ``vit_b-01ec64d2``; part of the cache key.
    device: torch device; default CUDA when available, else CPU.
    feature_dtype: dtype of the cached image features; float16 halves the embedding
        (2 MiB at 1024 px) at a relative precision of 1e-3, far below what moves a mask.
    """

    name = "sam"

    def __init__(
        self,
        model: Sam,
        model_name: str,
        device: str | torch.device | None = None,
        feature_dtype: str = "float16",
    ) -> None:
        self.device, self.feature_dtype = placement(device, feature_dtype)
        self.sam = model.to(self.device).eval()
        self.model = model_name
        self.encoder = SamImageEncoder(self.sam)
        self.decoder = FastMaskDecoder(self.sam)
        prompt_encoder = self.sam.prompt_encoder
        self.reference_side = prompt_encoder.input_image_size  # (H, W) the model was built for
        self.logits_side = 4 * prompt_encoder.image_embedding_size[0]  # 256 for every SAM
        self._dense_pe: dict[int, torch.Tensor] = {}
        # The last embedding's features as a tensor: clicks on one frame reuse it.
        self._features: tuple[np.ndarray, torch.Tensor] | None = None

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], device: str | torch.device | None = None
    ) -> SamSegmenter:
        """Load a SAM checkpoint (a state dict ``.pth``); raises `CheckpointError`."""
        model, _, model_name = load_sam(path)
        return cls(model, model_name, device)

    def __repr__(self) -> str:
        return f"SamSegmenter(model={self.model!r}, device={str(self.device)!r})"

    # -- per frame ---------------------------------------------------------------------

    def prepare(self, frame: np.ndarray, quality: float) -> Embedding:
        """Encode ``frame`` (H×W×3 uint8 RGB) at ``quality`` in [0.2, 1].

        Embedding arrays: ``features`` 1×256×g×g float16 (or float32), ``input_size``
        (h, w) int32 of the resized frame inside the S×S encoder square, ``original_size``
        (H, W) int32, ``encoder_side`` (S,) int32; S = 16·g = 1024 at quality 1.
        """
        quality = check_quality(quality)
        frame = np.asarray(frame)
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise PromptError(f"a frame must be an H×W×3 uint8 RGB array, got {frame.shape} {frame.dtype}")
        side = self.encoder.input_side(quality)
        image, (h_in, w_in) = self.encoder.preprocess(frame, side)
        features = self.encoder(image)
        height, width = frame.shape[:2]
        arrays = {
            "features": features.cpu().numpy().astype(self.feature_dtype),
            "input_size": np.array([h_in, w_in], np.int32),
            "original_size": np.array([height, width], np.int32),
            "encoder_side": np.array([side], np.int32),
        }
        return Embedding(self.name, self.model, quality, (height, width), arrays)

    # -- per click ---------------------------------------------------------------------

    @torch.inference_mode()
    def predict(self, embedding: Embedding, prompt: Prompt) -> Proposal:
        """Candidate masks for ``prompt`` on a prepared frame, best first.

        One point alone is ambiguous (part / object / group): three candidates, as SAM is
        meant to be used; any other prompt gives one. Scores are SAM's predicted IoU;
        logits are K×256×256 float32 (feed ``logits[k][None]`` back as ``mask_input``).
        Raises `PromptError` for points or boxes outside the frame or a malformed mask_input.
        """
        features, side, input_size = self._unpack(embedding)
        height, width = embedding.frame_size
        prompt.check_inside(height, width)
        grid = features.shape[-1]
        sparse = self._embed_sparse(prompt, side, input_size, (height, width))
        mask_input = self._mask_input(prompt.mask_input, grid)
        ambiguous = len(prompt.points) == 1 and prompt.box is None and prompt.mask_input is None
        pe = self._dense_positional_encoding(grid)
        low_res, iou = self.decoder.decode(features, pe, sparse, mask_input, multimask=ambiguous)
        order = torch.argsort(iou[0], descending=True)
        low_res = low_res[:, order]
        native = low_res[0].float().cpu().numpy()  # K×4g×4g
        if native.shape[-1] == self.logits_side:
            logits = native
        else:  # the 256×256 contract of mask_input; cv2 is ~50× faster than torch here
            size = (self.logits_side, self.logits_side)
            logits = np.stack([cv2.resize(lr, size, interpolation=cv2.INTER_LINEAR) for lr in native])
        input_per_logit = side / native.shape[-1]
        threshold = float(self.sam.mask_threshold)

        def render(k: int) -> np.ndarray:
            return render_mask(native[k], input_size, (height, width), input_per_logit, threshold)

        return Proposal(iou[0, order].float().cpu().numpy(), logits, (height, width), render)

    def sam_predictor(self, embedding: Embedding) -> SamPredictor:
        """segment_anything's own predictor on a quality-1.0 embedding (a baseline to compare)."""
        features, side, input_size = self._unpack(embedding)
        if side != self.reference_side[0]:
            raise ValueError(f"SamPredictor needs a {self.reference_side[0]} px embedding, got {side}")
        predictor = SamPredictor(self.sam)
        predictor.features = features
        predictor.original_size = embedding.frame_size
        predictor.input_size = input_size
        predictor.is_image_set = True
        return predictor

    # -- helpers -----------------------------------------------------------------------

    def _unpack(self, embedding: Embedding) -> tuple[torch.Tensor, int, tuple[int, int]]:
        """(features 1×256×g×g float32 on the device, encoder side S, input (h, w))."""
        if embedding.backend != self.name or embedding.model != self.model:
            raise PromptError(
                f"embedding from {embedding.backend}/{embedding.model} "
                f"given to {self.name}/{self.model}; prepare the frame with this segmenter"
            )
        array = embedding.arrays["features"]
        cached = self._features
        if cached is not None and cached[0] is array:
            features = cached[1]
        else:
            features = torch.from_numpy(np.asarray(array)).to(self.device, torch.float32)
            self._features = (array, features)
        h_in, w_in = (int(v) for v in embedding.arrays["input_size"])
        return features, int(embedding.arrays["encoder_side"][0]), (h_in, w_in)

    def _embed_sparse(
        self, prompt: Prompt, side: int, input_size: tuple[int, int], frame_size: tuple[int, int]
    ) -> torch.Tensor:
        """1×N×256 point and box embeddings."""
        # Frame -> resized input as SamPredictor maps (x·w_in/W), then into the reference
        # square the prompt encoder normalises by, so that (p + 0.5) / S is preserved.
        to_input = np.array([input_size[1] / frame_size[1], input_size[0] / frame_size[0]])
        to_reference = np.array([self.reference_side[1] / side, self.reference_side[0] / side])

        def convert(xy: np.ndarray) -> torch.Tensor:
            mapped = (xy * to_input + 0.5) * to_reference - 0.5
            return torch.as_tensor(mapped[None], dtype=torch.float32, device=self.device)

        points = boxes = None
        if len(prompt.points):
            labels = torch.as_tensor(prompt.labels[None], dtype=torch.int32, device=self.device)
            points = (convert(prompt.points.astype(np.float64)), labels)
        if prompt.box is not None:
            boxes = convert(prompt.box.astype(np.float64).reshape(2, 2)).reshape(1, 4)
        sparse, _ = self.sam.prompt_encoder(points=points, boxes=boxes, masks=None)
        return sparse

    def _mask_input(self, mask_input: np.ndarray | None, grid: int) -> torch.Tensor | None:
        """The previous pass's logits as 1×1×4g×4g, the decoder's grid; None for "no mask"."""
        if mask_input is None:
            return None
        logits = np.asarray(mask_input, np.float32)
        if logits.ndim == 2:
            logits = logits[None]
        if logits.ndim != 3 or logits.shape[0] != 1 or min(logits.shape[1:]) < 4:
            raise PromptError(f"mask_input must be 1×256×256 logits, got shape {logits.shape}")
        if not np.isfinite(logits).all():
            raise PromptError("mask_input holds non-finite values")
        tensor = torch.from_numpy(logits)[None].to(self.device)
        size = 4 * grid
        if tensor.shape[-2:] != (size, size):
            shrink = tensor.shape[-1] > size
            tensor = F.interpolate(tensor, (size, size), mode="bilinear", align_corners=False, antialias=shrink)
        return tensor

    def _dense_positional_encoding(self, grid: int) -> torch.Tensor:
        """1×256×g×g positional encoding of the token grid (``get_dense_pe`` at g = 64)."""
        if grid not in self._dense_pe:
            self._dense_pe[grid] = self.sam.prompt_encoder.pe_layer((grid, grid)).unsqueeze(0)
        return self._dense_pe[grid]
