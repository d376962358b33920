"""MCD, Mutual Correlation Distillation (Ye, Yu, Liu 2024): the composition of its components.

Overview figure, left to right, and where each part lives:

=========================================  =================================================
figure                                     mcdlib
=========================================  =================================================
basic encoders + projections f_v, f_a, f_q  :mod:`mcdlib.models.projections` (encoders frozen)
text objects (keywords, types)              :mod:`mcdlib.models.text_objects`
MCM: Association Block x N + contrastive    :mod:`mcdlib.models.association`
MCM: shared Aggregator (Low, High, Hints)   :mod:`mcdlib.models.aggregator`
Semantic Approximation (teachers/student)   :mod:`mcdlib.models.approximation`
Prediction Header                           :mod:`mcdlib.models.header`
=========================================  =================================================

The component boundaries and the data flow are KNOWN (the paper's abstract and figure); every
formula, size and default inside them is a CHOICE of mcdlib (docs/MCD_FORMULATION.md), switchable through
:class:`mcdlib.config.ModelConfig`. The paper's equations and hyper-parameters were not
available, so no number here is the paper's.

``forward(batch)`` follows the model contract of docs/ARCHITECTURE.md and returns
``logits`` [B, C]; ``losses``: ``contrastive`` (lambda_con * L_con), ``semantic`` (lambda_sa *
L_sa), ``type`` (lambda_type * CE of the type classifier, ``types_source=predicted``), each
present only when switched on; ``attention``: association maps, ``low_<x>``, ``high_<x>``,
``objects_<x>``; ``aux``: the unweighted losses, ``tau``, ``type_pred``, ``topk_<x>``.

Multiple choice (AVQA): when the spec has ``multiple_choice=True`` the header scores the
candidate answer texts ``batch["options"]`` [B, C, Dq] instead of a fixed answer list.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcdlib.config import ModelConfig
from mcdlib.data.spec import DataSpec
from mcdlib.models.aggregator import HierarchicalAggregation
from mcdlib.models.approximation import SemanticApproximation, semantic_teachers
from mcdlib.models.association import AssociationStack, AudioVisualContrast
from mcdlib.models.header import PredictionHeader
from mcdlib.models.projections import ModalityProjections, QuestionEncoder, input_modalities
from mcdlib.models.text_objects import TextObjectEncoder


class MCD(nn.Module):
    """The full model; each sub-module is None when its switch turns it off."""

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        self.cfg = cfg
        self.modalities = input_modalities(cfg)
        self.question = QuestionEncoder(cfg, spec, state_vector=False)
        self.inputs = ModalityProjections(cfg, spec, self.modalities)
        use_association = cfg.association != "off" and cfg.association_layers > 0 and bool(self.modalities)
        self.association = AssociationStack(cfg, self.modalities) if use_association else None
        self.contrast = (AudioVisualContrast(cfg)
                         if use_association and cfg.contrastive != "off" and len(self.modalities) == 2 else None)
        self.text_objects = TextObjectEncoder(cfg, spec) if cfg.text_objects != "none" else None
        self.aggregation = HierarchicalAggregation(cfg, self.modalities)
        teachers = semantic_teachers(cfg, self.modalities)
        self.approximation = SemanticApproximation(cfg, teachers) if teachers else None
        self.header = PredictionHeader(cfg.d_model, spec.num_answers, cfg.fusion, len(self.modalities),
                                       cfg.header_dropout,
                                       spec.text_dim if getattr(spec, "multiple_choice", False) else None)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        cfg = self.cfg
        losses: dict[str, torch.Tensor] = {}
        aux: dict[str, torch.Tensor] = {}
        attention: dict[str, torch.Tensor] = {}
        video_index = batch.get("video_index")

        question = self.question(batch)
        low = self.inputs(batch)
        high = low
        if self.association is not None:
            associated = self.association(low)
            high = associated.high
            attention.update(associated.attention)
            if self.contrast is not None:
                loss = self.contrast(associated.pooled, video_index)
                losses["contrastive"] = cfg.lambda_con * loss
                aux["contrastive"], aux["tau"] = loss.detach(), self.contrast.tau.detach()

        objects = self.text_objects(batch, question.vector) if self.text_objects is not None else None
        if objects is not None and objects.type_logits is not None:
            loss = F.cross_entropy(objects.type_logits, batch["type_index"])
            losses["type"] = cfg.lambda_type * loss
            aux["type"], aux["type_pred"] = loss.detach(), objects.type_logits.argmax(-1)

        aggregated = self.aggregation(question, low, high, objects)
        attention.update(aggregated.attention)
        aux.update({f"topk_{m}": idx for m, idx in aggregated.topk.items()})

        if self.approximation is not None:
            approx = self.approximation(low, aggregated.question, video_index)
            losses["semantic"] = cfg.lambda_sa * approx.loss
            aux["semantic"] = approx.loss.detach()

        logits = self.header(aggregated.question, [high[m].mean(1) for m in self.modalities], batch.get("options"))
        return {"logits": logits, "losses": losses, "attention": attention, "aux": aux}
