"""SAM's mask decoder, computed the same way with less work and memory traffic on the CPU.

A click at quality 1.0 is dominated by the decoder (~1.7 GMAC over 4096 image tokens as
written in ``segment_anything``), and on a CPU a pass over a 4096×256 tensor costs about as
much as a 4096×256×64 product. Same weights and the same equations as
``segment_anything.modeling.MaskDecoder`` + ``TwoWayTransformer`` (batch of one), with:

- no ``repeat_interleave`` copies of the image embedding and positional encoding;
- per frame, the first block's image-side projections (keys/values of the token-to-image
  attention, queries of the image-to-token attention) are computed once and reused by every
  click: the prompt only adds a term to them. Without a mask input that term is a constant
  vector (the "no mask" embedding, projected); with one, the mask embedding ends in a 1×1
  convolution from 16 channels, so its projection is a 16-channel product instead of a
  256-channel one over the 4096 tokens;
- in later stages, ``proj(keys + pe)`` as ``keys·Wᵀ + (pe·Wᵀ + b)``, the bracket a matrix
  kept per grid size, and all of a stage's image-side projections in one product;
- while the prompt has fewer tokens than a head has channels, the later attentions project
  on the token side instead (`sam_attend`): about half the arithmetic of those stages;
- output-projection biases folded into the previous LayerNorm's shift, so that the residual
  and the output projection of the image-to-token attention are one ``addmm``;
- the two stride-2 transposed convolutions of the output upscaling written as matrix
  products on token-major data (a 2×2 stride-2 transposed convolution is a per-token linear
  map), with the channel LayerNorm as a fused ``layer_norm`` over the last axis, and the
  hypernetwork product taken before the pixel shuffle, so that only K mask channels are
  rearranged instead of 32 feature channels.

`tests/segment/test_sam.py` checks it against the stock decoder, on both attention paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from segment_anything.modeling.transformer import Attention

from engine.segment.sam.attend import (
    attend,
    heads,
    image_to_token_update,
    image_to_token_weights,
    image_to_token_weights_projected,
    token_to_image,
)


@dataclass
class FrameCache:
    """Prompt-independent decoder state of one frame's features (N = g² image tokens)."""

    features: torch.Tensor  # 1×C×g×g, the tensor this cache belongs to
    image: torch.Tensor  # N×C image tokens
    # N×P, the first block's image-side projections of image (+ pe), without bias or mask
    # term: [token-to-image keys | token-to-image values | image-to-token queries].
    first: torch.Tensor
    # (stored keys N×C, first-block projections N×P) without a mask input, on first use.
    no_mask: tuple[torch.Tensor, torch.Tensor] | None = None


@dataclass(frozen=True)
class ImageSide:
    """The projections of the image tokens that one attention stage takes, as one product.

    Columns [token-to-image keys | token-to-image values | image-to-token queries] for a
    two-way block, [keys | values] for the final attention. Keys and queries see
    ``keys + pe``, values ``keys``; so ``projections = keys·weight + pe·pe_weight + bias``
    where ``pe_weight`` is ``weight`` with the value columns zeroed, and the pe term joins
    the bias as one N×P matrix per grid (the pe depends on the grid only).
    """

    weight: torch.Tensor  # C×P, the projections' Wᵀ side by side
    pe_weight: torch.Tensor  # C×P
    bias: torch.Tensor  # P, the biases, less ``shift·weight``
    splits: tuple[int, ...]
    heads: tuple[int, ...]


def _image_side(attentions: list[tuple[Attention, str]], shift: torch.Tensor) -> ImageSide:
    """``attentions``: (attention, "k" | "v" | "q") in column order; ``shift`` (C,): what the
    stored keys carry on top of the true keys (a bias folded in earlier, see `_transformer`)."""
    linears = [getattr(attention, f"{which}_proj") for attention, which in attentions]
    weight = torch.cat([lin.weight.detach().T for lin in linears], dim=1)
    pe_weight = torch.cat(
        [lin.weight.detach().T * (which != "v") for lin, (_, which) in zip(linears, attentions)], dim=1
    )
    bias = torch.cat([lin.bias.detach() for lin in linears]) - shift @ weight
    splits = tuple(lin.weight.shape[0] for lin in linears)
    return ImageSide(weight.contiguous(), pe_weight.contiguous(), bias, splits, tuple(a.num_heads for a, _ in attentions))


