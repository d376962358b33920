"""Text objects: the question's keywords and types, projected to d (figure: "Text objects").

KNOWN (paper): the question's keywords (e.g. 'left', 'violin') and its types (e.g. 'Visual',
'Location') are tokenised and passed through the text encoder; the aggregator fuses them.

CHOICE (mcdlib): each object is one pooled text-encoder vector from the batch
(``text_objects`` [B, K, Dq], ``text_objects_kind`` 1 = keyword, 2 = type label), projected with
Linear + LayerNorm. Switch ``text_objects``: keywords+types | keywords | types | none. The type
labels are privileged information at test time, so switch ``types_source``:

* ``label``: the batch's type-label objects are used as given;
* ``predicted``: they are dropped and replaced by the two label vectors (scenario, type) of
  the cell predicted by a small classifier from the question vector, probability-weighted over
  the 9 cells (``spec.type_object_features`` [9, 2, Dq]); the classifier is trained with
  cross-entropy on ``type_index`` (weighted by ``lambda_type`` in :mod:`mcdlib.models.mcd`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from mcdlib.config import ModelConfig
from mcdlib.data.spec import DataSpec
from mcdlib.errors import ConfigError

KEYWORD, TYPE_LABEL = 1, 2


@dataclass
class TextObjects:
    """Projected text objects and what the type classifier said (None with ``types_source=label``)."""

    features: torch.Tensor  # [B, K', d]
    mask: torch.Tensor  # [B, K'] bool
    type_logits: torch.Tensor | None = None  # [B, num_cells]


class TypeClassifier(nn.Module):
    """Question vector [B, d] -> logits over the question cells [B, num_cells] (Linear-GELU-Linear)."""

    def __init__(self, d_model: int, num_cells: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, num_cells))

    def forward(self, question: torch.Tensor) -> torch.Tensor:
        return self.net(question)


class TextObjectEncoder(nn.Module):
    """Selects, (optionally) predicts and projects the text objects of a batch."""

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        if cfg.text_objects == "none":
            raise ConfigError("TextObjectEncoder built with model.text_objects=none; build none instead")
        self.use_keywords = cfg.text_objects in ("keywords+types", "keywords")
        self.use_types = cfg.text_objects in ("keywords+types", "types")
        self.predict_types = self.use_types and cfg.types_source == "predicted"
        self.projection = nn.Sequential(nn.Linear(spec.text_dim, cfg.d_model), nn.LayerNorm(cfg.d_model))
        if self.predict_types:
            table = spec.type_object_features
            if table is None:
                raise ConfigError("model.types_source=predicted needs the dataset's type-label vectors "
                                  "(DataSpec.type_object_features) but the spec has none; rebuild the text "
                                  "cache or set model.types_source=label")
            self.register_buffer("type_table", torch.as_tensor(table, dtype=torch.float32).clone())
            self.classifier = TypeClassifier(cfg.d_model, self.type_table.shape[0])

    def forward(self, batch: dict[str, torch.Tensor], question: torch.Tensor) -> TextObjects:
        objects, kind = batch["text_objects"], batch["text_objects_kind"]
        real = batch["text_objects_mask"]
        keep = torch.zeros_like(real)
        if self.use_keywords:
            keep |= real & (kind == KEYWORD)
        if self.use_types and not self.predict_types:
            keep |= real & (kind == TYPE_LABEL)
        type_logits = None
        if self.predict_types:
            type_logits = self.classifier(question)
            predicted = torch.einsum("bc,cnd->bnd", type_logits.softmax(-1), self.type_table.to(objects.dtype))
            objects = torch.cat([objects, predicted], dim=1)
            keep = torch.cat([keep, torch.ones(keep.shape[0], predicted.shape[1], dtype=torch.bool,
                                               device=keep.device)], dim=1)
        return TextObjects(features=self.projection(objects), mask=keep, type_logits=type_logits)
