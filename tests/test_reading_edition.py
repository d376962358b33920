"""The one-file reading edition computes exactly what build_model computes with the default config."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from mcdlib.config import ModelConfig
from mcdlib.data.spec import random_batch, toy_spec
from mcdlib.models import build_model
from mcdlib.models import reading_edition
from mcdlib.models.reading_edition import from_library, load_library_weights
from mcdlib.train.device import amp_settings
from mcdlib.train.loop import forward_losses


def _pair(cfg: ModelConfig, spec, seed: int = 0):
    torch.manual_seed(seed)
    library = build_model(cfg, spec)
    reading = reading_edition.MCD(spec.audio_dim, spec.visual_dim, spec.text_dim, spec.segments, spec.num_answers,
                                  d=cfg.d_model, n_heads=cfg.n_heads, layers=cfg.association_layers,
                                  d_latent=cfg.d_latent, dropout=cfg.dropout, header_dropout=cfg.header_dropout,
                                  tau=cfg.tau, lambda_con=cfg.lambda_con, lambda_sa=cfg.lambda_sa)
    return library, load_library_weights(reading, library)


def _compare(library_out: dict, reading_out: dict, atol: float = 1e-5) -> None:
    torch.testing.assert_close(reading_out["logits"], library_out["logits"], atol=atol, rtol=1e-4)
    assert set(reading_out["losses"]) == set(library_out["losses"]) == {"contrastive", "semantic"}
    for name in library_out["losses"]:
        torch.testing.assert_close(reading_out["losses"][name], library_out["losses"][name], atol=atol, rtol=1e-4)
    assert set(reading_out["attention"]) == set(library_out["attention"])
    for name, value in library_out["attention"].items():
        torch.testing.assert_close(reading_out["attention"][name], value, atol=atol, rtol=1e-4)


def test_default_config_same_outputs():
    """ModelConfig() as it is (d=512, 8 heads, N=2, d_latent=256): same logits, losses, maps in eval."""
    spec = toy_spec(segments=6, text_dim=24)
    library, reading = _pair(ModelConfig(), spec)
    batch = random_batch(spec, 6, seed=1, videos_per_batch=3)
    library.eval(), reading.eval()
    with torch.no_grad():
        _compare(library(batch), reading(batch), atol=2e-5)


def test_every_library_parameter_has_a_reading_name_and_back():
    spec = toy_spec(segments=4)
    library, reading = _pair(dataclasses.replace(ModelConfig(), d_model=16, n_heads=2, d_latent=8), spec)
    assert set(from_library(library.state_dict())) == set(reading.state_dict())
    assert sum(p.numel() for p in library.parameters()) == sum(p.numel() for p in reading.parameters())


def test_training_steps_follow_the_same_loss_curve():
    """Dropout 0: a few Adam steps give the same losses, step by step."""
    spec = toy_spec(segments=4)
    cfg = dataclasses.replace(ModelConfig(), d_model=32, n_heads=4, d_latent=16, dropout=0.0, header_dropout=0.0)
    library, reading = _pair(cfg, spec, seed=3)
    amp = amp_settings(torch.device("cpu"), "off")
    curves = []
    for model in (library, reading):
        model.train()
        optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
        curve = []
        for step in range(6):
            batch = random_batch(spec, 8, seed=step, videos_per_batch=4)
            ce, aux, _ = forward_losses(model, batch, torch.device("cpu"), amp)
            loss = ce + sum(aux.values())
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            curve.append(loss.item())
        curves.append(curve)
    assert curves[0] == pytest.approx(curves[1], abs=1e-4)
    assert curves[0][-1] < curves[0][0]


def test_the_reading_edition_needs_only_torch():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(reading_edition.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "math", "re", "torch"}, imported
