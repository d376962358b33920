"""Association block (stacked N times) and the audio-visual contrastive loss (figure: MCM, left).

KNOWN (paper): inside the Mutual Correlation Module, an Association Block stacked N times uses
"enhanced self-attention" with a residual structure to strengthen the soft associations
between audio and visual features, giving the high-level features f^_v, f^_a; its outputs are
pooled into m_v, m_a and a contrastive loss between them is learnt "at the attention layer".

CHOICE (mcdlib):

* ``association=joint`` (default): a pre-LN transformer layer over the concatenation
  [f_v + e_v ; f_a + e_a] (2T tokens, learned modality embeddings e), split back afterwards;
* ``association=cross``: per modality, residual self-attention, then residual cross-attention
  to the other modality (its state before this block), then a residual feed-forward;
* ``association=off``: f^_x = f_x and no contrastive loss (there is no attention layer);
* N = ``association_layers``; m_x = temporal mean of a block's output for modality x;
* :class:`AudioVisualContrast`: symmetric in-batch InfoNCE between m_v and m_a, temperature
  ``tau`` (fixed, or learnable through log tau, clamped to >= ``min_tau``, 0.01), same-video pairs removed
  from the negatives; ``contrastive=last`` uses the last block, ``every`` averages all blocks.

With a single modality (``modalities=a`` or ``v``) the block is self-attention over that
modality alone and there is no contrastive loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn

from mcdlib.config import ModelConfig
from mcdlib.models.attention import CrossAttentionBlock, FeedForward, MultiHeadAttention
from mcdlib.models.dropout import Dropout
from mcdlib.models.losses import info_nce

MIN_TAU = 0.01  # the default of model.min_tau


@dataclass
class AssociationOutput:
    """High-level features per modality, per-block pooled vectors and the attention maps."""

    high: dict[str, torch.Tensor]  # modality -> f^_x [B, T, d]
    pooled: list[dict[str, torch.Tensor]] = field(default_factory=list)  # per block: modality -> m_x [B, d]
    attention: dict[str, torch.Tensor] = field(default_factory=dict)  # eval mode only


class JointAssociationBlock(nn.Module):
    """One pre-LN transformer layer over the concatenated modality tokens (``association=joint``)."""

    def __init__(self, cfg: ModelConfig, modalities: tuple[str, ...]):
        super().__init__()
        self.modalities = modalities
        self.layer = CrossAttentionBlock(cfg.d_model, cfg.n_heads, cfg.dropout, self_attention=True,
                                         ffn_expansion=cfg.ffn_expansion, ffn_activation=cfg.ffn_activation)

    def forward(self, feats: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        sizes = [feats[m].shape[1] for m in self.modalities]
        joint, attn_map = self.layer(torch.cat([feats[m] for m in self.modalities], dim=1))
        return dict(zip(self.modalities, joint.split(sizes, dim=1))), {"": attn_map}


class CrossAssociationBlock(nn.Module):
    """Per-modality self-attention, then cross-attention to the other modality (``association=cross``)."""

    def __init__(self, cfg: ModelConfig, modalities: tuple[str, ...]):
        super().__init__()
        d, h, p = cfg.d_model, cfg.n_heads, cfg.dropout
        self.modalities = modalities
        self.self_norm = nn.ModuleDict({m: nn.LayerNorm(d) for m in modalities})
        self.self_attention = nn.ModuleDict({m: MultiHeadAttention(d, h, p) for m in modalities})
        self.cross_norm = nn.ModuleDict({m: nn.LayerNorm(d) for m in modalities} if len(modalities) > 1 else {})
        self.cross_attention = nn.ModuleDict({m: MultiHeadAttention(d, h, p) for m in modalities}
                                             if len(modalities) > 1 else {})
        self.ffn_norm = nn.ModuleDict({m: nn.LayerNorm(d) for m in modalities})
        self.ffn = nn.ModuleDict({m: FeedForward(d, p, cfg.ffn_expansion, cfg.ffn_activation) for m in modalities})
        self.dropout = Dropout(p)

    def forward(self, feats: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        maps: dict[str, torch.Tensor] = {}
        after_self = {}
        for m in self.modalities:
            normed = self.self_norm[m](feats[m])
            attended, maps[f"{m}_self"] = self.self_attention[m](normed, normed)
            after_self[m] = feats[m] + self.dropout(attended)
        out = {}
        for m in self.modalities:
            x = after_self[m]
            others = [o for o in self.modalities if o != m]
            if others:
                attended, maps[f"{m}_cross"] = self.cross_attention[m](
                    self.cross_norm[m](x), self.cross_norm[m](after_self[others[0]]))
                x = x + self.dropout(attended)
            out[m] = x + self.dropout(self.ffn[m](self.ffn_norm[m](x)))
        return out, maps


class AssociationStack(nn.Module):
    """N association blocks; returns f^_x, the per-block pooled m_x and every attention map."""

    def __init__(self, cfg: ModelConfig, modalities: tuple[str, ...]):
        super().__init__()
        self.modalities = modalities
        block = JointAssociationBlock if cfg.association == "joint" else CrossAssociationBlock
        self.modality_embedding = nn.ParameterDict(
            {m: nn.Parameter(torch.randn(cfg.d_model) * cfg.init_std) for m in modalities}
            if cfg.association == "joint" and len(modalities) > 1 else {})
        self.blocks = nn.ModuleList(block(cfg, modalities) for _ in range(cfg.association_layers))

    def forward(self, feats: dict[str, torch.Tensor]) -> AssociationOutput:
        x = {m: feats[m] + self.modality_embedding[m] if m in self.modality_embedding else feats[m]
             for m in self.modalities}
        out = AssociationOutput(high=x)
        for i, block in enumerate(self.blocks, start=1):
            x, maps = block(x)
            out.pooled.append({m: x[m].mean(1) for m in self.modalities})
            out.attention.update({f"association_{i}" + (f"_{k}" if k else ""): v for k, v in maps.items()
                                  if v is not None})
        out.high = x
        return out


class AudioVisualContrast(nn.Module):
    """Symmetric InfoNCE between m_v and m_a with same-video negatives removed (fixed or learnt tau)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.every_block, self.min_tau = cfg.contrastive == "every", cfg.min_tau
        log_tau = torch.tensor(math.log(cfg.tau))
        if cfg.tau_learnable:
            self.log_tau = nn.Parameter(log_tau)
        else:
            self.register_buffer("log_tau", log_tau)

    @property
    def tau(self) -> torch.Tensor:
        return self.log_tau.exp().clamp_min(self.min_tau)

    def forward(self, pooled: list[dict[str, torch.Tensor]], video_index: torch.Tensor | None) -> torch.Tensor:
        blocks = pooled if self.every_block else pooled[-1:]
        losses = [info_nce(p["visual"], p["audio"], self.tau, video_index) for p in blocks]
        return torch.stack(losses).mean()
