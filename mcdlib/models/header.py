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
vectors) is scored by the dot product between that vector and the option's projection
(Linear(Dq, d)): :func:`score_options`. The baselines score options the same way
(:func:`option_projection`, :func:`answer_logits`), so every model answers AVQA questions
with one rule.
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


def option_projection(spec, d_model: int) -> nn.Linear | None:
    """Linear(Dq, d) projecting the option texts of a multiple-choice spec (None otherwise)."""
    return nn.Linear(spec.text_dim, d_model) if getattr(spec, "multiple_choice", False) else None


def score_options(vector: torch.Tensor, projection: nn.Module, options: torch.Tensor | None) -> torch.Tensor:
    """Logits [B, C]: the dot product of each answer vector [B, d] with its projected options
    [B, C, Dq] -> [B, C, d]. A batch without ``options`` is a ConfigError (wrong dataset)."""
    if options is None:
        raise ConfigError("the model was built for multiple choice (DataSpec.multiple_choice) but the batch "
                          "has no 'options'; rebuild the model from this dataset's spec")
    return torch.einsum("bd,bcd->bc", vector, projection(options))


def answer_logits(out: torch.Tensor, projection: nn.Module | None, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """``out`` as logits over the fixed answers, or (multiple choice) scores of the batch's options."""
    return out if projection is None else score_options(out, projection, batch.get("options"))


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
        return out if self.options is None else score_options(out, self.options, options)
