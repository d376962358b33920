"""The speed benchmarks run (their figures are measured by hand and written in BENCHMARKS.md, never asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_bench_gpu_says_no_cuda_device_and_runs_its_path_on_the_cpu(capsys, monkeypatch):
    bench = _load("bench_gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.main([]) == 0
    assert "no CUDA device" in capsys.readouterr().out
    assert bench.main(["--device", "cpu", "--shapes", "toy", "--models", "late", "--batch-size", "4",
                       "--steps", "2", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "| late | off |" in out and "projected MUSIC-AVQA epoch" in out


def test_published_avst_restatement_runs_at_the_published_shapes_and_interleaves_as_published():
    bench = _load("bench_models")
    pos, neg = torch.randn(5, 2), torch.randn(5, 2)
    rows, labels = bench.interleave_loop(pos, neg)
    fast_rows, fast_labels = bench.interleave_vectorised(pos, neg)
    assert torch.equal(rows, fast_rows) and labels.tolist() == [1, 0] * 5 == fast_labels.tolist()
    model = bench.PublishedAVST(d=32, audio_dim=8, heads=4)
    grid = torch.randn(2, 3, 32, 2, 2)
    answers, match_pos, match_neg = model(torch.randn(2, 3, 8), grid, grid.roll(1, 0), torch.randint(0, 93, (2, 14)))
    assert answers.shape == (2, 42) and match_pos.shape == match_neg.shape == (6, 2)
