"""SAM 2's image encoder at an adjustable square side: the ``quality`` knob of the sam2 backend.

`SAM2ImagePredictor` stretches the frame to the model's ``image_size`` square (1024 px, no
aspect-preserving padding) and runs the Hiera trunk and FPN neck: features at strides 4,
8 and 16. Shrinking the frame before that would change nothing, since the predictor
resizes to 1024 anyway; what costs is the square the trunk sees. Here that square S can be
smaller (S = 16·g for a g×g final grid), and the encoder's cost follows S². Measured on
one CPU thread (CPU time), ``prepare`` of a 1080p frame, random weights:

| quality (S)         | 1.0 (1024) | 0.8 (896) | 0.6 (672) | 0.4 (448) | 0.2 (224) |
| hiera tiny          | 3.50 s     | 2.31 s    | 1.15 s    | 0.48 s    | 0.14 s    |
| hiera base_plus     | 7.46 s     | 4.87 s    | 2.63 s    | 1.09 s    | 0.31 s    |
| a click, base_plus  | 121 ms     | 87 ms     | 45 ms     | 21 ms     | 11 ms     |

and at quality 1.0 on the same frame shrunk to 640×360 first: 3.55 s (tiny), 6.66 s
(base_plus): shrinking the input buys nothing.

Hiera runs on any such square: its background position embedding is interpolated to the
token grid (`Hiera._get_pos_embed`) and its 8-token window embedding is tiled, so a token
keeps the position code of the same place in the square; windowed blocks pad to whole
windows. g is therefore a multiple of the stride-16 stage's window (14, or 16 for large),
which also keeps the stride-32 stage's grid whole windows, or the model's own grid.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from engine.segment.sam2.build import BACKBONE_STRIDE

if TYPE_CHECKING:
    from sam2.modeling.sam2_base import SAM2Base

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def encoder_grid(quality: float, full_grid: int = 64, window: int = 14) -> int:
    """Final token grid side g for ``quality`` in [0.2, 1]: the even multiple of ``window``
    nearest quality·``full_grid``, or the model's own grid.

    For the published models (full grid 64, window 14): 1.0 → 64 (1024 px, what
    SAM2ImagePredictor does), 0.8 → 56 (896 px), 0.6 → 42 (672 px), 0.4 → 28 (448 px),
    0.2 → 14 (224 px). Ties go to the larger grid.
    """
    step = window if 0 < window < full_grid else full_grid
    candidates = sorted({*(g for g in range(step, full_grid, step) if g % 2 == 0), full_grid})
    target = quality * full_grid
    return min(candidates, key=lambda g: (abs(g - target), -g))


class Sam2ImageEncoder:
    """Runs ``net.forward_image`` on the frame stretched to an S×S square, for any S = 16·g
    the quality allows; at S = ``net.image_size`` exactly `SAM2ImagePredictor.set_image`."""

    def __init__(self, net: SAM2Base) -> None:
        self.net = net
        self.image_size = int(net.image_size)
        self.full_grid = self.image_size // BACKBONE_STRIDE
        window_spec = tuple(net.image_encoder.trunk.window_spec)
        self.window = int(window_spec[2]) if len(window_spec) > 2 else 0

    def input_side(self, quality: float) -> int:
        """The square side S in pixels that the encoder sees at ``quality``."""
        return encoder_grid(quality, self.full_grid, self.window) * BACKBONE_STRIDE

    def preprocess(self, frame: np.ndarray, side: int) -> torch.Tensor:
        """``frame`` (H×W×3 uint8 RGB) stretched to side×side, normalised: 1×3×S×S float32
        on the model's device. The operations of SAM 2's own transforms (`SAM2Transforms`:
        to [0, 1], torchvision's antialiased bilinear resize, ImageNet mean and std) without
        their TorchScript compilation, so that S = image_size gives the predictor's input."""
        from torchvision.transforms import functional

        # `to_tensor`'s operations on a copy: frames from the cache are read-only arrays.
        image = torch.from_numpy(np.ascontiguousarray(frame.transpose(2, 0, 1))).to(torch.float32).div(255)
        image = functional.resize(image, [side, side], antialias=True)
        image = functional.normalize(image, IMAGENET_MEAN, IMAGENET_STD)
        return image[None].to(self.net.device)

    @torch.inference_mode()
    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(image embedding 1×256×g×g, high-res features 1×32×4g×4g and 1×64×2g×2g) of a
        1×3×S×S preprocessed input, as `SAM2ImagePredictor.set_image` stores them: the
        stride-4/8 levels already through the decoder's ``conv_s0``/``conv_s1``, the
        ``no_mem_embed`` added to the stride-16 level (an image with no memory)."""
        net = self.net
        backbone_out = net.forward_image(image)
        _, vision_feats, _, feat_sizes = net._prepare_backbone_features(backbone_out)
        if net.directly_add_no_mem_embed:
            vision_feats[-1] = vision_feats[-1] + net.no_mem_embed
        # HW×1×C -> 1×C×H×W at each level's own size (the predictor hard-codes 1024's).
        feats = [feat.permute(1, 2, 0).reshape(1, -1, *size) for feat, size in zip(vision_feats, feat_sizes)]
        return feats[-1], feats[0], feats[1]
