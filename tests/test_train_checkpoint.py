"""Checkpoints: atomic writes, config identity, and the compatibility checks' messages."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from fakes_train import FakeModel, OtherFakeModel, fake_config
from mcdlib.data.spec import toy_spec
from mcdlib.errors import FeatureError, RunError
from mcdlib.train.checkpoint import (capture_rng_state, check_spec, config_diff, config_hash, load_checkpoint,
                                     load_model_state, restore_rng_state, save_checkpoint)


def test_save_is_atomic_and_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.pt"
    save_checkpoint(path, {"epoch": 1, "model": {"w": torch.ones(2)}})

    def broken_save(obj, f, *args, **kwargs):
        with open(f, "wb") as fh:
            fh.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(RunError, match=r"last.pt: could not write the checkpoint \(OSError: disk full.*previous "
                                       r"last.pt is kept unchanged.*--resume"):
        save_checkpoint(path, {"epoch": 2, "model": {"w": torch.zeros(2)}})
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.pt"]  # no temporary file left


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(RunError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="garbage.pt: not a readable mcdlib checkpoint"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(RunError, match="not an mcdlib checkpoint"):
        load_checkpoint(foreign)


def test_config_hash_ignores_runtime_settings_only():
    cfg = fake_config()
    assert config_hash(cfg) == config_hash(fake_config(train__epochs=40, train__progress=True, train__device="auto"))
    assert config_hash(cfg) != config_hash(fake_config(train__lr=0.5))
    assert config_diff(cfg, fake_config(train__lr=0.5, train__epochs=9)) == ["train.lr: 0.01 -> 0.5"]


def test_spec_mismatch_names_the_feature_and_both_dims():
    saved = toy_spec(audio_dim=8).to_dict()
    with pytest.raises(FeatureError) as err:
        check_spec(saved, toy_spec(audio_dim=128), "run/checkpoints/best.pt")
    message = str(err.value)
    assert "run/checkpoints/best.pt" in message and "audio feature" in message
    assert "audio_dim=8" in message and "data has 128" in message
    check_spec(saved, toy_spec(audio_dim=8), "same")  # no error


def test_weights_of_another_model_name_the_keys():
    cfg = fake_config()
    spec = toy_spec(grid=None, num_answers=6)
    state = OtherFakeModel(cfg.model, spec).state_dict()
    with pytest.raises(RunError) as err:
        load_model_state(FakeModel(cfg.model, spec), state, "best.pt")
    assert "not in this model: extra.bias, extra.weight" in str(err.value)
    wider = FakeModel(cfg.model, toy_spec(grid=None, num_answers=9)).state_dict()
    with pytest.raises(RunError, match=r"shape differs: out.bias \(9,\) vs \(6,\)"):
        load_model_state(FakeModel(cfg.model, spec), wider, "best.pt")


def test_rng_state_round_trip():
    state = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    restore_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected


def test_checkpoint_payload_loads_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"rng": capture_rng_state(), "config": {"a": 1}})
    restore_rng_state(load_checkpoint(path)["rng"])  # torch.load(weights_only=True) inside
