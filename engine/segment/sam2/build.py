"""Building SAM 2 / SAM 2.1 models from the hydra configs shipped in the ``sam2`` package.

A `Sam2Variant` names one published architecture (version 2 or 2.1, size tiny / small /
base_plus / large); `build_sam2_net` builds it with ``sam2.build_sam.build_sam2`` (no
checkpoint: the caller loads weights strictly itself), `build_random_sam2` a randomly
initialised one for tests and benchmarks, and `state_dict_shapes` the tensors of one as
meta tensors (shapes only, no memory), which is what detection and the fit check compare
a checkpoint with.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from sam2.modeling.sam2_base import SAM2Base

VERSIONS = ("2", "2.1")
SIZES = ("tiny", "small", "base_plus", "large")
_CONFIG_SUFFIX = {"tiny": "t", "small": "s", "base_plus": "b+", "large": "l"}
IMAGE_SIZE = 1024
"""The encoder square of every published SAM 2 (not recorded in checkpoints)."""
BACKBONE_STRIDE = 16


@dataclass(frozen=True)
class Sam2Variant:
    """One published SAM 2 architecture: ``version`` "2" or "2.1", ``size`` in `SIZES`."""

    version: str
    size: str

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"unknown SAM 2 version {self.version!r}; choose one of {', '.join(VERSIONS)}")
        if self.size not in SIZES:
            raise ValueError(f"unknown SAM 2 size {self.size!r}; choose one of {', '.join(SIZES)}")

    @property
    def name(self) -> str:
        """``sam2_hiera_tiny`` / ``sam2.1_hiera_large`` …: the official checkpoint's file stem."""
        return f"sam{self.version}_hiera_{self.size}"

    @property
    def config_file(self) -> str:
        """The hydra config inside the sam2 package, e.g. ``configs/sam2.1/sam2.1_hiera_t.yaml``."""
        stem = f"sam{self.version}_hiera_{_CONFIG_SUFFIX[self.size]}"
        return f"configs/sam{self.version}/{stem}.yaml"


ALL_VARIANTS = tuple(Sam2Variant(version, size) for version in VERSIONS for size in SIZES)


def parse_variant(variant: str | Sam2Variant, version: str = "2.1") -> Sam2Variant:
    """``"tiny"`` (with ``version``) or a `Sam2Variant.name` such as ``"sam2_hiera_small"``."""
    if isinstance(variant, Sam2Variant):
        return variant
    for known in ALL_VARIANTS:
        if variant == known.name:
            return known
    return Sam2Variant(str(version), variant)


def image_size_overrides(image_size: int) -> list[str]:
    """Hydra overrides for an encoder square of ``image_size`` px (a multiple of 32).

    The memory attention's rotary encodings are built for the final feature grid
    (image_size / 16); the sam2 code recomputes them when the grid differs, but building
    them at the right size keeps that off the first frame."""
    if image_size % 32 or image_size < 64:
        raise ValueError(f"image_size must be a multiple of 32 (at least 64), got {image_size}")
    grid = image_size // BACKBONE_STRIDE
    overrides = [f"++model.image_size={image_size}"]
    if image_size != IMAGE_SIZE:
        attention = "model.memory_attention.layer"
        overrides += [f"++{attention}.self_attention.feat_sizes=[{grid},{grid}]",
                      f"++{attention}.cross_attention.feat_sizes=[{grid},{grid}]"]
    return overrides


class _CpuLinspace:
    """The torch module as Hiera's module sees it while building on meta: ``linspace``
    on the CPU, everything else torch's own."""

    def __getattr__(self, name: str) -> object:
        return getattr(torch, name)

    @staticmethod
    def linspace(*args, **kwargs) -> torch.Tensor:
        kwargs["device"] = "cpu"
        return torch.linspace(*args, **kwargs)


@contextmanager
def _linspace_on_cpu() -> Iterator[None]:
    """Hiera reads its drop-path rates with ``.item()`` from ``torch.linspace``, which a
    meta tensor cannot give: only Hiera's module sees a CPU ``linspace`` meanwhile (not
    torch itself, which other threads may be using)."""
    from sam2.modeling.backbones import hieradet

    hieradet.torch = _CpuLinspace()
    try:
        yield
    finally:
        hieradet.torch = torch


def build_sam2_net(
    variant: Sam2Variant,
    device: str | torch.device = "cpu",
    image_size: int = IMAGE_SIZE,
) -> SAM2Base:
    """``sam2.build_sam.build_sam2`` of ``variant``'s packaged config: a randomly
    initialised ``SAM2Base`` in eval mode on ``device``, with the image predictor's
    post-processing settings (dynamic multimask fallback) as ``build_sam2`` applies them."""
    from sam2.build_sam import build_sam2

    net = build_sam2(variant.config_file, None, device=str(device), hydra_overrides_extra=image_size_overrides(image_size))
    return net.eval()


@cache
def state_dict_shapes(variant: Sam2Variant) -> Mapping[str, torch.Tensor]:
    """``variant``'s state dict as meta tensors: names, shapes and dtypes, no data (cached:
    composing the hydra config is most of the cost)."""
    from sam2.build_sam import build_sam2

    with torch.device("meta"), _linspace_on_cpu():
        net = build_sam2(variant.config_file, None, device="meta")
    return MappingProxyType(dict(net.state_dict()))


def build_random_sam2(
    variant: str | Sam2Variant = "tiny",
    version: str = "2.1",
    image_size: int = IMAGE_SIZE,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> SAM2Base:
    """A randomly initialised SAM 2 (``SAM2Base``) for tests and benchmarks.

    variant: a size (``tiny`` … ``large``, of ``version``) or a `Sam2Variant` / its name.
    image_size: the encoder square; 256 makes a tiny model encode in about half a second on
        2 CPU cores (the published models use 1024; the weights do not depend on it).
    The weights are not trained, so masks are meaningless; shapes and code paths are those
    of the real model. The torch random state is restored afterwards.
    """
    chosen = parse_variant(variant, version)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        net = build_sam2_net(chosen, "cpu", image_size)
        with torch.no_grad():
            # Zero-initialised embeddings made random, so that tests notice when one is dropped.
            for name, param in net.named_parameters():
                if name in ("no_mem_embed", "image_encoder.trunk.pos_embed", "image_encoder.trunk.pos_embed_window"):
                    param.normal_(0.0, 0.02)
    finally:
        torch.random.set_rng_state(state)
    return net.to(device).eval()


def save_sam2_checkpoint(net: SAM2Base, path: str | os.PathLike[str]) -> None:
    """Write ``net``'s state dict to ``path`` as the published files are: ``{"model": state_dict}``."""
    torch.save({"model": net.state_dict()}, os.fspath(path))
