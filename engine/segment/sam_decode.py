"""SAM's mask decoder, computed the same way with less memory traffic on the CPU.

A click at quality 1.0 is dominated by the decoder (~1.7 GMAC over 4096 image tokens), and
on a CPU much of its time goes to copies and element-wise passes over 4096×256 tensors
rather than to arithmetic. Same weights and the same equations as
``segment_anything.modeling.MaskDecoder`` + ``TwoWayTransformer`` (batch of one), with:

- no ``repeat_interleave`` copies of the image embedding and positional encoding;
- ``keys + pe`` computed once per block instead of twice;
- per frame, the image-side projections of the first block (keys/values of the
  token-to-image attention, queries of the image-to-token attention) are computed once and
  reused by every click without a mask input: they do not depend on the prompt;
- the two stride-2 transposed convolutions of the output upscaling written as matrix
  products on token-major data (a 2×2 stride-2 transposed convolution is a per-token linear
  map), with the channel LayerNorm as a fused ``layer_norm`` over the last axis, and the
  hypernetwork product taken before the pixel shuffle, so that only K mask channels are
  rearranged instead of 32 feature channels.

`tests/test_sam.py` checks it against the stock decoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from segment_anything.modeling.transformer import Attention


@dataclass
class FrameCache:
    """Prompt-independent decoder state of one frame's features (N = g² image tokens)."""

    features: torch.Tensor  # 1×C×g×g, the tensor this cache belongs to
    image: torch.Tensor  # N×C image tokens
    pe: torch.Tensor  # N×C dense positional encoding
    keys: torch.Tensor  # N×C image tokens + "no mask" embedding
    keys_pe: torch.Tensor  # N×C keys + pe
    t2i_k: torch.Tensor  # heads×N×d, first block, token-to-image keys
    t2i_v: torch.Tensor  # heads×N×d, first block, token-to-image values
    i2t_q: torch.Tensor  # heads×N×d, first block, image-to-token queries


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """L×(h·d) -> h×L×d."""
    return x.view(x.shape[0], heads, -1).transpose(0, 1)


