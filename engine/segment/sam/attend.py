"""Attention of SAM's two-way transformer between a few prompt tokens and many image tokens.

With T prompt tokens, N image tokens (4096 at quality 1), C channels and h heads of d
channels (C = 256, h·d = 128 in SAM's cross attentions), the stock layers project all N
image tokens (N·C·h·d multiply-adds per projection). While T < d it is cheaper to move the
projection to the token side instead, since a product of projections is a projection:

- token-to-image scores ``q·(W_k x + b_k)`` = ``(W_kᵀ q)·x`` + a per-query constant, which
  the softmax over image tokens removes; values ``Σ w (W_v x + b_v)`` = ``W_v (Σ w x) + b_v``
  because the weights sum to 1. Two N·C·h·T products replace two N·C·h·d ones.
- image-to-token scores ``(W_q x + b_q)·k`` = ``x·(W_qᵀ k) + b_q·k``; the output
  ``W_o Σ_t w v + b_o`` = ``Σ_{h,t} w · (W_o,h v_h)``, one N×hT by hT×C product added onto
  the residual in the same call.

``shift`` is what stored image tokens carry on top of the true ones (a bias folded in
earlier, see `FastMaskDecoder`): it is taken out where it does not cancel.
All functions are exact rearrangements of ``segment_anything``'s ``Attention``.
"""

from __future__ import annotations

import math

import torch
from segment_anything.modeling.transformer import Attention


def heads(x: torch.Tensor, count: int) -> torch.Tensor:
    """L×(h·d) -> h×L×d."""
    return x.view(x.shape[0], count, -1).transpose(0, 1)


def _per_head(weight: torch.Tensor, count: int) -> torch.Tensor:
    """A projection weight (h·d)×C as h×d×C."""
    return weight.view(count, -1, weight.shape[1])


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Token-to-image attention of projected, head-separated q (h×T×d), k, v (h×N×d);
    returns T×(h·d), before the output projection."""
    scores = (q @ k.transpose(1, 2)) / math.sqrt(q.shape[-1])
    return (torch.softmax(scores, dim=-1) @ v).transpose(0, 1).reshape(q.shape[1], -1)


def token_to_image(
    attention: Attention, queries: torch.Tensor, image_pe: torch.Tensor, image: torch.Tensor, shift: torch.Tensor
) -> torch.Tensor:
    """``attention(q=queries, k=image_pe − shift, v=image − shift)`` (T×C) with the image-side
    projections moved onto the T queries. image_pe, image: N×C; shift: (C,)."""
    count, channels = attention.num_heads, image.shape[1]
    q = attention.q_proj(queries)
    tokens = q.shape[0]
    q = q.view(tokens, count, -1)
    scale = 1.0 / math.sqrt(q.shape[-1])
    through_keys = torch.einsum("thd,hdc->htc", q, _per_head(attention.k_proj.weight, count))
    scores = (through_keys.reshape(count * tokens, channels) * scale) @ image_pe.T  # hT×N
    pooled = torch.softmax(scores, dim=-1) @ image - shift  # hT×C, Σ w x
    values = torch.einsum("htc,hdc->thd", pooled.view(count, tokens, channels), _per_head(attention.v_proj.weight, count))
    return attention.out_proj(values.reshape(tokens, -1) + attention.v_proj.bias)


def image_to_token_weights(attention: Attention, keys: torch.Tensor, image_pe: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Softmax weights h×T×N of ``attention(q=image_pe − shift, k=keys, ...)``, the query
    projection moved onto the T keys. keys: T×C; image_pe: N×C."""
    count, channels = attention.num_heads, image_pe.shape[1]
    k = attention.k_proj(keys)
    tokens = k.shape[0]
    k = k.view(tokens, count, -1)
    scale = 1.0 / math.sqrt(k.shape[-1])
    through = torch.einsum("thd,hdc->htc", k, _per_head(attention.q_proj.weight, count)).reshape(-1, channels) * scale
    offset = torch.einsum("thd,hd->ht", k, attention.q_proj.bias.view(count, -1)).reshape(-1, 1) * scale
    scores = torch.addmm(offset - (through @ shift)[:, None], through, image_pe.T)  # hT×N
    return torch.softmax(scores.view(count, tokens, -1), dim=1)


def image_to_token_weights_projected(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Softmax weights h×T×N from projected image queries q (h×N×d) and token keys k (h×T×d).

    Scores are built keys × queries and normalised over the key axis: a softmax along a
    short last axis is ~30× slower on the CPU than along a long inner one.
    """
    scores = (k @ q.transpose(1, 2)) / math.sqrt(q.shape[-1])
    return torch.softmax(scores, dim=1)


def image_to_token_update(
    attention: Attention, weights: torch.Tensor, values: torch.Tensor, residual: torch.Tensor
) -> torch.Tensor:
    """``residual + out_proj(attention output)`` less the output bias (carried by the
    residual): N×C. weights: h×T×N; values: T×C token inputs of ``v_proj``."""
    count, tokens = weights.shape[:2]
    v = attention.v_proj(values).view(tokens, count, -1)
    out = attention.out_proj.weight  # C×(h·d)
    through = torch.einsum("thd,chd->htc", v, out.view(out.shape[0], count, -1)).reshape(count * tokens, -1)
    return torch.addmm(residual, weights.reshape(count * tokens, -1).T, through)
