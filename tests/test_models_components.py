"""The MCD components one by one on toy tensors: text objects, association, aggregator, SA, header."""

from __future__ import annotations

import pytest
import torch

from mcdlib.data.spec import random_batch, toy_spec
from mcdlib.errors import ConfigError
from mcdlib.models import toy_model_config
from mcdlib.models.aggregator import HierarchicalAggregation, segment_relevance, top_segments
from mcdlib.models.approximation import SemanticApproximation, semantic_teachers
from mcdlib.models.association import AssociationStack, AudioVisualContrast
from mcdlib.models.header import PredictionHeader
from mcdlib.models.losses import info_nce
from mcdlib.models.projections import LSTMQuestionEncoder, QuestionFeatures
from mcdlib.models.text_objects import TextObjectEncoder

SPEC = toy_spec()
D = toy_model_config().d_model


def _question(batch_size=3, length=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    mask = torch.arange(length)[None, :] < torch.tensor([5, 2, 3][:batch_size])[:, None]
    tokens = torch.randn(batch_size, length, D, generator=g)
    return QuestionFeatures(tokens=tokens, mask=mask, vector=tokens.mean(1))


@pytest.mark.parametrize("text_objects, source, expect", [
    ("keywords+types", "label", lambda kind: kind > 0),
    ("keywords", "label", lambda kind: kind == 1),
    ("types", "label", lambda kind: kind == 2),
])
def test_text_objects_select_by_kind(text_objects, source, expect):
    batch = random_batch(SPEC, 6, seed=3)
    out = TextObjectEncoder(toy_model_config(text_objects=text_objects, types_source=source), SPEC)(
        batch, torch.randn(6, D))
    assert out.features.shape == (6, SPEC.max_objects, D) and out.type_logits is None
    assert torch.equal(out.mask, expect(batch["text_objects_kind"]) & batch["text_objects_mask"])


def test_predicted_types_replace_type_labels_by_soft_cell_vectors():
    batch = random_batch(SPEC, 4, seed=1)
    encoder = TextObjectEncoder(toy_model_config(types_source="predicted"), SPEC)
    out = encoder(batch, torch.randn(4, D))
    K = SPEC.max_objects
    assert out.features.shape == (4, K + 2, D) and out.type_logits.shape == (4, 9)
    assert torch.equal(out.mask[:, :K], (batch["text_objects_kind"] == 1) & batch["text_objects_mask"])
    assert out.mask[:, K:].all()
    # a one-hot prediction gives exactly the projected label vectors of that cell
    with torch.no_grad():
        encoder.classifier.net[-1].weight.zero_()
        encoder.classifier.net[-1].bias.copy_(torch.tensor([0.0] * 4 + [50.0] + [0.0] * 4))
    out = encoder(batch, torch.randn(4, D))
    assert torch.allclose(out.features[0, K:], encoder.projection(SPEC.type_object_features[4]), atol=1e-5)


def test_predicted_types_need_the_label_table():
    spec = toy_spec()
    spec.type_object_features = None
    with pytest.raises(ConfigError, match="type_object_features"):
        TextObjectEncoder(toy_model_config(types_source="predicted"), spec)


@pytest.mark.parametrize("association", ["joint", "cross"])
@pytest.mark.parametrize("modalities", [("visual", "audio"), ("audio",)])
def test_association_stack_shapes_and_pooled_per_block(association, modalities):
    cfg = toy_model_config(association=association, association_layers=3)
    feats = {m: torch.randn(2, 4, D) for m in modalities}
    out = AssociationStack(cfg, modalities).eval()(feats)  # eval mode: maps kept
    assert set(out.high) == set(modalities) and all(out.high[m].shape == (2, 4, D) for m in modalities)
    assert len(out.pooled) == 3 and torch.allclose(out.pooled[-1][modalities[0]], out.high[modalities[0]].mean(1))
    assert len(out.attention) == (3 if association == "joint" else 3 * len(modalities) * (1 + (len(modalities) > 1)))


@pytest.mark.parametrize("contrastive", ["last", "every"])
def test_contrast_uses_last_or_every_block(contrastive):
    g = torch.Generator().manual_seed(0)
    pooled = [{"visual": torch.randn(3, D, generator=g), "audio": torch.randn(3, D, generator=g)} for _ in range(2)]
    contrast = AudioVisualContrast(toy_model_config(contrastive=contrastive, tau=0.2))
    videos = torch.tensor([0, 1, 2])
    per_block = [info_nce(p["visual"], p["audio"], 0.2, videos) for p in pooled]
    expected = per_block[-1] if contrastive == "last" else (per_block[0] + per_block[1]) / 2
    assert contrast(pooled, videos).item() == pytest.approx(expected.item(), rel=1e-5)


def test_learnable_tau_gets_a_gradient():
    contrast = AudioVisualContrast(toy_model_config(tau_learnable=True))
    pooled = [{"visual": torch.randn(4, D), "audio": torch.randn(4, D)}]
    contrast(pooled, torch.arange(4)).backward()
    assert contrast.log_tau.grad is not None and contrast.log_tau.grad != 0


def test_top_segments_keeps_exactly_k():
    relevance = torch.tensor([[0.1, 0.5, 0.3, 0.1], [0.4, 0.3, 0.2, 0.1]])
    indices, keep = top_segments(relevance, 2)
    assert keep.sum(1).tolist() == [2, 2] and sorted(indices[0].tolist()) == [1, 2]
    assert top_segments(relevance, 9)[1].all()


def test_segment_relevance_averages_real_tokens_only():
    attn = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]])
    assert segment_relevance(attn, torch.tensor([[True, False, True]])).tolist() == [[0.75, 0.25]]