def _attend(attention: Attention, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``Attention.forward`` on already projected, head-separated q, k, v; returns Lq×C."""
    if k.shape[1] < q.shape[1]:
        # Image-to-token: 4096 queries over ~7 keys. A softmax along a short last axis is
        # ~30× slower on the CPU than along a long inner one, so the scores are built
        # transposed (keys × queries) and normalised over the key axis.
        scores = (k @ q.transpose(1, 2)) / math.sqrt(q.shape[-1])
        out = torch.softmax(scores, dim=1).transpose(1, 2) @ v
    else:
        scores = (q @ k.transpose(1, 2)) / math.sqrt(q.shape[-1])
        out = torch.softmax(scores, dim=-1) @ v
    return attention.out_proj(out.transpose(0, 1).reshape(q.shape[1], -1))


class FastMaskDecoder:
    """Mask decoding for one prompt at a time: `decode` ≡ ``sam.mask_decoder`` (batch of one).

    The upscaling weights are rearranged at construction: build it after the model is on
    its device. One frame cache (the last features decoded) is kept.
    """

    def __init__(self, sam: Sam) -> None:
        self.sam = sam
        self.decoder = sam.mask_decoder
        self.transformer = self.decoder.transformer
        self._cache: FrameCache | None = None
        up1, norm, _, up2, _ = self.decoder.output_upscaling
        channels = up1.weight.shape[0]
        # ConvTranspose2d weight in×out×2×2: out[o, 2i+a, 2j+b] = x[:, i, j] · W[:, o, a, b],
        # as an in×(2·2·out) matrix: each token row becomes 4 sub-pixel rows of `out` channels.
        # Biases repeated per sub-pixel, to be added inside the matrix product.
        self._up1 = (up1.weight.permute(0, 2, 3, 1).reshape(channels, -1).detach(), up1.bias.detach().repeat(4))
        self._up2 = (
            up2.weight.permute(0, 2, 3, 1).reshape(up2.weight.shape[0], -1).detach(),
            up2.bias.detach().repeat(4),
        )
        self._norm = norm

    def frame_cache(self, features: torch.Tensor, pe: torch.Tensor) -> FrameCache:
        """The cache of ``features`` (1×C×g×g), computed on first use."""
        cache = self._cache
        if cache is not None and cache.features is features:
            return cache
        image = features[0].flatten(1).transpose(0, 1).contiguous()  # N×C
        pe_tokens = pe[0].flatten(1).transpose(0, 1).contiguous()
        no_mask = self.sam.prompt_encoder.no_mask_embed.weight  # 1×C
        keys = image + no_mask
        keys_pe = keys + pe_tokens
        block = self.transformer.layers[0]
        t2i, i2t = block.cross_attn_token_to_image, block.cross_attn_image_to_token
        cache = FrameCache(
            features=features,
            image=image,
            pe=pe_tokens,
            keys=keys,
            keys_pe=keys_pe,
            t2i_k=_heads(t2i.k_proj(keys_pe), t2i.num_heads),
            t2i_v=_heads(t2i.v_proj(keys), t2i.num_heads),
            i2t_q=_heads(i2t.q_proj(keys_pe), i2t.num_heads),
        )
        self._cache = cache
        return cache

    @torch.inference_mode()
    def decode(
        self,
        features: torch.Tensor,
        pe: torch.Tensor,
        sparse: torch.Tensor,
        dense: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-resolution mask logits 1×K×4g×4g and predicted IoUs 1×K.

        features: 1×C×g×g image embedding; pe: 1×C×g×g dense positional encoding;
        sparse: 1×T×C point/box embeddings; dense: 1×C×g×g mask-input embedding, or None
        for "no mask" (then the frame cache serves the first block).
        """
        cache = self.frame_cache(features, pe)
        decoder = self.decoder
        output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        tokens = torch.cat([output_tokens, sparse[0]], dim=0)  # T×C
        if dense is None:
            keys = cache.keys
        else:
            keys = cache.image + dense[0].flatten(1).transpose(0, 1)
        queries, keys = self._transformer(tokens, keys, cache, first_cached=dense is None)
        masks = self._masks(queries, keys, features.shape[-1], multimask)
        iou = decoder.iou_prediction_head(queries[0])
        iou = iou[1:] if multimask else iou[:1]
        return masks[None], iou[None]

    def _transformer(
        self, tokens: torch.Tensor, keys: torch.Tensor, cache: FrameCache, first_cached: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``TwoWayTransformer.forward``: (queries T×C, keys N×C)."""
        pe = cache.pe
        queries = tokens
        for index, block in enumerate(self.transformer.layers):
            q = queries[None]
            if block.skip_first_layer_pe:
                queries = block.self_attn(q=q, k=q, v=q)[0]
            else:
                qp = (queries + tokens)[None]
                queries = queries + block.self_attn(q=qp, k=qp, v=q)[0]
            queries = block.norm1(queries)

            t2i, i2t = block.cross_attn_token_to_image, block.cross_attn_image_to_token
            if index == 0 and first_cached:
                keys_pe, t2i_k, t2i_v, i2t_q = cache.keys_pe, cache.t2i_k, cache.t2i_v, cache.i2t_q
            else:
                keys_pe = keys + pe
                t2i_k = _heads(t2i.k_proj(keys_pe), t2i.num_heads)
                t2i_v = _heads(t2i.v_proj(keys), t2i.num_heads)
                i2t_q = _heads(i2t.q_proj(keys_pe), i2t.num_heads)
            t2i_q = _heads(t2i.q_proj(queries + tokens), t2i.num_heads)
            queries = block.norm2(queries + _attend(t2i, t2i_q, t2i_k, t2i_v))
            queries = block.norm3(queries + block.mlp(queries))

            i2t_k = _heads(i2t.k_proj(queries + tokens), i2t.num_heads)
            i2t_v = _heads(i2t.v_proj(queries), i2t.num_heads)
            keys = block.norm4(keys + _attend(i2t, i2t_q, i2t_k, i2t_v))

        final = self.transformer.final_attn_token_to_image
        keys_pe = keys + pe
        q = _heads(final.q_proj(queries + tokens), final.num_heads)
        k = _heads(final.k_proj(keys_pe), final.num_heads)
        v = _heads(final.v_proj(keys), final.num_heads)
        queries = self.transformer.norm_final_attn(queries + _attend(final, q, k, v))
        return queries, keys

    def _masks(self, queries: torch.Tensor, keys: torch.Tensor, grid: int, multimask: bool) -> torch.Tensor:
        """K×4g×4g logits: upscaled image tokens · hypernetwork outputs of the mask tokens."""
        decoder = self.decoder
        selected = range(1, decoder.num_mask_tokens) if multimask else range(1)
        hyper = torch.stack([decoder.output_hypernetworks_mlps[i](queries[1 + i]) for i in selected])  # K×c2
        weight1, bias1 = self._up1
        weight2, bias2 = self._up2
        c1, c2 = bias1.shape[0] // 4, bias2.shape[0] // 4
        # First upscaling: N×C -> (N·4)×c1, rows ordered (token, a, b); LayerNorm2d over c1.
        x = torch.addmm(bias1, keys, weight1).view(-1, c1)
        x = F.gelu(F.layer_norm(x, (c1,), self._norm.weight, self._norm.bias, self._norm.eps))
        # Second upscaling: (N·4)×c1 -> (N·16)×c2, rows ordered (token, a, b, a2, b2).
        y = F.gelu(torch.addmm(bias2, x, weight2).view(-1, c2))
        masks = (y @ hyper.T).T  # K×(N·16)
        # (i, j, a, b, a2, b2) -> row 4i+2a+a2, column 4j+2b+b2
        k = masks.shape[0]
        masks = masks.reshape(k, grid, grid, 2, 2, 2, 2).permute(0, 1, 3, 5, 2, 4, 6)
        return masks.reshape(k, 4 * grid, 4 * grid)
