"""Semantic approximation: distil the audio and visual points into the question point
(figure: "Semantic Approximation", projection_1/2/3, teachers -> student).

KNOWN (paper): three projections - projection_1 on the visual features, projection_2 on the
audio features, projection_3 on f^_q - into a shared latent space; knowledge distillation with
the audio and visual points as teachers and the question point as the student, "using
contrastive learning and distillation".

CHOICE (mcdlib): z_v = P1(mean_t f_v), z_a = P2(mean_t f_a) on the low-level (projected
encoder) features, z_q = P3(f^_q); each P is Linear -> GELU -> Linear to ``d_latent``, then
L2-normalised. Loss (switch ``sa_loss``), averaged over the teachers (``sa_teachers``):

* ``infonce`` (default): in-batch InfoNCE from z_q (queries) to the teacher points (keys),
  temperature ``sa_tau`` (0, the default, reuses the fixed ``tau`` of the AV contrastive loss),
  same-video pairs removed from the negatives;
* ``kl``: :func:`~mcdlib.models.losses.relational_kl`; ``mse``: squared distance;
* ``off``: no module is built.

``teachers_detached=True`` (default) stops gradients through the teacher points: P1 and P2
then receive no gradient from the distillation (with ``sa_teacher_loss=none`` they stay fixed
random maps of f_v, f_a, which still train through the other paths); set it to False to train
them by the distillation too (the teacher then also moves towards the student).
``sa_teacher_loss=av_infonce`` gives the teachers their own objective: a symmetric audio-visual
InfoNCE between z_v and z_a (same temperature, same-video negatives removed), added to the SA
loss, so the teacher points learn a shared audio-visual space while the student is distilled
into them (applied when both teachers are present; a single teacher has no pair). With
``sa_teachers=both`` only the modalities the model sees are teachers; naming a single teacher
the model does not see is a :class:`~mcdlib.errors.ConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcdlib.config import ModelConfig
from mcdlib.errors import ConfigError
from mcdlib.models.losses import info_nce, relational_kl, squared_distance

TEACHERS = {"both": ("visual", "audio"), "visual": ("visual",), "audio": ("audio",)}


def semantic_teachers(cfg: ModelConfig, modalities: tuple[str, ...]) -> tuple[str, ...]:
    """The teacher modalities the semantic approximation uses (empty: no SA loss)."""
    if cfg.sa_loss == "off":
        return ()
    wanted = TEACHERS[cfg.sa_teachers]
    if cfg.sa_teachers != "both" and wanted[0] not in modalities:
        raise ConfigError(f"model.sa_teachers={cfg.sa_teachers} but model.modalities={cfg.modalities} gives the "
                          f"model no {wanted[0]} features; set model.sa_teachers=both or model.sa_loss=off")
    return tuple(m for m in wanted if m in modalities)


def latent_projection(d_model: int, d_latent: int) -> nn.Module:
    """A 2-layer MLP into the shared latent space (Linear -> GELU -> Linear)."""
    return nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, d_latent))


@dataclass
class ApproximationOutput:
    """The SA loss (unweighted) and the latent points (question and teachers)."""

    loss: torch.Tensor
    points: dict[str, torch.Tensor] = field(default_factory=dict)


class SemanticApproximation(nn.Module):
    """projection_1 (visual), projection_2 (audio), projection_3 (question) and the SA loss."""

    def __init__(self, cfg: ModelConfig, teachers: tuple[str, ...]):
        super().__init__()
        if not teachers:
            raise ConfigError("SemanticApproximation needs at least one teacher modality")
        self.loss_name, self.tau, self.detached = cfg.sa_loss, cfg.sa_tau or cfg.tau, cfg.teachers_detached
        self.teacher_loss = cfg.sa_teacher_loss if len(teachers) > 1 else "none"
        self.teachers = nn.ModuleDict({m: latent_projection(cfg.d_model, cfg.d_latent) for m in teachers})
        self.student = latent_projection(cfg.d_model, cfg.d_latent)

    def _distil(self, student: torch.Tensor, teacher: torch.Tensor, video_index: torch.Tensor | None) -> torch.Tensor:
        if self.loss_name == "infonce":
            return info_nce(student, teacher, self.tau, video_index, symmetric=False)
        if self.loss_name == "kl":
            return relational_kl(student, teacher, self.tau)
        return squared_distance(student, teacher)

    def forward(self, low: dict[str, torch.Tensor], question: torch.Tensor,
                video_index: torch.Tensor | None = None) -> ApproximationOutput:
        """``low``: modality -> f_x [B, T, d]; ``question``: f^_q [B, d]."""
        z_q = F.normalize(self.student(question), dim=-1)
        out = ApproximationOutput(loss=question.new_zeros(()), points={"question": z_q})
        losses = []
        for m, projection in self.teachers.items():
            z_t = F.normalize(projection(low[m].mean(1)), dim=-1)
            out.points[m] = z_t
            losses.append(self._distil(z_q, z_t.detach() if self.detached else z_t, video_index))
        out.loss = torch.stack(losses).mean()
        if self.teacher_loss == "av_infonce":
            out.loss = out.loss + info_nce(out.points["visual"], out.points["audio"], self.tau, video_index)
        return out
