"""Reading a SAM 2 / SAM 2.1 checkpoint: safe loading, variant detection, strict loading.

The official files are ``{"model": state_dict}``, read here with
``torch.load(weights_only=True)`` (`engine.segment.sam.weights`, shared with the sam backend:
every way a file can be wrong is one `CheckpointError` line naming it). The variant comes
from the tensors: SAM 2.1 added ``no_obj_embed_spatial`` and ``obj_ptr_tpos_proj``; the
size is the Hiera trunk's embedding width and block count (tiny 96×12, small 96×16,
base_plus 112×24, large 144×48). Every tensor is then checked against the variant's shapes
before the model is built and loaded strictly.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from engine.errors import CheckpointError
from engine.segment.sam.weights import check_fit, fail, file_digest, identify, read_state_dict
from engine.segment.sam2.build import IMAGE_SIZE, Sam2Variant, build_sam2_net, state_dict_shapes

if TYPE_CHECKING:
    from sam2.modeling.sam2_base import SAM2Base

LABEL = "SAM 2"
PATCH_KEY = "image_encoder.trunk.patch_embed.proj.weight"
BLOCK_PREFIX = "image_encoder.trunk.blocks."
SAM2_1_KEYS = ("no_obj_embed_spatial", "obj_ptr_tpos_proj.weight")
# Tensors every SAM 2 checkpoint has; their absence means the file is something else.
REQUIRED_KEYS = (
    PATCH_KEY,
    "image_encoder.trunk.pos_embed",
    "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
    "sam_mask_decoder.mask_tokens.weight",
    "memory_attention.norm.weight",
    "maskmem_tpos_enc",
)
SAM1_KEY = "image_encoder.patch_embed.proj.weight"
# (trunk embedding width, trunk blocks) -> size
SIZES = {(96, 12): "tiny", (96, 16): "small", (112, 24): "base_plus", (144, 48): "large"}


def _fail(path: str, problem: str) -> CheckpointError:
    return fail(path, problem, LABEL)


def detect_variant(state_dict: Mapping[str, torch.Tensor]) -> Sam2Variant:
    """The SAM 2 variant whose tensors ``state_dict`` holds; KeyError when a tensor every
    SAM 2 has is missing, ValueError when the trunk is not a published size."""
    for key in REQUIRED_KEYS:
        if key not in state_dict:
            raise KeyError(key)
    width = int(state_dict[PATCH_KEY].shape[0])
    pattern = re.compile(re.escape(BLOCK_PREFIX) + r"(\d+)\.")
    blocks = len({m.group(1) for key in state_dict if (m := pattern.match(key))})
    size = SIZES.get((width, blocks))
    if size is None:
        known = ", ".join(f"{name} {w}x{d}" for (w, d), name in SIZES.items())
        raise ValueError(f"a Hiera trunk {width} wide and {blocks} blocks deep is none of the published sizes ({known})")
    version = "2.1" if any(key in state_dict for key in SAM2_1_KEYS) else "2"
    return Sam2Variant(version, size)


def load_sam2(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> tuple[SAM2Base, Sam2Variant, str]:
    """Load the SAM 2 checkpoint at ``path`` into the model it describes (eval mode).

    Returns (``SAM2Base``, variant, model name ``<variant>-<sha256 prefix>``, e.g.
    ``sam2.1_hiera_tiny-01ec64d2``); raises `CheckpointError`.
    """
    path = os.fspath(path)
    state_dict = read_state_dict(path, LABEL)
    variant = identify(path, state_dict, detect_variant, LABEL, SAM1_KEY,
                       "this is a SAM (1) checkpoint, not a SAM 2 one: use --backend sam")
    # Every tensor checked against the variant's shapes before any is converted or copied.
    check_fit(path, variant.name, state_dict_shapes(variant), state_dict, LABEL)
    net = build_sam2_net(variant, "cpu", IMAGE_SIZE)
    # Half-precision checkpoints exist; the model runs in float32 (autocast on CUDA).
    state_dict = {k: v.float() if v.is_floating_point() else v for k, v in state_dict.items()}
    try:
        net.load_state_dict(state_dict, strict=True)
    except RuntimeError as error:
        details = " ".join(str(error).split()).split(":", 1)[-1].strip()[:200]
        raise _fail(path, f"does not fit the {variant.name} architecture its tensors suggest ({details})") from error
    return net.to(device).eval(), variant, f"{variant.name}-{file_digest(path)}"
