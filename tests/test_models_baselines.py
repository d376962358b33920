"""Baselines under the MCD batch/output contract: question-only, late fusion (AVST: tests/test_models_avst.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mcdlib.data.spec import random_batch, toy_spec
from mcdlib.models import LateFusion, QuestionOnly, build_model, toy_model_config

SPEC = toy_spec()


def _grads_missing(model, batch) -> set[str]:
    out = model(batch)
    (F.cross_entropy(out["logits"], batch["answer"]) + sum(out["losses"].values())).backward()
    return {n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0}


@pytest.mark.parametrize("name, overrides, cls", [
    ("qonly", {}, QuestionOnly), ("qonly", {"question_encoder": "lstm"}, QuestionOnly),
    ("late", {}, LateFusion), ("late", {"modalities": "a"}, LateFusion), ("late", {"modalities": "v"}, LateFusion),
    ("late", {"modalities": "none", "question_encoder": "lstm"}, LateFusion),
])
def test_simple_baselines_shapes_and_gradients(name, overrides, cls):
    model = build_model(toy_model_config(name=name, **overrides), SPEC)
    assert isinstance(model, cls)
    batch = random_batch(SPEC, 3, seed=1)
    out = model(batch)
    assert out["logits"].shape == (3, SPEC.num_answers) and out["losses"] == {}
    assert _grads_missing(model, batch) == set()


def test_late_fusion_reads_only_its_modalities():
    model = build_model(toy_model_config(name="late", modalities="v"), SPEC).eval()
    batch = random_batch(SPEC, 2)
    changed = dict(batch, audio=torch.randn_like(batch["audio"]))
    assert torch.equal(model(batch)["logits"], model(changed)["logits"])


def test_question_only_ignores_audio_and_visual():
    model = build_model(toy_model_config(name="qonly"), SPEC).eval()
    batch = random_batch(SPEC, 2)
    changed = dict(batch, audio=-batch["audio"], visual=-batch["visual"])
    assert torch.equal(model(batch)["logits"], model(changed)["logits"])
