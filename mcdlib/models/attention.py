"""Attention building blocks that keep their attention maps and never produce NaN.

Paper mapping: the "enhanced self-attention" of the association block and the question-as-Query
attention of the aggregator (KNOWN: overview figure) are built from these blocks; their exact
form (pre-LayerNorm, residual feed-forward, head-averaged maps) is a CHOICE of mcdlib.

Masks are boolean with True = real key. A query whose keys are all masked attends to nothing
(its attention row and attention output are 0), so an item with zero text objects is safe.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mcdlib.errors import ConfigError


def masked_softmax(scores: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last dim restricted to real keys; all-masked rows give zeros (no NaN).

    ``key_mask`` broadcasts against ``scores`` (e.g. [B, 1, 1, K] for [B, H, Q, K]).
    """
    if key_mask is None:
        return scores.softmax(-1)
    scores = scores.masked_fill(~key_mask, torch.finfo(scores.dtype).min)
    return scores.softmax(-1) * key_mask.to(scores.dtype)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention returning the head-averaged attention map.

    ``forward(query [B,Q,d], keys [B,K,d], key_mask [B,K] | None) -> (out [B,Q,d], map [B,Q,K])``.
    The returned map is taken before attention dropout, so each row sums to 1 over real keys.
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
        self.dropout = nn.Dropout(dropout)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        return x.view(B, N, self.n_heads, self.d_head).transpose(1, 2)

    def forward(self, query: torch.Tensor, keys: torch.Tensor,
                key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        q, k, v = self._split(self.q_proj(query)), self._split(self.k_proj(keys)), self._split(self.v_proj(keys))
        scores = q @ k.transpose(-1, -2) / self.d_head ** 0.5
        mask = None if key_mask is None else key_mask[:, None, None, :]
        probs = masked_softmax(scores, mask)
        out = (self.dropout(probs) @ v).transpose(1, 2).reshape(query.shape[0], query.shape[1], -1)
        return self.out_proj(out), probs.mean(1)


ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


class FeedForward(nn.Module):
    """Position-wise Linear -> activation -> Dropout -> Linear (width ``expansion`` * d; default 4d, GELU)."""

    def __init__(self, d_model: int, dropout: float = 0.0, expansion: int = 4, activation: str = "gelu"):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, expansion * d_model), ACTIVATIONS[activation](), nn.Dropout(dropout),
                                 nn.Linear(expansion * d_model, d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CrossAttentionBlock(nn.Module):
    """Pre-LN residual cross-attention with a residual feed-forward (CHOICE: the "CA" of docs/MCD_FORMULATION.md).

    ``out = x + Attn(LN x, LN' keys); out = out + FFN(LN'' out)``. With ``self_attention=True``
    the block is a pre-LN transformer layer: keys default to ``x`` and share its LayerNorm.
    Returns ``(out, map)`` with the head-averaged map [B, Q, K].
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0, self_attention: bool = False,
                 ffn_expansion: int = 4, ffn_activation: str = "gelu"):
        super().__init__()
        self.norm_query = nn.LayerNorm(d_model)
        self.norm_keys = None if self_attention else nn.LayerNorm(d_model)
        self.attention = MultiHeadAttention(d_model, n_heads, dropout)
        self.norm_ffn = nn.LayerNorm(d_model)
        self.ffn = FeedForward(d_model, dropout, ffn_expansion, ffn_activation)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keys: torch.Tensor | None = None,
                key_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        query = self.norm_query(x)
        if self.norm_keys is None:
            keys = query if keys is None else self.norm_query(keys)
        else:
            keys = self.norm_keys(keys)
        attended, attn_map = self.attention(query, keys, key_mask)
        x = x + self.dropout(attended)
        return x + self.dropout(self.ffn(self.norm_ffn(x))), attn_map
