"""MUSIC-AVQA defaults that cannot mislead: the annotation version (auto → json_update when the
dataset has it) printed and stored with every result, and feature folders resolved without a
manifest (the official vggish / res18 / res18_14x14, any grid folder), with AVST refused when no
grid resolves. Fixtures: random toy datasets in the official layout, written by the tests."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from mcdlib.cli import main
from mcdlib.config import DataConfig, apply_overrides, get_preset, preset_names
from mcdlib.data.dataset import AVQADataset, ensure_packed, write_toy_dataset
from mcdlib.data.features import detect_features, resolve_data_config, write_random_features
from mcdlib.data.music_avqa import annotation_version_of, load_split, resolve_annotations, split_path
from mcdlib.errors import ConfigError, FeatureError
from mcdlib.train import RunFolder
from mcdlib.train.predict import evaluate_run
from mcdlib.train.loop import data_config_for

SIZES_ORIGINAL = {"train": 24, "val": 8, "test": 9}
SIZES_CORRECTED = {"train": 22, "val": 8, "test": 7}  # different counts, so the version read is visible


@pytest.fixture(scope="module")
def both_versions(tmp_path_factory):
    """A toy dataset with json/ and json_update/ and official-shaped (small) feature folders."""
    root = tmp_path_factory.mktemp("music_avqa")
    write_toy_dataset(root, n_videos=6, split_sizes=SIZES_ORIGINAL, annotations="json", seed=0,
                      features={"vggish": (60, 8), "res18": (60, 12), "res18_14x14": (60, 12, 2, 2)})
    write_toy_dataset(root, n_videos=6, split_sizes=SIZES_CORRECTED, annotations="json_update", seed=1, features={})
    return root


def test_auto_annotations_prefer_the_corrected_version(both_versions, tmp_path):
    assert all(get_preset(name).data.annotations == "auto" for name in preset_names())
    assert resolve_annotations(both_versions) == "json_update"
    assert resolve_annotations(both_versions, "json") == "json"
    only_original = write_toy_dataset(tmp_path / "scenes", n_videos=3, split_sizes={"train": 4}, features={})
    assert resolve_annotations(only_original) == "json"  # the music scenes: json only
    assert resolve_annotations(tmp_path / "empty") == "json"  # nothing yet: the reader's error names json/
    assert len(load_split(both_versions, "test", "auto")) == SIZES_CORRECTED["test"]
    assert split_path(both_versions, "val", "auto").parent.name == "json_update"
    assert annotation_version_of(both_versions / "json_update" / "avqa-test.json") == "json_update"
    assert annotation_version_of(tmp_path / "avqa-test.json").startswith("unknown")


def test_the_dataset_reads_and_names_the_resolved_version(both_versions):
    cfg = DataConfig(root=str(both_versions), text_model="hash", visual_grid_feature="none")
    ensure_packed(cfg, progress=False)
    test = AVQADataset(cfg, "test", progress=False)
    assert test.annotations == "json_update" and len(test) == SIZES_CORRECTED["test"]
    original = AVQADataset(replace(cfg, annotations="json"), "test", progress=False)
    assert original.annotations == "json" and len(original) == SIZES_ORIGINAL["test"]
    assert "json_update" in repr(test)


def test_run_json_summary_and_eval_carry_the_version_and_features(both_versions, tmp_path, capsys):
    data = shutil.copytree(both_versions, tmp_path / "data", ignore=shutil.ignore_patterns("packed", "cache"))
    run = tmp_path / "run"
    settings = ["--set", "train.progress=false", "--set", "train.epochs=1", "--set", "data.text_model=hash"]
    assert main(["train", "--data", str(data), "--model", "late", "--preset", "tiny", "--out", str(run),
                 *settings]) == 0
    printed = capsys.readouterr().out
    assert "annotations json_update" in printed and "audio=vggish visual=res18 grid=-" in printed
    summary = RunFolder(run).status()["data"]
    assert summary["annotations"] == "json_update" and summary["root"] == str(data)
    # late fusion reads no grid: res18_14x14 is neither packed nor loaded for it
    assert summary["features"] == {"audio": "vggish", "visual": "res18", "visual_grid": None}
    packed = json.loads((data / "packed" / "index.json").read_text())["features"]
    assert "res18_14x14" not in packed

    scores = tmp_path / "scores.json"
    assert main(["eval", "--run", str(run), "--split", "test", "--json", str(scores)]) == 0
    table = capsys.readouterr().out
    assert f"(annotations json_update, {SIZES_CORRECTED['test']} questions)" in table
    assert json.loads(scores.read_text())["annotations"] == "json_update"
    assert evaluate_run(run, "test", progress=False).annotations == "json_update"
    assert json.loads(RunFolder(run).scores("test").read_text())["annotations"] == "json_update"

    predictions = RunFolder(run).predictions("test")
    original = data / "json" / "avqa-test.json"
    corrected = data / "json_update" / "avqa-test.json"
    assert main(["eval", "--annotations", str(corrected), "--predictions", str(predictions), "--json",
                 str(scores)]) == 0
    assert "annotations json_update" in capsys.readouterr().out
    assert json.loads(scores.read_text())["annotations"] == "json_update"
    assert main(["eval", "--annotations", str(original), "--predictions", str(predictions)]) == 2
    assert "json vs json_update" in capsys.readouterr().err  # other ids: the message names the versions


def test_official_feature_folders_resolve_without_a_manifest(both_versions):
    assert detect_features(both_versions) == {"audio": "vggish", "visual": "res18", "visual_grid": "res18_14x14"}
    resolved = resolve_data_config(DataConfig(root=str(both_versions)))
    assert resolved.features == ["vggish", "res18", "res18_14x14"] and resolved.seconds == 60
    assert resolve_data_config(DataConfig(root=str(both_versions), visual_grid_feature="none")).visual_grid is None


@pytest.mark.parametrize("shape", [(10, 4, 6), (10, 6, 3, 3)], ids=["cells [S,G,D]", "map [S,D,H,W]"])
def test_any_grid_folder_is_detected(tmp_path, shape):
    ids = ["a", "b"]
    write_random_features(tmp_path, "vggish", ids, (10, 8))
    write_random_features(tmp_path, "res18", ids, (10, 6))
    write_random_features(tmp_path, "my_grid", ids, shape)
    write_random_features(tmp_path, "r2plus1d", ids, (10, 5))  # another vector feature: not a grid
    assert detect_features(tmp_path)["visual_grid"] == "my_grid"
    write_random_features(tmp_path, "other_grid", ids, shape)
    with pytest.raises(FeatureError, match=r"several grid feature folders \(my_grid, other_grid\).*visual_grid_feature"):
        detect_features(tmp_path)


def test_a_model_that_needs_a_grid_is_refused_when_none_resolves(tmp_path, both_versions):
    root = write_toy_dataset(tmp_path / "nogrid", n_videos=3, split_sizes={"train": 4, "val": 2}, features={
        "vggish": (60, 8), "res18": (60, 12)})
    cfg = apply_overrides(get_preset("tiny"), {"data.root": str(root), "model.name": "avst"})
    with pytest.raises(ConfigError) as info:
        data_config_for(cfg)
    message = str(info.value)
    assert str(root / "feats") in message and "res18_14x14" in message and "data.visual_grid_feature" in message
    assert "(folders: res18, vggish)" in message  # the folders that are there
    with_grid = apply_overrides(cfg, {"data.root": str(both_versions)})
    assert data_config_for(with_grid).visual_grid_feature == "auto"  # AVST keeps its grid
    mcd = apply_overrides(with_grid, {"model.name": "mcd"})
    assert data_config_for(mcd).visual_grid_feature == "none"  # MCD reads none: not packed, not loaded
    assert main(["train", "--data", str(root), "--model", "avst", "--preset", "tiny", "--out",
                 str(tmp_path / "avst")]) == 2


def test_grid_shapes_of_detected_folders_reach_avst(both_versions):
    cfg = DataConfig(root=str(both_versions), text_model="hash")
    ensure_packed(cfg, progress=False)
    train = AVQADataset(cfg, "train", progress=False)
    assert train.spec.visual_grid == (4, 12)  # [C=12, 2, 2] maps become 4 cells of 12
    batch = train.batch(np.arange(2))
    assert batch["visual_grid"].shape == (2, 10, 4, 12)