def _split_heads(projections: torch.Tensor, side: ImageSide) -> list[torch.Tensor]:
    """N×P -> per projection h×N×d views."""
    return [heads(part, count) for part, count in zip(projections.split(side.splits, dim=1), side.heads)]


class FastMaskDecoder:
    """Mask decoding for one prompt at a time: `decode` ≡ ``sam.mask_decoder`` (batch of one).

    Weights are rearranged at construction: build it after the model is on its device.
    One frame cache (the last features decoded) and one pe cache per grid size are kept.
    """

    def __init__(self, sam: Sam) -> None:
        self.sam = sam
        self.decoder = sam.mask_decoder
        self.transformer = self.decoder.transformer
        self._cache: FrameCache | None = None
        self._grids: dict[int, tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]] = {}
        with torch.no_grad():
            self._prepare_upscaling()
            self._prepare_transformer()

    def _prepare_upscaling(self) -> None:
        up1, norm, _, up2, _ = self.decoder.output_upscaling
        # ConvTranspose2d weight in×out×2×2: out[o, 2i+a, 2j+b] = x[:, i, j] · W[:, o, a, b],
        # as an in×(2·2·out) matrix: each token row becomes 4 sub-pixel rows of `out` channels.
        # Biases repeated per sub-pixel, to be added inside the matrix product.
        self._up1 = (up1.weight.permute(0, 2, 3, 1).reshape(up1.weight.shape[0], -1), up1.bias.repeat(4))
        self._up2 = (up2.weight.permute(0, 2, 3, 1).reshape(up2.weight.shape[0], -1), up2.bias.repeat(4))
        self._norm = norm

    def _prepare_transformer(self) -> None:
        """Fold biases so that each image-side stage is one matrix product.

        Every block ends with ``keys = norm4(keys + out_proj(o))``. The stored keys carry
        the next block's ``out_proj`` bias b' on top of the true keys (added by the
        LayerNorm's shift β + b', or for the first block by the keys' construction), so
        the residual and the output projection are one product onto the stored keys
        (`sam_attend.image_to_token_update`); the next block's projections subtract b'·W
        from their biases.
        """
        layers = self.transformer.layers
        out_bias = [layer.cross_attn_image_to_token.out_proj.bias.detach() for layer in layers]
        zero = torch.zeros_like(out_bias[0])
        self._norm4 = [
            (layer.norm4.weight, layer.norm4.bias + (out_bias[i + 1] if i + 1 < len(layers) else zero), layer.norm4.eps)
            for i, layer in enumerate(layers)
        ]
        self._sides = [
            _image_side(
                [
                    (layer.cross_attn_token_to_image, "k"),
                    (layer.cross_attn_token_to_image, "v"),
                    (layer.cross_attn_image_to_token, "q"),
                ],
                zero if i == 0 else out_bias[i],
            )
            for i, layer in enumerate(layers)
        ]
        final = self.transformer.final_attn_token_to_image
        self._sides.append(_image_side([(final, "k"), (final, "v")], zero))
        self._shifts = [zero, *out_bias[1:], zero]  # per stage, on the stored keys it reads
        t2i = layers[0].cross_attn_token_to_image
        self._head_channels = t2i.internal_dim // t2i.num_heads
        # The mask embedding: a conv stack whose last layer is a 1×1 conv 16 -> C, so the
        # first block's projections see it through (W·W₃)ᵀ, a 16-row matrix.
        *self._mask_stack, last = self.sam.prompt_encoder.mask_downscaling
        w3, b3 = last.weight.detach()[:, :, 0, 0].T.contiguous(), last.bias.detach()  # 16×C, C
        no_mask = self.sam.prompt_encoder.no_mask_embed.weight.detach()[0]
        first = self._sides[0]
        self._mask_out = (w3, b3 + out_bias[0])
        self._no_mask = no_mask + out_bias[0]
        self._through = w3 @ first.weight  # 16×P
        self._offset = b3 @ first.weight + first.bias
        self._constant = no_mask @ first.weight + first.bias

    def _grid(self, pe: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(pe tokens N×C, per later stage the N×P matrix pe·pe_weight + bias) for ``pe``."""
        grid = pe.shape[-1]
        cached = self._grids.get(grid)
        if cached is None or cached[0] is not pe:
            tokens = pe[0].flatten(1).transpose(0, 1).contiguous()
            biases = [torch.addmm(side.bias, tokens, side.pe_weight) for side in self._sides[1:]]
            cached = self._grids[grid] = (pe, tokens, biases)
        return cached[1], cached[2]

    def frame_cache(self, features: torch.Tensor, pe: torch.Tensor) -> FrameCache:
        """The cache of ``features`` (1×C×g×g), computed on first use."""
        cache = self._cache
        if cache is not None and cache.features is features:
            return cache
        pe_tokens, _ = self._grid(pe)
        image = features[0].flatten(1).transpose(0, 1).contiguous()  # N×C
        side = self._sides[0]
        first = torch.addmm(image @ side.weight, pe_tokens, side.pe_weight)
        cache = self._cache = FrameCache(features=features, image=image, first=first)
        return cache

    @torch.inference_mode()
    def decode(
        self,
        features: torch.Tensor,
        pe: torch.Tensor,
        sparse: torch.Tensor,
        mask_input: torch.Tensor | None,
        multimask: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Low-resolution mask logits 1×K×4g×4g and predicted IoUs 1×K.

        features: 1×C×g×g image embedding; pe: 1×C×g×g dense positional encoding;
        sparse: 1×T×C point/box embeddings; mask_input: 1×1×4g×4g logits of a previous pass
        (what ``prompt_encoder.mask_downscaling`` embeds), or None for "no mask".
        """
        cache = self.frame_cache(features, pe)
        decoder = self.decoder
        output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
        tokens = torch.cat([output_tokens, sparse[0]], dim=0)  # T×C
        keys, first = self._first_block(cache, mask_input)
        queries, keys = self._transformer(tokens, keys, first, self._grid(pe))
        masks = self._masks(queries, keys, features.shape[-1], multimask)
        iou = decoder.iou_prediction_head(queries[0])
        iou = iou[1:] if multimask else iou[:1]
        return masks[None], iou[None]

    def _first_block(self, cache: FrameCache, mask_input: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Stored keys N×C (image + mask embedding + the first out_proj bias) and the first
        block's image-side projections N×P."""
        if mask_input is None:
            if cache.no_mask is None:
                cache.no_mask = (cache.image + self._no_mask, cache.first + self._constant)
            return cache.no_mask
        h = mask_input
        for layer in self._mask_stack:
            h = layer(h)
        h = h[0].flatten(1).transpose(0, 1)  # N×16, the mask embedding before its 1×1 conv
        w3, b3 = self._mask_out
        return torch.addmm(cache.image + b3, h, w3), torch.addmm(cache.first + self._offset, h, self._through)

    def _transformer(
        self, tokens: torch.Tensor, keys: torch.Tensor, first: torch.Tensor, grid: tuple[torch.Tensor, list[torch.Tensor]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``TwoWayTransformer.forward`` from stored keys: (queries T×C, keys N×C).

        With fewer tokens than channels per head, the attentions after the first block
        project on the token side (`sam_attend`); else the image tokens are projected, all
        of a stage's projections in one product.
        """
        pe, pe_biases = grid
        token_side = tokens.shape[0] < self._head_channels
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
            image_side = index == 0 or not token_side
            if image_side:
                side = self._sides[index]
                projections = first if index == 0 else torch.addmm(pe_biases[index - 1], keys, side.weight)
                t2i_k, t2i_v, i2t_q = _split_heads(projections, side)
                t2i_q = heads(t2i.q_proj(queries + tokens), t2i.num_heads)
                attended = t2i.out_proj(attend(t2i_q, t2i_k, t2i_v))
            else:
                keys_pe = keys + pe
                attended = token_to_image(t2i, queries + tokens, keys_pe, keys, self._shifts[index])
            queries = block.norm2(queries + attended)
            queries = block.norm3(queries + block.mlp(queries))

            if image_side:
                weights = image_to_token_weights_projected(i2t_q, heads(i2t.k_proj(queries + tokens), i2t.num_heads))
            else:
                weights = image_to_token_weights(i2t, queries + tokens, keys_pe, self._shifts[index])
            residual = image_to_token_update(i2t, weights, queries, keys)
            keys = F.layer_norm(residual, keys.shape[-1:], *self._norm4[index])

        final = self.transformer.final_attn_token_to_image
        if token_side:
            attended = token_to_image(final, queries + tokens, keys + pe, keys, self._shifts[-1])
        else:
            k, v = _split_heads(torch.addmm(pe_biases[-1], keys, self._sides[-1].weight), self._sides[-1])
            attended = final.out_proj(attend(heads(final.q_proj(queries + tokens), final.num_heads), k, v))
        queries = self.transformer.norm_final_attn(queries + attended)
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
