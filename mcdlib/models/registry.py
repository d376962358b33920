"""``build_model(model_cfg, spec)``: the one way to construct any model by its config name.

MCD and every baseline take the batch dict of docs/ARCHITECTURE.md and return the same output
dict, so the one training loop trains them all.
"""

from __future__ import annotations

import dataclasses

import torch.nn as nn

from mcdlib.config import ModelConfig, apply_overrides
from mcdlib.data.spec import DataSpec
from mcdlib.errors import ConfigError
from mcdlib.models.baselines import AVST, LateFusion, QuestionOnly
from mcdlib.models.mcd import MCD
from mcdlib.models.projections import input_modalities

#: ``ModelConfig.name`` -> model class (constructor ``(cfg, spec)``)
MODELS: dict[str, type[nn.Module]] = {"mcd": MCD, "qonly": QuestionOnly, "late": LateFusion, "avst": AVST}


def feature_inputs(model_cfg: ModelConfig) -> frozenset[str]:
    """The deep-feature batch keys a model built from ``model_cfg`` reads (the loader loads only
    these): none for question-only, the seen modalities for MCD and late fusion, and audio,
    frames and the grid for AVST."""
    if model_cfg.name == "qonly":
        return frozenset()
    if model_cfg.name == "avst":
        return frozenset({"audio", "visual", "visual_grid"})
    return frozenset(input_modalities(model_cfg))


def build_model(model_cfg: ModelConfig, spec: DataSpec) -> nn.Module:
    """Build the model named ``model_cfg.name`` for data described by ``spec``."""
    if model_cfg.name not in MODELS:
        raise ConfigError(f"model.name={model_cfg.name!r} is not a model; choose one of {', '.join(MODELS)}")
    if model_cfg.d_model % model_cfg.n_heads:
        raise ConfigError(f"model.d_model={model_cfg.d_model} is not divisible by model.n_heads="
                          f"{model_cfg.n_heads}; choose n_heads dividing d_model")
    return MODELS[model_cfg.name](model_cfg, spec)


#: a model small enough for unit tests and toy-tensor notebook cells (pairs with ``toy_spec``)
TOY_SIZES = {"d_model": 16, "n_heads": 2, "d_latent": 8, "lstm_embed": 8, "association_layers": 1, "dropout": 0.0}


def toy_model_config(**overrides) -> ModelConfig:
    """A tiny :class:`ModelConfig` (:data:`TOY_SIZES`) with keyword overrides, validated like YAML.

    >>> toy_model_config(fusion="concat").d_model
    16
    """
    return apply_overrides(dataclasses.replace(ModelConfig(), **TOY_SIZES), overrides)
