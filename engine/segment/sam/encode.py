"""SAM's image encoder at a reduced input size: the `quality` knob of the sam backend.

SAM resizes the frame so its long side is 1024 px, pads it to a 1024² square and encodes
64×64 tokens of 16 px. Here the square side S can be smaller; the encoder then sees a
g×g token grid (g = S / 16):

- absolute position embeddings (learnt for 64×64) are resampled to g×g (bicubic with
  antialiasing, as timm resamples ViT position embeddings), so that a token keeps the
  position code of the same place in the square;
- relative position tables of the global-attention blocks are already resampled by
  segment_anything's ``get_rel_pos`` when their length differs from 2·g−1; the windowed
  blocks keep 14-token windows, their tables unchanged;
- g is a multiple of the 14-token window (or the full grid): the windowed blocks pad the
  grid to whole windows, so e.g. g = 32 costs as much as g = 42 in those blocks, and
  snapping buys resolution for free.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide


def encoder_grid(quality: float, full_grid: int = 64, window: int = 14) -> int:
    """Token grid side g for ``quality`` in [0.2, 1]: the multiple of ``window`` nearest
    quality·64, or the model's own grid.

    quality 1.0 gives 64 (1024 px, exactly what SamPredictor does); 0.8 → 56 (896 px),
    0.6 → 42 (672 px), 0.4 → 28 (448 px), 0.2 → 14 (224 px). The smallest, one window,
    is the "Faster" end of the slider: ~20× cheaper than 1024 px, coarse masks.
    """
    step = window if 0 < window < full_grid else 1
    candidates = sorted({*range(step, full_grid, step), full_grid})
    target = quality * full_grid
    # Ties go to the larger grid: quality is what the person asked for.
    return min(candidates, key=lambda g: (abs(g - target), -g))


class SamImageEncoder:
    """Runs ``sam.image_encoder`` on an S×S padded input for any S = g·patch."""

    def __init__(self, sam: Sam) -> None:
        self.sam = sam
        encoder = sam.image_encoder
        self.patch = int(encoder.patch_embed.proj.kernel_size[0])
        self.full_grid = encoder.img_size // self.patch
        windows = [b.window_size for b in encoder.blocks if b.window_size > 0]
        self.window = windows[0] if windows else 0
        self._pos_embeds: dict[int, torch.Tensor] = {}

    def input_side(self, quality: float) -> int:
        """The square side S in pixels that the encoder sees at ``quality``."""
        return encoder_grid(quality, self.full_grid, self.window) * self.patch

    def pos_embed(self, grid: int) -> torch.Tensor | None:
        """1×grid×grid×C absolute position embeddings for a grid×grid token input (cached)."""
        full = self.sam.image_encoder.pos_embed
        if full is None or grid == full.shape[1]:
            return full
        if grid not in self._pos_embeds:
            resized = F.interpolate(
                full.detach().permute(0, 3, 1, 2),
                size=(grid, grid),
                mode="bicubic",
                align_corners=False,
                antialias=True,
            )
            self._pos_embeds[grid] = resized.permute(0, 2, 3, 1).contiguous()
        return self._pos_embeds[grid]

    def preprocess(self, frame: np.ndarray, side: int) -> tuple[torch.Tensor, tuple[int, int]]:
        """Resize ``frame`` (H×W×3 uint8 RGB) to long side ``side``, normalise, pad to a square.

        Returns the 1×3×side×side float32 tensor on the model's device and the resized
        (h, w) before padding. Uses SamPredictor's own resize, so that quality 1.0 gives
        its features exactly.
        """
        resized = ResizeLongestSide(side).apply_image(frame)
        h, w = resized.shape[:2]
        device = self.sam.pixel_mean.device
        image = torch.as_tensor(resized, device=device).permute(2, 0, 1)[None].float()
        image = (image - self.sam.pixel_mean) / self.sam.pixel_std
        image = F.pad(image, (0, side - w, 0, side - h))
        return image, (h, w)

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        """Features 1×256×g×g float32 of a 1×3×S×S preprocessed input (g = S / patch)."""
        encoder = self.sam.image_encoder
        side = image.shape[-1]
        if image.shape[-2] != side or side % self.patch:
            raise ValueError(f"encoder input must be square with a side multiple of {self.patch}")
        tokens = encoder.patch_embed(image)
        pos_embed = self.pos_embed(side // self.patch)
        if pos_embed is not None:
            tokens = tokens + pos_embed
        for block in encoder.blocks:
            tokens = block(tokens)
        return encoder.neck(tokens.permute(0, 3, 1, 2))
