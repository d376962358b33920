"""Baselines trained by the same loop on the same batches: question-only, late fusion (and AVST,
in :mod:`mcdlib.models.avst`, re-exported here).

None of these is part of the MCD paper's method. Their forms are mcdlib's CHOICES (docs/MCD_FORMULATION.md,
"Baselines"), except AVST, which follows Li et al. 2022 ("Learning to Answer Questions in
Dynamic Audio-Visual Scenarios", CVPR) and its public reference code as closely as pre-extracted
features allow; the remaining deviations are listed in :mod:`mcdlib.models.avst`.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from mcdlib.config import ModelConfig
from mcdlib.data.spec import DataSpec
from mcdlib.models.avst import AVST
from mcdlib.models.header import mlp_head
from mcdlib.models.projections import ModalityProjections, QuestionEncoder, input_modalities

__all__ = ["AVST", "LateFusion", "QuestionOnly"]


def _outputs(logits: torch.Tensor, losses: dict | None = None, attention: dict | None = None,
             aux: dict | None = None) -> dict:
    return {"logits": logits, "losses": losses or {}, "attention": attention or {}, "aux": aux or {}}


class QuestionOnly(nn.Module):
    """Question vector -> MLP (``model.name=qonly``): what the question alone tells (CHOICE)."""

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        self.question = QuestionEncoder(cfg, spec)
        self.head = mlp_head(cfg.d_model, cfg.d_model, spec.num_answers, cfg.header_dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        return _outputs(self.head(self.question(batch).vector))


class LateFusion(nn.Module):
    """[mean_t f_v; mean_t f_a; question vector] -> MLP (``model.name=late``, CHOICE).

    ``modalities=a`` / ``v`` give the audio-only / visual-only variants (``none`` = question only).
    """

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        self.modalities = input_modalities(cfg)
        self.question = QuestionEncoder(cfg, spec)
        self.inputs = ModalityProjections(cfg, spec, self.modalities, positions=False)
        d_in = cfg.d_model * (1 + len(self.modalities))
        self.head = mlp_head(d_in, cfg.d_model, spec.num_answers, cfg.header_dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        pooled = [f.mean(1) for f in self.inputs(batch).values()]
        return _outputs(self.head(torch.cat([*pooled, self.question(batch).vector], dim=-1)))
