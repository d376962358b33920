"""Prediction header (figure: "Prediction Header": f^_q -> Dropout -> Activation -> MLP -> answer).

KNOWN (paper): the answer is predicted from f^_q alone through Dropout -> Activation -> MLP;
decision-level fusion (concatenating or adding deep audio-visual features into the answer
vector) is discarded, and the paper compares against both.

CHOICE (mcdlib): Dropout(``header_dropout``) -> GELU -> Linear(d_in, d) -> GELU -> Linear(d, C).
Switch ``fusion`` for the decision-level fusion study: ``none`` (MCD: d_in = d), ``concat``
([f^_q; mean_t f^_v; mean_t f^_a], d_in = d * (1 + number of modalities)) or ``add``
(f^_q + mean_t f^_v + mean_t f^_a). Without deep modalities every fusion is ``none``.

Multiple choice (the AVQA dataset, CHOICE): with ``option_dim`` set, the MLP ends in d instead
of C and each candidate answer text (``batch["options"]`` [B, C, Dq], pooled text-encoder
vectors) is scored by the dot product between that vector and the option's projection.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mcdlib.errors import ConfigError
from mcdlib.models.dropout import Dropout


def mlp_head(d_in: int, d_hidden: int, num_outputs: int, dropout: float) -> nn.Sequential:
    """Dropout -> GELU -> Linear -> GELU -> Linear (shared by MCD's header and the baselines)."""
    return nn.Sequential(Dropout(dropout), nn.GELU(), nn.Linear(d_in, d_hidden), nn.GELU(),
                         nn.Linear(d_hidden, num_outputs))


class PredictionHeader(nn.Module):
    """Answer logits from f^_q, optionally fused with the pooled deep audio-visual features."""

    def __init__(self, d_model: int, num_answers: int, fusion: str = "none", n_deep: int = 0,
                 dropout: float = 0.2, option_dim: int | None = None):
        super().__init__()
        self.fusion = fusion if n_deep else "none"
        d_in = d_model * (1 + n_deep) if self.fusion == "concat" else d_model
        self.mlp = mlp_head(d_in, d_model, d_model if option_dim else num_answers, dropout)
        self.options = nn.Linear(option_dim, d_model) if option_dim else None

    def forward(self, question: torch.Tensor, deep: list[torch.Tensor] | None = None,
                options: torch.Tensor | None = None) -> torch.Tensor:
        """``question`` [B, d]; ``deep``: pooled f^_x [B, d] per modality (used by concat/add);
        ``options`` [B, C, Dq] for a multiple-choice header. Returns logits [B, C]."""
        if self.fusion == "concat":
            question = torch.cat([question, *deep], dim=-1)
        elif self.fusion == "add":
            question = question + torch.stack(deep).sum(0)
        out = self.mlp(question)
        if self.options is None:
            return out
        if options is None:
            raise ConfigError("the model was built for multiple choice (DataSpec.multiple_choice) but the batch "
                              "has no 'options'; rebuild the model from this dataset's spec")
        return torch.einsum("bd,bcd->bc", out, self.options(options))
