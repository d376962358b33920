"""Self-checking cells (mcdlib.workbook.checks): exact / close / not close / shape mismatch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mcdlib.workbook.checks import check_close, check_exact


def test_exact_match_reports_exact(capsys):
    assert check_close("weights", torch.arange(6.0).reshape(2, 3), np.arange(6.0).reshape(2, 3)) is True
    assert capsys.readouterr().out == "weights: exact (max |diff| 0.0e+00) ✓\n"


def test_close_match_reports_the_difference(capsys):
    expected = np.linspace(0, 1, 5)
    assert check_close("logits", expected + 3e-7, expected) is True
    assert capsys.readouterr().out == "logits: close (max |diff| 3.0e-07) ✓\n"


def test_not_close_raises_with_the_tolerances(capsys):
    with pytest.raises(AssertionError, match=r"loss: max \|diff\| 0.5 exceeds atol=1e-05, rtol=0.0001"):
        check_close("loss", [1.0, 2.5], [1.0, 2.0])
    assert capsys.readouterr().out == "loss: NOT close (max |diff| 5.0e-01) ✗\n"


def test_tolerances_are_honoured():
    assert check_close("loose", [1.0, 2.5], [1.0, 2.0], atol=0.6, raise_on_fail=False) is True
    assert check_close("tight", [1.0, 2.0 + 1e-6], [1.0, 2.0], atol=0.0, rtol=0.0, raise_on_fail=False) is False


def test_shape_mismatch_names_both_shapes(capsys):
    with pytest.raises(AssertionError, match=r"attention: shape \(2, 3\) differs from the expected \(3, 2\)"):
        check_close("attention", np.zeros((2, 3)), torch.zeros(3, 2))
    assert "✗" in capsys.readouterr().out


def test_raise_on_fail_false_returns_false(capsys):
    assert check_close("shape", np.zeros(3), np.zeros(4), raise_on_fail=False) is False
    assert check_close("values", np.ones(3), np.zeros(3), raise_on_fail=False) is False
    out = capsys.readouterr().out.splitlines()
    assert out == ["shape: shape (3,) differs from the expected (4,) ✗", "values: NOT close (max |diff| 1.0e+00) ✗"]


def test_empty_arrays_and_gradients_are_fine(capsys):
    assert check_close("empty", np.zeros((0, 4)), torch.zeros(0, 4)) is True
    assert check_close("grad", torch.ones(2, requires_grad=True) * 2, [2.0, 2.0]) is True
    assert capsys.readouterr().out.splitlines()[0] == "empty: exact (max |diff| 0.0e+00) ✓"


def test_check_exact(capsys):
    assert check_exact("answer", "two", "two") is True
    assert capsys.readouterr().out == "answer: exact ✓\n"
    with pytest.raises(AssertionError, match=r"count: got 3, expected 2"):
        check_exact("count", 3, 2)
    assert capsys.readouterr().out == "count: got 3, expected 2 ✗\n"
    assert check_exact("label", "Audio", "Visual", raise_on_fail=False) is False