@pytest.mark.parametrize("levels", ["both", "low", "high"])
def test_aggregator_topk_attends_to_exactly_k_segments(levels):
    torch.manual_seed(0)
    cfg = toy_model_config(topk=2, aggregator_levels=levels)
    agg = HierarchicalAggregation(cfg, ("visual", "audio")).eval()
    q = _question()
    low = {m: torch.randn(3, 4, D) for m in ("visual", "audio")}
    high = {m: torch.randn(3, 4, D) for m in ("visual", "audio")}
    objects = TextObjectEncoder(cfg, SPEC)(random_batch(SPEC, 3), q.vector)
    out = agg(q, low, high, objects)
    assert out.question.shape == (3, D) and out.topk["visual"].shape == (3, 2)
    for name in [f"{lv}_{m}" for lv in (("low", "high") if levels == "both" else (levels,)) for m in low]:
        attended = out.attention[name][q.mask]  # real question tokens x T
        assert torch.allclose(attended.sum(-1), torch.ones(len(attended)), atol=1e-5)
        assert ((attended > 0).sum(-1) == 2).all()


def test_shared_aggregator_is_one_module_separate_is_two():
    shared = HierarchicalAggregation(toy_model_config(), ("visual", "audio"))
    separate = HierarchicalAggregation(toy_model_config(aggregator_shared=False), ("visual", "audio"))
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert list(shared.aggregators) == ["shared"] and list(separate.aggregators) == ["visual", "audio"]
    assert n(separate) - n(shared) == n(shared.aggregators["shared"])


@pytest.mark.parametrize("detached", [True, False])
def test_semantic_approximation_teachers_get_no_gradient_when_detached(detached):
    cfg = toy_model_config(teachers_detached=detached)
    sa = SemanticApproximation(cfg, ("visual", "audio"))
    low = {m: torch.randn(4, 3, D, requires_grad=True) for m in ("visual", "audio")}
    question = torch.randn(4, D, requires_grad=True)
    sa(low, question, torch.arange(4)).loss.backward()
    assert question.grad is not None and all(p.grad is not None for p in sa.student.parameters())
    for m in ("visual", "audio"):
        assert (low[m].grad is None) == detached
        assert all((p.grad is None) == detached for p in sa.teachers[m].parameters())


@pytest.mark.parametrize("sa_loss", ["infonce", "kl", "mse"])
def test_semantic_approximation_losses_are_finite_and_zero_free_for_one_item(sa_loss):
    sa = SemanticApproximation(toy_model_config(sa_loss=sa_loss), ("audio",))
    out = sa({"audio": torch.randn(1, 3, D)}, torch.randn(1, D), torch.tensor([0]))
    assert torch.isfinite(out.loss) and set(out.points) == {"question", "audio"}


def test_semantic_teachers_follow_the_modalities():
    assert semantic_teachers(toy_model_config(), ("audio",)) == ("audio",)
    assert semantic_teachers(toy_model_config(sa_loss="off"), ("visual", "audio")) == ()
    assert semantic_teachers(toy_model_config(), ()) == ()
    with pytest.raises(ConfigError, match="sa_teachers=visual"):
        semantic_teachers(toy_model_config(sa_teachers="visual"), ("audio",))


@pytest.mark.parametrize("fusion, d_in", [("none", D), ("concat", 3 * D), ("add", D)])
def test_header_fusion_input_sizes(fusion, d_in):
    header = PredictionHeader(D, 42, fusion, n_deep=2)
    assert header.mlp[2].in_features == d_in
    assert header(torch.randn(2, D), [torch.randn(2, D), torch.randn(2, D)]).shape == (2, 42)
    assert PredictionHeader(D, 42, fusion, n_deep=0).fusion == "none"


def test_lstm_question_encoder_ignores_padding_length():
    encoder = LSTMQuestionEncoder(20, 8, D)
    ids = torch.tensor([[3, 4, 5, 0, 0, 0]])
    short, long = encoder(ids), encoder(torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1))
    assert torch.allclose(short.vector, long.vector, atol=1e-6)
    assert short.mask.tolist() == [[True] * 3 + [False] * 3] and short.tokens[0, 3:].abs().sum() == 0


def test_multiple_choice_header_scores_each_option_by_dot_product():
    header = PredictionHeader(D, 4, option_dim=6).eval()
    question, options = torch.randn(2, D), torch.randn(2, 4, 6)
    logits = header(question, [], options)
    expected = (header.mlp(question)[:, None, :] * header.options(options)).sum(-1)
    assert logits.shape == (2, 4) and torch.allclose(logits, expected, atol=1e-5)
    with pytest.raises(ConfigError, match="options"):
        header(question, [])
