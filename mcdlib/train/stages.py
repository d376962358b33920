"""Training stages: which epochs optimise which objective (one loop, one run folder).

Every model trains in one stage (the full objective: cross-entropy on the answers plus the model's
weighted auxiliary ``losses``), except AVST with ``model.avst_grounding_epochs = G > 0``, which
trains as published (Li et al. 2022, the reference's ``grounding_gen`` then ``net_grd_avst``):

* stage ``grounding``, epochs 1..G: the matching loss ``losses["match"]`` alone (the answer
  head, the question encoder and the temporal attention get no gradient);
* stage ``qa``, epochs G+1..``train.epochs``: the full objective, with a fresh Adam and a fresh
  learning-rate schedule (the reference's second script builds a new optimiser and StepLR).

The stages count inside ``train.epochs``. The loop restarts the optimiser at the first epoch of
a stage (:func:`starts_stage`), whether it runs straight through or resumes from the checkpoint
of the epoch before, so a resumed run still equals an uninterrupted one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mcdlib.config import Config
from mcdlib.errors import ConfigError


@dataclass(frozen=True)
class Stage:
    """Epochs ``first``..``last`` (1-based, inclusive) optimise ``losses`` (None = the full objective)."""

    name: str
    first: int
    last: int
    losses: tuple[str, ...] | None = None

    def loss(self, ce: torch.Tensor, aux: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss of a step: CE + every auxiliary loss, or only this stage's losses."""
        if self.losses is None:
            return ce + sum(aux.values())
        return sum((aux[name] for name in self.losses), ce.new_zeros(()))


def training_stages(cfg: Config) -> list[Stage]:
    """The stages of a run (checks that they fit in ``train.epochs``)."""
    epochs, model = cfg.train.epochs, cfg.model
    grounding = model.avst_grounding_epochs if model.name == "avst" else 0
    if grounding < 0:
        raise ConfigError(f"model.avst_grounding_epochs={grounding} is negative; use 0 (one stage) or more")
    if grounding == 0:
        return [Stage("train", 1, epochs)]
    if grounding >= epochs:
        raise ConfigError(f"model.avst_grounding_epochs={grounding} leaves no question-answering epoch in "
                          f"train.epochs={epochs}; raise train.epochs or lower model.avst_grounding_epochs "
                          "(0 trains in one stage)")
    if model.avst_match_weight <= 0:
        raise ConfigError(f"model.avst_grounding_epochs={grounding} trains the matching loss alone, but "
                          f"model.avst_match_weight={model.avst_match_weight}; set model.avst_grounding_epochs=0 "
                          "or a positive weight")
    return [Stage("grounding", 1, grounding, ("match",)), Stage("qa", grounding + 1, epochs)]


def stage_of(stages: list[Stage], epoch: int) -> Stage:
    """The stage an epoch belongs to (epochs past the last stage, e.g. after raising
    ``train.epochs`` on resume, belong to the last one)."""
    return next((s for s in stages if s.first <= epoch <= s.last), stages[-1])


def starts_stage(stages: list[Stage], epoch: int) -> bool:
    """True at the first epoch of every stage but the first: the optimiser restarts there."""
    return epoch > 1 and any(s.first == epoch for s in stages)


def has_partial_objective(stages: list[Stage]) -> bool:
    """Whether some stage leaves parameters without gradient (DDP must look for unused ones)."""
    return any(s.losses is not None for s in stages)
