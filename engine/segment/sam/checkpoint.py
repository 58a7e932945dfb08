"""Reading a SAM checkpoint: safe loading, architecture detection, strict weight loading.

Every way a file can be wrong (missing, truncated, not a torch file, pickled objects, not
SAM, shapes that do not fit together) becomes one `CheckpointError` line naming the file;
the loading and the tensor checks are `engine.segment.sam.weights`' (shared with ``sam2``).
A SAM 2 checkpoint is recognised and sent to ``--backend sam2``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import torch
from segment_anything.modeling import Sam

from engine.errors import CheckpointError
from engine.segment.sam.build import PIXEL_MEAN, PIXEL_STD, SamConfig, build_sam_from_config
from engine.segment.sam.weights import ENCODER, check_fit, check_tensors, fail, file_digest, first_line, identify, read_state_dict

__all__ = [
    "ENCODER", "REQUIRED_KEYS", "check_tensors", "detect_config", "file_digest", "first_line", "load_sam",
    "read_state_dict",
]

# Tensors every SAM checkpoint has; their absence means the file is something else.
REQUIRED_KEYS = (
    "image_encoder.patch_embed.proj.weight",
    "image_encoder.pos_embed",
    "image_encoder.neck.0.weight",
    "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
    "prompt_encoder.mask_downscaling.3.weight",
    "mask_decoder.mask_tokens.weight",
    "mask_decoder.transformer.layers.0.mlp.lin1.weight",
    "mask_decoder.iou_prediction_head.layers.0.weight",
)
# A tensor only SAM 2 / 2.1 checkpoints have (its Hiera trunk).
SAM2_KEY = "image_encoder.trunk.patch_embed.proj.weight"


def _fail(path: str, problem: str) -> CheckpointError:
    return fail(path, problem, "SAM")


def _indexes(state_dict: Mapping[str, torch.Tensor], prefix: str) -> list[int]:
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m.group(1)) for k in state_dict if (m := pattern.match(k))})


def detect_config(state_dict: Mapping[str, torch.Tensor]) -> SamConfig:
    """The SAM architecture that ``state_dict``'s tensor shapes describe.

    Reads the embed dim and patch size from the patch embedding, the depth from the block
    count, global-attention blocks from relative-position tables spanning the whole token
    grid (2·grid−1 rows; windowed blocks span 2·window−1), heads from the table width
    (head dim). Raises KeyError / ValueError when it is not a SAM state dict.
    """
    for key in REQUIRED_KEYS:
        if key not in state_dict:
            raise KeyError(key)
    embed_dim, _, patch, _ = state_dict["image_encoder.patch_embed.proj.weight"].shape
    grid = state_dict["image_encoder.pos_embed"].shape[1]
    depth_indexes = _indexes(state_dict, "image_encoder.blocks.")
    if not depth_indexes or depth_indexes != list(range(len(depth_indexes))):
        raise ValueError(f"encoder blocks {depth_indexes[:5]}… are not numbered 0…n-1")
    global_indexes, windows, head_dim = [], set(), None
    for index in depth_indexes:
        rel_pos = state_dict.get(f"image_encoder.blocks.{index}.attn.rel_pos_h")
        if rel_pos is None:
            raise KeyError(f"image_encoder.blocks.{index}.attn.rel_pos_h")
        span, head_dim = int(rel_pos.shape[0]), int(rel_pos.shape[1])
        if span == 2 * grid - 1:
            global_indexes.append(index)
        else:
            windows.add((span + 1) // 2)
    if len(windows) > 1:
        raise ValueError(f"blocks disagree on the attention window: {sorted(windows)}")
    assert head_dim is not None
    if head_dim == 0 or embed_dim % head_dim:
        raise ValueError(f"head dim {head_dim} does not divide embed dim {embed_dim}")
    mlp_hidden = state_dict["image_encoder.blocks.0.mlp.lin1.weight"].shape[0]
    iou_layers = _indexes(state_dict, "mask_decoder.iou_prediction_head.layers.")
    return SamConfig(
        encoder_embed_dim=int(embed_dim),
        encoder_depth=len(depth_indexes),
        encoder_num_heads=int(embed_dim // head_dim),
        encoder_global_attn_indexes=tuple(global_indexes),
        img_size=int(grid * patch),
        patch_size=int(patch),
        window_size=windows.pop() if windows else 14,
        mlp_ratio=float(mlp_hidden / embed_dim),
        qkv_bias="image_encoder.blocks.0.attn.qkv.bias" in state_dict,
        prompt_embed_dim=int(state_dict["image_encoder.neck.0.weight"].shape[0]),
        mask_in_chans=int(state_dict["prompt_encoder.mask_downscaling.3.weight"].shape[0]),
        decoder_depth=len(_indexes(state_dict, "mask_decoder.transformer.layers.")),
        decoder_mlp_dim=int(state_dict["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0]),
        num_multimask_outputs=int(state_dict["mask_decoder.mask_tokens.weight"].shape[0]) - 1,
        iou_head_depth=len(iou_layers),
        iou_head_hidden_dim=int(state_dict["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0]),
    )




def load_sam(path: str | os.PathLike[str]) -> tuple[Sam, SamConfig, str]:
    """Load the checkpoint at ``path`` into the SAM it describes (CPU, eval mode).

    Returns (model, config, model name ``<arch>-<sha256 prefix>``); raises `CheckpointError`.
    """
    path = os.fspath(path)
    state_dict = read_state_dict(path)
    config = identify(path, state_dict, detect_config, "SAM", SAM2_KEY, "this is a SAM 2 checkpoint: use --backend sam2")
    # Built on the meta device and filled with the checkpoint's tensors (assign=True):
    # no time spent on a random initialisation that would be overwritten (seconds for vit_h).
    with torch.device("meta"):
        model = build_sam_from_config(config)
    check_fit(path, config.name, model.state_dict(), state_dict)
    # Half-precision checkpoints exist; the model runs in float32 (assign=True keeps dtypes).
    state_dict = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}
    try:
        model.load_state_dict(state_dict, strict=True, assign=True)
    except RuntimeError as error:
        details = " ".join(str(error).split())
        details = details.split(":", 1)[-1].strip()[:200]
        raise _fail(path, f"does not fit the {config.name} architecture its shapes suggest ({details})") from error
    # Not saved in checkpoints (non-persistent buffers), so still on the meta device.
    model.pixel_mean = torch.tensor(PIXEL_MEAN).view(-1, 1, 1)
    model.pixel_std = torch.tensor(PIXEL_STD).view(-1, 1, 1)
    leftover = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if leftover:
        raise _fail(path, f"leaves {len(leftover)} tensors unset, e.g. {leftover[0]}")
    return model.eval(), config, f"{config.name}-{file_digest(path)}"
