"""The composed MCD model: every ablation switch, masks, gradients, batch of one, errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mcdlib.data.spec import random_batch, toy_spec
from mcdlib.errors import ConfigError
from mcdlib.models import build_model, count_parameters, describe_model, toy_model_config

SPEC = toy_spec()

#: one entry per ablation axis value (docs/MCD_FORMULATION.md "Ablation axes") plus the CHOICE switches
SWITCHES = [
    {}, {"association": "off"}, {"association": "cross"}, {"association_layers": 3},
    {"association_layers": 2, "contrastive": "every"}, {"contrastive": "off"}, {"tau_learnable": True},
    {"aggregator_levels": "low"}, {"aggregator_levels": "high"}, {"aggregator_shared": False},
    {"topk": 2}, {"topk": 2, "aggregator_levels": "high"},
    {"text_objects": "none"}, {"text_objects": "keywords"}, {"text_objects": "types"},
    {"types_source": "predicted"}, {"types_source": "predicted", "text_objects": "types"},
    {"sa_loss": "off"}, {"sa_loss": "kl"}, {"sa_loss": "mse"}, {"sa_teachers": "audio"},
    {"sa_teachers": "visual"}, {"teachers_detached": False},
    {"fusion": "concat"}, {"fusion": "add"},
    {"modalities": "a"}, {"modalities": "v"}, {"modalities": "none"}, {"modalities": "none", "fusion": "concat"},
    {"question_encoder": "lstm"},
    {"sa_teacher_loss": "av_infonce"}, {"sa_teacher_loss": "av_infonce", "teachers_detached": False},
    {"sa_teacher_loss": "av_infonce", "sa_teachers": "audio"}, {"sa_tau": 0.2},
    {"ffn_expansion": 2, "ffn_activation": "relu"}, {"association": "cross", "ffn_activation": "relu"},
    {"init_std": 0.1}, {"tau_learnable": True, "min_tau": 0.05},
]


def _expected_losses(cfg) -> set[str]:
    both = cfg.modalities == "av"
    expected = set()
    if both and cfg.association != "off" and cfg.contrastive != "off":
        expected.add("contrastive")
    if cfg.sa_loss != "off" and cfg.modalities != "none":
        expected.add("semantic")
    if cfg.types_source == "predicted" and cfg.text_objects in ("keywords+types", "types"):
        expected.add("type")
    return expected


@pytest.mark.parametrize("overrides", SWITCHES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_every_switch_gives_valid_outputs(overrides):
    torch.manual_seed(0)
    cfg = toy_model_config(**overrides)
    model = build_model(cfg, SPEC)
    batch = random_batch(SPEC, 5, seed=2, videos_per_batch=3)
    trained = model(batch)  # training mode: no attention maps (the fast paths keep none)
    assert set(trained["losses"]) == _expected_losses(cfg) and not any(
        n.startswith(("low_", "high_", "objects_")) for n in trained["attention"])
    out = model.eval()(batch)  # eval mode: every map, for the clue visualisations
    assert out["logits"].shape == (5, SPEC.num_answers) and torch.isfinite(out["logits"]).all()
    assert set(out["losses"]) == _expected_losses(cfg)
    assert all(v.dim() == 0 and torch.isfinite(v) for v in out["losses"].values())
    T = SPEC.segments
    q_mask = model.question(batch).mask
    for name, attn in out["attention"].items():
        if name.startswith(("low_", "high_")):
            real = attn[q_mask]
            assert real.shape[-1] == T and torch.allclose(real.sum(-1), torch.ones(len(real)), atol=1e-5), name
    if cfg.topk:
        assert out["aux"]["topk_visual"].shape == (5, cfg.topk)
    modalities = {"av": {"visual", "audio"}, "a": {"audio"}, "v": {"visual"}, "none": set()}[cfg.modalities]
    assert {n.rsplit("_", 1)[1] for n in out["attention"] if n.startswith(("low_", "high_"))} == modalities


def test_question_ids_path_works_without_q_tokens_and_tokens_path_says_what_to_do():
    batch = random_batch(SPEC, 3)
    del batch["q_tokens"]
    assert build_model(toy_model_config(question_encoder="lstm"), SPEC)(batch)["logits"].shape == (3, 42)
    with pytest.raises(ConfigError, match="question_encoder=lstm"):
        build_model(toy_model_config(), SPEC)(batch)


def test_auto_question_encoder_follows_the_spec_text_encoder():
    spec = toy_spec()
    spec.text_encoder = "vocab"  # the attribute the dataset spec may carry (data.text_encoder)
    assert build_model(toy_model_config(), spec).question.kind == "lstm"
    assert build_model(toy_model_config(), SPEC).question.kind == "tokens"


def _eval_model(**overrides):
    torch.manual_seed(0)
    return build_model(toy_model_config(**overrides), SPEC).eval()


@pytest.mark.parametrize("overrides", [{}, {"types_source": "predicted", "topk": 2}])
def test_padding_never_changes_outputs(overrides):
    model = _eval_model(**overrides)
    batch = random_batch(SPEC, 4, seed=5)
    changed = dict(batch)
    changed["q_tokens"] = torch.where(batch["q_mask"][..., None], batch["q_tokens"], torch.full_like(batch["q_tokens"], 7.0))
    changed["text_objects"] = torch.where(batch["text_objects_mask"][..., None], batch["text_objects"], -5.0)
    a, b = model(batch), model(changed)
    assert torch.allclose(a["logits"], b["logits"], atol=1e-5)


def test_other_videos_do_not_change_a_question_logits():
    model = _eval_model()
    batch = random_batch(SPEC, 4, seed=6, videos_per_batch=2)  # items 0, 2 share video 0
    changed = dict(batch)
    other = batch["video_index"] != 0
    for key in ("audio", "visual"):
        changed[key] = torch.where(other[:, None, None], torch.randn_like(batch[key]), batch[key])
    a, b = model(batch), model(changed)
    assert torch.allclose(a["logits"][~other], b["logits"][~other], atol=1e-5)
    assert not torch.allclose(a["logits"][other], b["logits"][other])


def test_unused_text_objects_kind_is_ignored():
    model = _eval_model(text_objects="keywords")
    batch = random_batch(SPEC, 4, seed=8)
    changed = dict(batch)
    changed["text_objects"] = torch.where((batch["text_objects_kind"] == 2)[..., None], 3.0, batch["text_objects"])
    assert torch.allclose(model(batch)["logits"], model(changed)["logits"], atol=1e-5)


@pytest.mark.parametrize("overrides", [{}, {"association": "cross", "types_source": "predicted"}, {"modalities": "a"}])
def test_batch_of_one_with_no_text_objects_is_finite(overrides):
    model = build_model(toy_model_config(**overrides), SPEC)
    batch = random_batch(SPEC, 1, seed=3)
    batch["text_objects_mask"] = torch.zeros_like(batch["text_objects_mask"])
    batch["text_objects_kind"] = torch.zeros_like(batch["text_objects_kind"])
    out = model(batch)
    loss = F.cross_entropy(out["logits"], batch["answer"]) + sum(out["losses"].values())
    loss.backward()
    assert torch.isfinite(out["logits"]).all() and torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    if "contrastive" in out["losses"]:
        assert out["losses"]["contrastive"].item() == 0.0


def _without_gradient(overrides) -> set[str]:
    model = build_model(toy_model_config(**overrides), SPEC)
    batch = random_batch(SPEC, 6, seed=4, videos_per_batch=4)
    out = model(batch)
    (F.cross_entropy(out["logits"], batch["answer"]) + sum(out["losses"].values())).backward()
    return {n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0}


@pytest.mark.parametrize("overrides", [
    {"tau_learnable": True}, {"association": "cross", "aggregator_shared": False, "contrastive": "every",
                              "association_layers": 2},
    {"types_source": "predicted", "topk": 2, "fusion": "concat"}, {"question_encoder": "lstm", "sa_loss": "kl"},
])
def test_gradients_reach_every_parameter_but_detached_teachers(overrides):
    missing = _without_gradient(overrides)
    assert {n.split(".")[2] for n in missing} <= {"visual", "audio"}
    assert all(n.startswith("approximation.teachers.") for n in missing)
    assert missing  # the detached teacher projections (projection_1, projection_2) get none


def test_teachers_train_when_not_detached():
    assert _without_gradient({"teachers_detached": False}) == set()


def test_build_model_errors_name_the_key():
    with pytest.raises(ConfigError, match="n_heads"):
        build_model(toy_model_config(n_heads=3), SPEC)
    with pytest.raises(ConfigError, match="sa_teachers"):
        build_model(toy_model_config(modalities="a", sa_teachers="visual"), SPEC)


def test_modalities_not_seen_are_not_read():
    model = _eval_model(modalities="a")
    batch = random_batch(SPEC, 2)
    del batch["visual"], batch["visual_grid"]
    assert model(batch)["logits"].shape == (2, 42)


def test_describe_model_lists_switches_and_parameter_counts():
    model = build_model(toy_model_config(), SPEC)
    text = describe_model(model)
    assert text.startswith(f"MCD: {count_parameters(model):,} trainable parameters")
    assert "association=joint" in text and "aggregation" in text


def test_mcd_multiple_choice_uses_the_option_texts():
    spec = toy_spec(num_answers=4)
    spec.multiple_choice = True  # the AVQA dataset's spec (candidate answers per question)
    model = build_model(toy_model_config(), spec)
    batch = random_batch(spec, 3)
    batch["options"] = torch.randn(3, 4, spec.text_dim)
    assert model(batch)["logits"].shape == (3, 4)


def _outputs(**overrides):
    torch.manual_seed(0)
    model = build_model(toy_model_config(**overrides), SPEC).eval()
    batch = random_batch(SPEC, 6, seed=3)
    with torch.no_grad():
        out = model(batch)
    return model, out


def test_former_hard_coded_choices_are_keys_whose_defaults_change_nothing():
    """FFN width/activation, the 0.02 initialisations, MIN_TAU and the SA temperature (reusing
    tau) are config keys; their defaults give exactly the former model."""
    _, default = _outputs()
    _, explicit = _outputs(ffn_expansion=4, ffn_activation="gelu", init_std=0.02, min_tau=0.01, sa_tau=0.0)
    _, same_tau = _outputs(sa_tau=toy_model_config().tau)
    for out in (explicit, same_tau):
        assert torch.equal(out["logits"], default["logits"])
        assert all(torch.equal(out["aux"][k], default["aux"][k]) for k in ("contrastive", "semantic"))
    wide, _ = _outputs()
    narrow, relu = _outputs(ffn_expansion=2, ffn_activation="relu")
    assert count_parameters(narrow) < count_parameters(wide)
    assert not torch.equal(relu["logits"], default["logits"])
    _, hot = _outputs(sa_tau=1.0)
    assert not torch.equal(hot["aux"]["semantic"], default["aux"]["semantic"])
    clamped, _ = _outputs(tau_learnable=True, tau=0.001, min_tau=0.05)
    assert float(clamped.contrast.tau.detach()) == pytest.approx(0.05)


def test_av_infonce_trains_the_teacher_projections():
    """Detached teachers get no gradient from the distillation; their own AV InfoNCE trains them."""
    batch = random_batch(SPEC, 6, seed=3)

    def teacher_grads(**overrides):
        torch.manual_seed(0)
        model = build_model(toy_model_config(**overrides), SPEC)
        out = model(batch)
        out["losses"]["semantic"].backward()
        return [p.grad for p in model.approximation.teachers.parameters()]

    assert all(g is None for g in teacher_grads())  # random fixed maps
    assert all(g is not None and g.abs().sum() > 0 for g in teacher_grads(sa_teacher_loss="av_infonce"))
    assert all(g is not None for g in teacher_grads(teachers_detached=False))
