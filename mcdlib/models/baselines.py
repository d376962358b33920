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
from mcdlib.models.header import answer_logits, mlp_head, option_projection
from mcdlib.models.projections import ModalityProjections, QuestionEncoder, input_modalities

__all__ = ["AVST", "LateFusion", "QuestionOnly"]


def _outputs(logits: torch.Tensor, losses: dict | None = None, attention: dict | None = None,
             aux: dict | None = None) -> dict:
    return {"logits": logits, "losses": losses or {}, "attention": attention or {}, "aux": aux or {}}


def _head(d_in: int, cfg: ModelConfig, spec: DataSpec) -> tuple[nn.Sequential, nn.Linear | None]:
    """The baselines' MLP head and, for multiple choice, the option projection: the MLP then ends
    in d and scores the batch's options (as MCD's header, :func:`mcdlib.models.header.score_options`)."""
    options = option_projection(spec, cfg.d_model)
    out = cfg.d_model if options is not None else spec.num_answers
    return mlp_head(d_in, cfg.d_model, out, cfg.header_dropout), options


class QuestionOnly(nn.Module):
    """Question vector -> MLP (``model.name=qonly``): what the question alone tells (CHOICE).

    With multiple choice it scores the options from the question alone (what question and
    option texts tell without audio or vision)."""

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        self.question = QuestionEncoder(cfg, spec)
        self.head, self.options = _head(cfg.d_model, cfg, spec)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        return _outputs(answer_logits(self.head(self.question(batch).vector), self.options, batch))


class LateFusion(nn.Module):
    """[mean_t f_v; mean_t f_a; question vector] -> MLP (``model.name=late``, CHOICE).

    ``modalities=a`` / ``v`` give the audio-only / visual-only variants (``none`` = question only).
    With multiple choice the MLP's output scores the options.
    """

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        self.modalities = input_modalities(cfg)
        self.question = QuestionEncoder(cfg, spec)
        self.inputs = ModalityProjections(cfg, spec, self.modalities, positions=False)
        d_in = cfg.d_model * (1 + len(self.modalities))
        self.head, self.options = _head(d_in, cfg, spec)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        pooled = [f.mean(1) for f in self.inputs(batch).values()]
        out = self.head(torch.cat([*pooled, self.question(batch).vector], dim=-1))
        return _outputs(answer_logits(out, self.options, batch))
