"""Building SAM models from a `SamConfig`: the real architectures, and random ones for tests.

`SamConfig` describes one SAM architecture (what `segment_anything.build_sam` hard-codes),
so that a checkpoint's shapes can be read into a config (`sam_checkpoint`) and built
strictly, including non-standard sizes such as the tiny model the tests use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import torch
from segment_anything.modeling import (
    ImageEncoderViT,
    MaskDecoder,
    PromptEncoder,
    Sam,
    TwoWayTransformer,
)

PIXEL_MEAN = (123.675, 116.28, 103.53)
PIXEL_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class SamConfig:
    """Hyper-parameters of one SAM architecture (defaults: the parts shared by vit_b/l/h)."""

    encoder_embed_dim: int
    encoder_depth: int
    encoder_num_heads: int
    encoder_global_attn_indexes: tuple[int, ...]
    img_size: int = 1024
    patch_size: int = 16
    window_size: int = 14
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    use_rel_pos: bool = True
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_depth: int = 2
    decoder_mlp_dim: int = 2048
    # Not recoverable from weights (heads split the same projection); every SAM uses 8.
    decoder_num_heads: int = 8
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256

    @property
    def name(self) -> str:
        """``vit_b`` / ``vit_l`` / ``vit_h`` for the published sizes, else ``vit_<dim>x<depth>``."""
        for name, known in KNOWN_CONFIGS.items():
            if known == self:
                return name
        return f"vit_{self.encoder_embed_dim}x{self.encoder_depth}"


KNOWN_CONFIGS: dict[str, SamConfig] = {
    "vit_b": SamConfig(768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamConfig(1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamConfig(1280, 32, 16, (7, 15, 23, 31)),
}

# Small enough for tests (a 1024 px encoder pass well under a second on 2 cores) while the
# 1024 input, 16 px patches, 14-token windows, one global block and the 256-channel neck,
# prompt encoder and mask decoder stay those of the real models.
TINY_CONFIG = SamConfig(64, 2, 2, (1,))


def build_sam_from_config(config: SamConfig) -> Sam:
    """A SAM with ``config``'s architecture, randomly initialised, in eval mode on the CPU."""
    grid = config.img_size // config.patch_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=config.encoder_depth,
            embed_dim=config.encoder_embed_dim,
            img_size=config.img_size,
            mlp_ratio=config.mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            num_heads=config.encoder_num_heads,
            patch_size=config.patch_size,
            qkv_bias=config.qkv_bias,
            use_rel_pos=config.use_rel_pos,
            global_attn_indexes=config.encoder_global_attn_indexes,
            window_size=config.window_size,
            out_chans=config.prompt_embed_dim,
        ),
        prompt_encoder=PromptEncoder(
            embed_dim=config.prompt_embed_dim,
            image_embedding_size=(grid, grid),
            input_image_size=(config.img_size, config.img_size),
            mask_in_chans=config.mask_in_chans,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=config.num_multimask_outputs,
            transformer=TwoWayTransformer(
                depth=config.decoder_depth,
                embedding_dim=config.prompt_embed_dim,
                mlp_dim=config.decoder_mlp_dim,
                num_heads=config.decoder_num_heads,
            ),
            transformer_dim=config.prompt_embed_dim,
            iou_head_depth=config.iou_head_depth,
            iou_head_hidden_dim=config.iou_head_hidden_dim,
        ),
        pixel_mean=list(PIXEL_MEAN),
        pixel_std=list(PIXEL_STD),
    )
    return sam.eval()


def build_random_sam(size: str = "tiny", seed: int = 0) -> Sam:
    """A randomly initialised SAM: ``tiny`` (tests) or ``vit_b``/``vit_l``/``vit_h`` (benchmarks).

    The weights are not trained, so masks are meaningless; shapes, code paths and timings
    are those of the real model. SAM initialises the absolute and relative position
    embeddings to zero; they get small random values here so that tests notice when they
    are resized or dropped.
    """
    if size == "tiny":
        config = TINY_CONFIG
    elif size in KNOWN_CONFIGS:
        config = KNOWN_CONFIGS[size]
    else:
        raise ValueError(f"unknown SAM size {size!r}; choose tiny, {', '.join(KNOWN_CONFIGS)}")
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        sam = build_sam_from_config(config)
        with torch.no_grad():
            for name, param in sam.image_encoder.named_parameters():
                if name == "pos_embed" or name.endswith(("rel_pos_h", "rel_pos_w")):
                    param.normal_(0.0, 0.02)
    finally:
        torch.random.set_rng_state(generator_state)
    return sam


def save_checkpoint(model: Sam, path: str | os.PathLike[str]) -> None:
    """Write ``model``'s state dict to ``path`` as the published SAM checkpoints are."""
    torch.save(model.state_dict(), os.fspath(path))
