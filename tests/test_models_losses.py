"""Hand-checked values of the shared losses and masking helpers (mcdlib.models.losses/attention)."""

from __future__ import annotations

import math

import pytest
import torch

from mcdlib.models.attention import MultiHeadAttention, masked_softmax
from mcdlib.models.losses import (info_nce, masked_mean, relational_kl,
                                  excluded_negatives, squared_distance)


def test_info_nce_matches_hand_computation_on_2x2():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([[0.6, 0.8], [1.0, 0.0]])  # unit vectors: similarities [[.6, 1], [.8, 0]]
    tau = 0.5  # logits [[1.2, 2.0], [1.6, 0.0]]
    rows = [-1.2 + math.log(math.exp(1.2) + math.exp(2.0)), -0.0 + math.log(math.exp(1.6) + 1.0)]
    cols = [-1.2 + math.log(math.exp(1.2) + math.exp(1.6)), -0.0 + math.log(math.exp(2.0) + 1.0)]
    one_way = info_nce(x, y, tau, symmetric=False, reduction="none")
    assert torch.allclose(one_way, torch.tensor(rows), atol=1e-6)
    both = info_nce(x, y, tau)
    assert both.item() == pytest.approx(sum(r + c for r, c in zip(rows, cols)) / 4, abs=1e-6)


def test_info_nce_excludes_excluded_negatives():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 5, generator=g), torch.randn(2, 5, generator=g)
    # two questions of one video: with the pair masked, each row only has its positive -> 0
    dup = info_nce(a[[0, 0]], b[[0, 0]], 0.1, video_index=torch.tensor([7, 7]))
    assert dup.item() == pytest.approx(0.0, abs=1e-7)
    # [A, A, B] gives each row the loss it has in the de-duplicated batch [A, B]
    with_dup = info_nce(a[[0, 0, 1]], b[[0, 0, 1]], 0.1, torch.tensor([0, 0, 1]), reduction="none")
    dedup = info_nce(a, b, 0.1, torch.tensor([0, 1]), reduction="none")
    assert torch.allclose(with_dup, dedup[[0, 0, 1]], atol=1e-6)
    unmasked = info_nce(a[[0, 0, 1]], b[[0, 0, 1]], 0.1, reduction="none")
    assert not torch.allclose(unmasked, with_dup)


def test_excluded_negatives_mask():
    # row 2 (video 1) keeps only the first item of video 0 as a negative
    mask = excluded_negatives(torch.tensor([0, 0, 1]), 3)
    assert mask.tolist() == [[False, True, False], [True, False, False], [False, True, False]]


def test_losses_are_zero_for_a_batch_of_one():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(1, 4, generator=g), torch.randn(1, 4, generator=g)
    assert info_nce(a, b, 0.07).item() == 0.0
    assert relational_kl(a, b, 0.07).item() == pytest.approx(0.0, abs=1e-7)


def test_relational_kl_hand_value():
    teacher = torch.eye(2)
    assert relational_kl(teacher, teacher, 1.0).item() == pytest.approx(0.0, abs=1e-7)
    # student rows swapped: KL per row = (2p - 1) * log(p / (1 - p)) with p = e / (e + 1) -> tanh(1/2)
    swapped = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert relational_kl(swapped, teacher, 1.0).item() == pytest.approx(math.tanh(0.5), abs=1e-6)


def test_squared_distance_of_orthogonal_points_is_two():
    assert squared_distance(torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 2.0]])).item() == pytest.approx(2.0)


def test_masked_mean_ignores_padding_and_all_masked_rows_give_zero():
    x = torch.tensor([[[1.0], [3.0], [100.0]], [[5.0], [6.0], [7.0]]])
    mask = torch.tensor([[True, True, False], [False, False, False]])
    assert masked_mean(x, mask, 1).tolist() == [[2.0], [0.0]]


def test_masked_softmax_sums_to_one_over_real_keys_and_zero_when_all_masked():
    scores = torch.randn(2, 4)
    mask = torch.tensor([[True, False, True, False], [False, False, False, False]])
    probs = masked_softmax(scores, mask)
    assert probs[0].sum().item() == pytest.approx(1.0) and probs[0, [1, 3]].abs().sum() == 0
    assert probs[1].abs().sum() == 0 and torch.isfinite(probs).all()


def test_attention_map_sums_to_one_and_padding_keys_do_not_matter():
    torch.manual_seed(0)
    attn = MultiHeadAttention(8, 2).eval()
    q, k = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    mask = torch.tensor([[True, True, False, False, False], [True, True, True, True, True]])
    out, maps = attn(q, k, mask)
    assert torch.allclose(maps.sum(-1), torch.ones(2, 3), atol=1e-6)
    k2 = k.clone()
    k2[0, 2:] = 99.0
    out2, _ = attn(q, k2, mask)
    assert torch.allclose(out, out2)
    empty, empty_map = attn(q, k, torch.zeros(2, 5, dtype=torch.bool))
    assert torch.isfinite(empty).all() and empty_map.abs().sum() == 0
