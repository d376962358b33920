"""MCD (Mutual Correlation Distillation), its components and the baselines.

One file per component of the paper's overview figure (see :mod:`mcdlib.models.mcd` for the
map), plus :mod:`~mcdlib.models.baselines`, :func:`build_model` and the summary helpers.
Every model's ``forward(batch) -> {"logits", "losses", "attention", "aux"}``.
"""

from mcdlib.models.baselines import AVST, LateFusion, QuestionOnly
from mcdlib.models.mcd import MCD
from mcdlib.models.registry import MODELS, build_model, feature_inputs, toy_model_config
from mcdlib.models.summary import count_parameters, describe_model, parameter_table

__all__ = ["AVST", "LateFusion", "MCD", "MODELS", "QuestionOnly", "build_model", "count_parameters", "feature_inputs",
           "describe_model", "parameter_table", "toy_model_config"]
