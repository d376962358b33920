"""Attention building blocks that keep their attention maps and never produce NaN.

Paper mapping: the "enhanced self-attention" of the association block and the question-as-Query
attention of the aggregator (KNOWN: overview figure) are built from these blocks; their exact
form (pre-LayerNorm, residual feed-forward, head-averaged maps) is a CHOICE of mcdlib.

Masks are boolean with True = real key. A query whose keys are all masked attends to nothing
(its attention row and attention output are 0), so an item with zero text objects is safe.

Speed (the maths is the same on every path):

* attention maps are computed when asked (``need_weights``), by default in eval mode only, where
  the clue visualisations read them; a training-mode forward pass without attention dropout uses
  ``torch.nn.functional.scaled_dot_product_attention`` (fused, keeps no map), and on CUDA it also
  applies the attention dropout inside that kernel (identical in expectation);
* dropout is :class:`mcdlib.models.dropout.Dropout` (cheap masks on the CPU);
* :class:`PackedRows`: queries may be given as their real rows only (padded question tokens
  removed), so per-row work (LayerNorm, projections, feed-forward) skips the padding; the
  attention itself runs on the padded layout.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcdlib.errors import ConfigError
from mcdlib.models.dropout import Dropout


def masked_softmax(scores: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last dim restricted to real keys; all-masked rows give zeros (no NaN).

    ``key_mask`` broadcasts against ``scores`` (e.g. [B, 1, 1, K] for [B, H, Q, K]).
    """
    if key_mask is None:
        return scores.softmax(-1)
    scores = scores.masked_fill(~key_mask, torch.finfo(scores.dtype).min)
    return scores.softmax(-1) * key_mask.to(scores.dtype)


class PackedRows:
    """The real rows of a padded ``[B, L, ...]`` layout (``mask`` [B, L], True = real row).

    ``pack`` keeps the real rows (``[N, ...]``, row-major order), ``unpack`` puts them back
    (padding rows 0, or taken from ``fill``), ``mean`` averages each item's real rows (0 for an
    item without one), as :func:`mcdlib.models.losses.masked_mean` does on the padded layout.
    Building one reads the mask on the host (``nonzero``): use it on the CPU, where that costs
    nothing; on CUDA the padded layout avoids a host-device synchronisation per step.
    """

    def __init__(self, mask: torch.Tensor):
        self.shape = tuple(mask.shape)
        self.index = mask.reshape(-1).nonzero().squeeze(1)
        self.item = torch.div(self.index, self.shape[1], rounding_mode="floor")
        self.counts = mask.sum(1)

    def pack(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(0, 1).index_select(0, self.index)

    def unpack(self, rows: torch.Tensor, fill: torch.Tensor | None = None) -> torch.Tensor:
        base = fill.flatten(0, 1) if fill is not None else rows.new_zeros(
            (self.shape[0] * self.shape[1], *rows.shape[1:]))
        return base.index_copy(0, self.index, rows).view(*self.shape, *rows.shape[1:])

    def mean(self, rows: torch.Tensor) -> torch.Tensor:
        total = rows.new_zeros((self.shape[0], *rows.shape[1:])).index_add(0, self.item, rows)
        return total / self.counts.clamp_min(1).to(rows.dtype).view(-1, *([1] * (rows.dim() - 1)))


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention returning the head-averaged attention map.

    ``forward(query [B,Q,d], keys [B,K,d], key_mask [B,K] | None) -> (out [B,Q,d], map [B,Q,K] | None)``.
    The returned map is taken before attention dropout, so each row sums to 1 over real keys.
    ``need_weights`` (default: eval mode) asks for the map; without it the map is None.
    ``rows``: the query is given as its real rows ``[N, d]`` (and so is the output).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ConfigError(f"model.d_model={d_model} is not divisible by model.n_heads={n_heads}; "
                              "choose n_heads dividing d_model")
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        return x.view(B, N, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor | None = None,
                need_weights: bool | None = None, rows: PackedRows | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        need = not self.training if need_weights is None else need_weights
        if keys is query:  # self-attention: one product for q, k and v
            q, k, v = F.linear(query, torch.cat([self.q_proj.weight, self.k_proj.weight, self.v_proj.weight]),
                               torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias])).chunk(3, -1)
        else:  # one product for k and v
            q = self.q_proj(query)
            k, v = F.linear(keys, torch.cat([self.k_proj.weight, self.v_proj.weight]),
                            torch.cat([self.k_proj.bias, self.v_proj.bias])).chunk(2, -1)
        if rows is not None:
            q = rows.unpack(q)
        q, k, v = self._split(q), self._split(k), self._split(v)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        attn_map = None
        if need or (self.dropout.active and q.device.type == "cpu"):
            scores = q @ k.transpose(-1, -2) / self.d_head ** 0.5
            probs = masked_softmax(scores, mask)
            out = self.dropout(probs) @ v
            attn_map = probs.mean(1) if need else None
        else:  # fused; all-masked rows give 0 as masked_softmax does
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                 dropout_p=self.dropout.p if self.dropout.active else 0.0)
        out = out.transpose(1, 2).reshape(q.shape[0], q.shape[2], -1)
        if rows is not None:
            out = rows.pack(out)
        return self.out_proj(out), attn_map


ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


class FeedForward(nn.Module):
    """Position-wise Linear -> activation -> Dropout -> Linear (width ``expansion`` * d; default 4d, GELU)."""

    def __init__(self, d_model: int, dropout: float = 0.0, expansion: int = 4, activation: str = "gelu"):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, expansion * d_model), ACTIVATIONS[activation](), Dropout(dropout),
                                 nn.Linear(expansion * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossAttentionBlock(nn.Module):
    """Pre-LN residual cross-attention with a residual feed-forward (CHOICE: the "CA" of docs/MCD_FORMULATION.md).

    ``out = x + Attn(LN x, LN' keys); out = out + FFN(LN'' out)``. With ``self_attention=True``
    the block is a pre-LN transformer layer: keys default to ``x`` and share its LayerNorm.
    Returns ``(out, map)`` with the head-averaged map [B, Q, K] (None when not asked for, see
    :class:`MultiHeadAttention`). With ``rows``, ``x`` and ``out`` are the real query rows [N, d].
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, self_attention: bool = False,
                 ffn_expansion: int = 4, ffn_activation: str = "gelu"):
        super().__init__()
        self.norm_query = nn.LayerNorm(d_model)
        self.norm_keys = None if self_attention else nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, n_heads, dropout)
        self.norm_ffn = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, dropout, ffn_expansion, ffn_activation)
        self.dropout = Dropout(dropout)

    def forward(self, x: torch.Tensor, keys: torch.Tensor | None = None, key_mask: torch.Tensor | None = None,
                need_weights: bool | None = None, rows: PackedRows | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        query = self.norm_query(x)
        if self.norm_keys is None:
            keys = query if keys is None else self.norm_query(keys)
        else:
            keys = self.norm_keys(keys)
        attended, attn_map = self.attention(query, keys, key_mask, need_weights, rows)
        x = x + self.dropout(attended)
        return x + self.dropout(self.ffn(self.norm_ffn(x))), attn_map
