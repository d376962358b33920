"""Parameter counts and a short text summary of a model, for notebooks and run logs."""

from __future__ import annotations

import torch.nn as nn


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters; a parameter shared by several modules counts once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def parameter_table(model: nn.Module) -> list[tuple[str, int]]:
    """(top-level child name, trainable parameters) for every child that has any."""
    rows = [(name, count_parameters(child)) for name, child in model.named_children()]
    return [(name, n) for name, n in rows if n]


def describe_model(model: nn.Module) -> str:
    """A few lines: the class, its switches (``model.cfg`` when present) and parameters per part."""
    lines = [f"{type(model).__name__}: {count_parameters(model):,} trainable parameters"]
    cfg = getattr(model, "cfg", None)
    if cfg is not None:
        lines.append("  " + ", ".join(f"{k}={getattr(cfg, k)}" for k in (
            "modalities", "association", "association_layers", "contrastive", "aggregator_levels",
            "aggregator_shared", "topk", "text_objects", "types_source", "sa_loss", "sa_teachers", "fusion")))
    width = max((len(name) for name, _ in parameter_table(model)), default=0)
    lines += [f"  {name:<{width}}  {n:>12,}" for name, n in parameter_table(model)]
    return "\n".join(lines)
