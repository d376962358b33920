"""Reliability, settings: every value is range-checked where it enters (the typed config and the
music-scenes profiles), one message and exit 2, never a traceback (docs/RELIABILITY.md)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from mcdlib.cli import main
from mcdlib.config import Config, DataConfig, ModelConfig, TrainConfig, describe, get_preset, preset_names
from mcdlib.scenes.profiles import PROFILES, SceneProfile, get_profile


@pytest.mark.parametrize("override, message", [
    ("train.lr=-1", "train.lr: -1.0 is out of range; allowed: > 0"),
    ("train.batch_size=0", "train.batch_size: 0 is out of range; allowed: >= 1"),
    ("model.dropout=1.5", r"model.dropout: 1.5 is out of range; allowed: \[0, 1\)"),
    ("train.epochs=0", "train.epochs: 0 is out of range; allowed: >= 1"),
    ("train.epochs=-3", "train.epochs: -3 is out of range; allowed: >= 1"),
    ("model.tau=0", "model.tau: 0.0 is out of range; allowed: > 0"),
    ("data.segments=0", "data.segments: 0 is out of range"),
    ("train.seed=-1", "train.seed: -1 is out of range; allowed: >= 0"),
    ("train.lr=nan", "train.lr: nan is out of range"),
    ("data.audio_feature=../../outside", "data.audio_feature: '../../outside' holds a path separator"),
    ("data.test_split=.hidden", "data.test_split: '.hidden' starts with a dot"),
])
def test_out_of_range_settings_are_one_message_exit_2(override, message, capsys):
    assert main(["config", "--preset", "tiny", "--set", override]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.startswith("mcd: error: ") and "Traceback" not in err
    assert re.search(message, err), err


def test_a_range_error_in_a_yaml_file_names_the_file_and_key(tmp_path, capsys):
    path = tmp_path / "run.yaml"
    path.write_text("preset: tiny\ntrain:\n  batch_size: 0\n")
    assert main(["config", "--file", str(path)]) == 2
    assert f"{path}: train.batch_size: 0 is out of range; allowed: >= 1" in capsys.readouterr().err


@pytest.mark.parametrize("content, kind", [("[1, 2]", "list [1, 2]"), ('"just text"', "str 'just text'"),
                                           ("7", "int 7")])
def test_config_file_that_is_not_a_mapping(tmp_path, capsys, content, kind):
    path = tmp_path / "list.json"
    path.write_text(content)
    assert main(["config", "--file", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: the top level holds {kind}, expected a mapping" in err and "Traceback" not in err


def test_every_preset_and_default_is_within_its_ranges():
    for name in preset_names():
        cfg = get_preset(name)  # from_dict checks every value
        assert isinstance(cfg, Config)
    for name in PROFILES:
        assert isinstance(get_profile(name), SceneProfile)


def test_every_numeric_setting_with_a_meaningful_range_declares_it():
    """A number without a range must be one that may be anything (none today)."""
    for cls in (DataConfig, ModelConfig, TrainConfig, SceneProfile):
        for f in dataclasses.fields(cls):
            if f.type in ("int", "float", int, float) or "tuple[float" in str(f.type):
                assert "range" in f.metadata, f"{cls.__name__}.{f.name} has no range"
    assert "[> 0]" in dict((k, t) for k, _, t in describe())["train.lr"]  # `mcd config --keys` shows it


def test_synth_with_a_negative_video_count_says_so_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "ms"
    assert main(["data", "synth", "--profile", "tiny", "--out", str(out), "--set", "videos=-5"]) == 2
    err = capsys.readouterr().err
    assert "music-scenes profile 'tiny': videos: -5 is out of range; allowed: >= 1" in err
    assert "--media" not in err and not out.exists()
    assert main(["data", "synth", "--profile", "tiny", "--out", str(out), "--set", "p_voiceover=1.5"]) == 2
    assert "p_voiceover: 1.5 is out of range; allowed: [0, 1]" in capsys.readouterr().err


@pytest.mark.parametrize("override", ["train.lr=-1", "train.batch_size=0", "model.dropout=1.5", "train.epochs=-3"])
def test_mcd_train_refuses_before_creating_anything(tmp_path, capsys, override):
    run = tmp_path / "run"
    assert main(["train", "--data", str(tmp_path), "--out", str(run), "--set", override]) == 2
    err = capsys.readouterr().err
    assert override.split("=")[0] + ":" in err and "out of range" in err and "Traceback" not in err
    assert not run.exists()


def test_every_test_named_in_docs_reliability_exists():
    """docs/RELIABILITY.md names the test pinning each row (`Rdata::name` = test_reliability_data.py)."""
    from pathlib import Path

    tests = Path(__file__).resolve().parent
    table = (tests.parent / "docs" / "RELIABILITY.md").read_text()
    named = re.findall(r"`R(\w+)::(\w+)`", table)
    assert len(named) >= 20
    for module, name in named:
        source = (tests / f"test_reliability_{module}.py").read_text()
        assert f"def {name}(" in source, f"docs/RELIABILITY.md names a missing test: R{module}::{name}"
