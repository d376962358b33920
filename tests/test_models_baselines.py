"""Baselines under the MCD batch/output contract: question-only, late fusion, AVST."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mcdlib.data.spec import random_batch, toy_spec
from mcdlib.errors import ConfigError
from mcdlib.models import AVST, LateFusion, QuestionOnly, build_model, toy_model_config

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


@pytest.mark.parametrize("grid", [3, None])
def test_avst_outputs_maps_and_gradients(grid):
    spec = toy_spec(grid=grid)
    model = build_model(toy_model_config(name="avst"), spec)
    batch = random_batch(spec, 4, seed=2, videos_per_batch=2)
    out = model(batch)
    G = grid or 1
    assert out["logits"].shape == (4, 42) and set(out["losses"]) == {"match"}
    assert out["attention"]["spatial"].shape == (4, spec.segments, G)
    assert torch.allclose(out["attention"]["spatial"].sum(-1), torch.ones(4, spec.segments), atol=1e-5)
    assert torch.allclose(out["attention"]["temporal_audio"].sum(-1), torch.ones(4), atol=1e-5)
    assert out["aux"]["match"] > 0
    missing = _grads_missing(model, batch)
    assert missing == set()


def test_avst_matching_loss_is_zero_without_other_videos_and_weighted():
    model = build_model(toy_model_config(name="avst", avst_match_weight=0.25), SPEC)
    same = random_batch(SPEC, 3, videos_per_batch=1)
    assert model(same)["losses"]["match"].item() == 0.0
    assert model(random_batch(SPEC, 1))["losses"]["match"].item() == 0.0
    out = model(random_batch(SPEC, 3))
    assert out["losses"]["match"].item() == pytest.approx(0.25 * out["aux"]["match"].item())


def test_avst_negatives_are_the_next_other_video_hand_check():
    torch.manual_seed(0)
    model = build_model(toy_model_config(name="avst"), SPEC).eval()
    batch = random_batch(SPEC, 3, seed=3, videos_per_batch=2)
    batch["video_index"] = torch.tensor([0, 0, 1])  # items 0, 1 share a video; 2 is the only other
    audio = model.audio(batch["audio"])
    frames, cells = model.frame(batch["visual"]), model.grid(batch["visual_grid"])
    positive, _ = model._ground(audio, frames, cells)
    negative, _ = model._ground(audio, frames[[2, 2, 0]], cells[[2, 2, 0]])
    pos = model.match(torch.cat([audio, positive], -1)).flatten(0, 1)
    neg = model.match(torch.cat([audio, negative], -1)).flatten(0, 1)
    expected = F.cross_entropy(pos, torch.ones(len(pos), dtype=torch.long)) + F.cross_entropy(
        neg, torch.zeros(len(neg), dtype=torch.long))
    assert model(batch)["aux"]["match"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_avst_uses_q_ids_only_and_needs_both_modalities():
    batch = random_batch(SPEC, 2)
    del batch["q_tokens"]
    assert build_model(toy_model_config(name="avst"), SPEC)(batch)["logits"].shape == (2, 42)
    with pytest.raises(ConfigError, match="modalities=av"):
        build_model(toy_model_config(name="avst", modalities="a"), SPEC)
    assert isinstance(build_model(toy_model_config(name="avst"), SPEC), AVST)
