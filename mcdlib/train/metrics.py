"""Per-epoch metrics: sample-weighted losses and the official accuracies.

:class:`EpochMeter` collects, batch after batch, the cross-entropy and every auxiliary loss
(weighted by batch size) and the predicted / true answer and cell index of each question.
:meth:`EpochMeter.summary` gathers them from every DDP rank and turns them into one record::

    {"loss": 2.31, "ce": 2.05, "con": 0.14, "sa": 0.12, "n": 512,
     "acc": 41.2, "cells": {"Audio Counting": ..., ..., "Overall": 41.2}}

The accuracies (in %, None for a cell without questions) come from
:func:`mcdlib.evaluation.evaluate_indices` (the official cell logic: argmax answer, per
(scenario, type) cell, scenario and overall pooled over questions; for AVQA data the dataset's
scheme: per question type, relation and overall), each question counted
once: DDP shards padded to equal length repeat a few questions, which are dropped by id. The
mean losses are over every sample seen (pads included).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mcdlib.evaluation import evaluate_indices
from mcdlib.train.distributed import Distributed


class EpochMeter:
    """Accumulates one pass over a split (on the device: no host sync per step)."""

    def __init__(self, scheme=None) -> None:
        self.scheme = scheme  # the dataset's ReportScheme (None: MUSIC-AVQA)
        self._sums: dict[str, torch.Tensor] = {}
        self._count = 0
        self._pred: list[torch.Tensor] = []
        self._answer: list[torch.Tensor] = []
        self._cell: list[torch.Tensor] = []
        self._qid: list[torch.Tensor] = []

    def update(self, ce: torch.Tensor, aux_losses: dict[str, torch.Tensor], logits: torch.Tensor,
               batch: dict[str, torch.Tensor]) -> None:
        """Add one batch: its mean CE, its (weighted) auxiliary losses, and its predictions."""
        n = int(batch["answer"].shape[0])
        total = ce.detach().float()
        self._add("ce", total, n)
        for name, value in aux_losses.items():
            value = value.detach().float()
            total = total + value
            self._add(name, value, n)
        self._add("loss", total, n)
        self._count += n
        self._pred.append(logits.detach().argmax(dim=-1))
        self._answer.append(batch["answer"].detach())
        self._cell.append(batch["type_index"].detach())
        self._qid.append(batch["question_id"].detach())

    def _add(self, name: str, value: torch.Tensor, n: int) -> None:
        self._sums[name] = self._sums.get(name, 0.0) + value * n

    @property
    def count(self) -> int:
        return self._count

    def running_loss(self) -> float:
        """Mean total loss so far on this rank (for progress bars; syncs the device)."""
        return float(self._sums["loss"]) / max(self._count, 1) if self._count else float("nan")

    def local_state(self) -> dict[str, Any]:
        """Plain (picklable, CPU) loss sums and per-question arrays of this rank."""
        def cat(parts):
            return torch.cat(parts).cpu().numpy() if parts else np.zeros(0, dtype=np.int64)
        return {"sums": {k: float(v) for k, v in self._sums.items()}, "count": self._count,
                "question_id": cat(self._qid), "answer": cat(self._answer), "pred": cat(self._pred),
                "cell": cat(self._cell)}

    def summary(self, dist: Distributed | None = None) -> dict[str, Any]:
        """The epoch record, reduced over every rank (every rank gets the same record)."""
        states = dist.gather(self.local_state()) if dist is not None else [self.local_state()]
        return summarize(states, self.scheme)


def summarize(states: list[dict[str, Any]], scheme=None) -> dict[str, Any]:
    """Merge per-rank :meth:`EpochMeter.local_state` dicts into an epoch record."""
    count = sum(s["count"] for s in states)
    names: list[str] = []
    for s in states:
        names += [k for k in s["sums"] if k not in names]
    record: dict[str, Any] = {}
    order = ["loss", "ce"] + sorted(k for k in names if k not in ("loss", "ce"))
    for name in order:
        total = sum(s["sums"].get(name, 0.0) for s in states)
        record[name] = total / count if count else float("nan")
    arrays = {k: np.concatenate([s[k] for s in states]) for k in ("question_id", "answer", "pred", "cell")}
    _, first = np.unique(arrays["question_id"], return_index=True)  # DDP shards repeat a few questions
    first.sort()
    result = evaluate_indices(arrays["answer"][first], arrays["pred"][first], arrays["cell"][first],
                              scheme=scheme)
    record["n"] = result.n
    record["acc"] = result.overall
    record["cells"] = {label: acc for label, acc, _, _ in result.rows()}
    return record
