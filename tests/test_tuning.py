"""The equal tuning budget (mcdlib.train.tuning, mcd tune) and the study protocol end to end."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
import yaml

import mcdlib.train.ablate as ablate
from fakes_train import FakeModel, fake_config, fake_datasets
from mcdlib.cli import build_parser, main
from mcdlib.cli.ablate import select_variants
from mcdlib.config import get_preset
from mcdlib.errors import ConfigError
from mcdlib.train.ablate import Variant, parse_grid, plan_runs, read_grid, read_tuned
from mcdlib.train.study import HEADLINE_VARIANTS, read_study, run_ablation, val_accuracy
from mcdlib.train.tuning import (configuration_name, merged, parse_tuning_grid, protocol_commands,
                                 read_tuning_grid, tune)

REPO = Path(__file__).resolve().parents[1]
TUNING = REPO / "ablations" / "tuning.yaml"
GRID = REPO / "ablations" / "mcd.yaml"


def small_grid():
    return parse_tuning_grid({
        "models": {"mcd": [], "other": ["model.lambda_con=0"]},
        "shared": {"lr": ["train.lr=0.01", "train.lr=0.05"]},
        "own": {"mcd": ["train.weight_decay=0.001"], "other": [["train.weight_decay=0.01", "train.epochs=3"]]},
    }, "small.yaml")


def test_tuning_files_parse_and_every_model_gets_the_same_budget(tmp_path):
    grid = read_tuning_grid(TUNING)
    assert grid.budget == {"shared": 6, "own": 6, "configurations_per_model": 12}
    assert set(grid.models) == {"mcd", "late", "late_audio", "late_visual", "qonly", "avst"}
    assert {o for option in grid.own["mcd"] for o in option} >= {"model.lambda_con=1.0", "model.lambda_sa=0.25",
                                                                  "model.tau=0.14"}
    # every configuration of the shipped file is a valid run (bad keys would fail here)
    for model, defines in grid.models.items():
        for overrides in grid.shared_configurations() + [merged(grid.shared_configurations()[0], o)
                                                         for o in grid.own[model]]:
            plan_runs([Variant(configuration_name(model, overrides), merged(defines, overrides))],
                      get_preset("tiny"), tmp_path, [0], str(TUNING))
    # the models tuned are the grid's names, so `mcd ablate --tuned` finds each baseline's pick by name
    assert set(grid.models) <= {v.name for v in read_grid(GRID)}
    with pytest.raises(ConfigError, match="same number of own options"):
        parse_tuning_grid({"models": {"a": [], "b": []}, "own": {"a": ["train.lr=1"]}})
    with pytest.raises(ConfigError, match="unknown section"):
        parse_tuning_grid({"models": {"a": []}, "grid": {}})
    with pytest.raises(ConfigError, match="key=value"):
        parse_tuning_grid({"models": {"a": []}, "shared": {"lr": ["0.1"]}})
    assert configuration_name("mcd", ("train.lr=0.0005", "train.epochs=12")) == "mcd.lr-0.0005.epochs-12"
    assert merged(("train.lr=1", "train.epochs=2"), ("train.lr=3",)) == ("train.lr=3", "train.epochs=2")


def test_tune_picks_by_val_resumably_and_ablate_uses_the_picks(tmp_path, monkeypatch):
    grid, data = small_grid(), fake_datasets()
    base = fake_config(train__epochs=2)
    out = tmp_path / "tuning"
    result = tune(grid, base, out, seed=0, datasets=data, model_factory=FakeModel)
    assert len(result.candidates) == 2 * 3  # 2 shared + 1 own per model
    for model in grid.models:
        stage1 = [c for c in result.candidates if c.model == model and c.stage == 1]
        best1 = max(stage1, key=lambda c: (c.val, -stage1.index(c)))
        stage2 = [c for c in result.candidates if c.model == model and c.stage == 2]
        assert [c.overrides[0] for c in stage2] == [best1.overrides[0]]  # stage 2 sits at the stage-1 pick
        assert all(c.val == val_accuracy(c.run_dir) is not None for c in stage1 + stage2)
        pool = [best1] + stage2
        assert result.picks[model].name == max(pool, key=lambda c: (c.val, -pool.index(c))).name
    tuned = read_tuned(out / "tuned.yaml")
    assert tuned.budget["configurations_per_model"] == 3 and tuned.budget["split"] == "val"
    assert tuned.overrides["mcd"] == result.picks["mcd"].overrides
    assert "| **yes** |" in (out / "tuning.md").read_text()
    assert len(json.loads((out / "tuning.json").read_text())["candidates"]) == 6

    calls = []
    monkeypatch.setattr(ablate, "train", lambda *a, **k: calls.append(a))
    again = tune(grid, base, out, seed=0, datasets=data, model_factory=FakeModel)
    assert calls == [] and {m: p.name for m, p in again.picks.items()} == {m: p.name for m, p in result.picks.items()}
    monkeypatch.undo()

    # the seed runs start from the tuned settings: by name, else by model family (mcd for MCD ablations)
    variants = parse_grid({"mcd": [], "other": ["model.lambda_con=0"], "mcd_no_con": ["model.lambda_con=0"]})
    runs = plan_runs(variants, base, tmp_path / "study", [0, 1], tuned=tuned.overrides)
    lr = {r.variant: r.cfg.train.lr for r in runs}
    picked = {m: dict(o.split("=") for o in p.overrides)["train.lr"] for m, p in result.picks.items()}
    assert lr["mcd"] == lr["mcd_no_con"] == float(picked["mcd"]) and lr["other"] == float(picked["other"])
    assert next(r for r in runs if r.variant == "mcd_no_con").cfg.model.lambda_con == 0  # the variant's own wins
    with pytest.raises(ConfigError, match="no tuned settings"):
        plan_runs(parse_grid({"avst": ["model.name=avst"]}), base, tmp_path, [0], tuned=tuned.overrides)
    report = run_ablation(variants[:2], base, tmp_path / "study", [0, 1], datasets=data, model_factory=FakeModel,
                          tuned=out / "tuned.yaml", n_boot=20)
    assert report.tuning["budget"]["configurations_per_model"] == 3
    assert "3 configurations per model" in (tmp_path / "study" / "ablation.md").read_text()


def test_select_only_gives_no_pick_for_an_incomplete_budget(tmp_path):
    grid, data = small_grid(), fake_datasets()
    base = fake_config(train__epochs=1)
    tune(grid, base, tmp_path, only=["mcd"], datasets=data, model_factory=FakeModel)
    result = tune(grid, base, tmp_path, train_missing=False, datasets=data, model_factory=FakeModel)
    assert result.picks["mcd"] is not None and result.picks["other"] is None
    assert yaml.safe_load((tmp_path / "tuned.yaml").read_text())["incomplete"] == ["other"]
    with pytest.raises(ConfigError, match="no model named"):
        tune(grid, base, tmp_path, only=["nope"], datasets=data, model_factory=FakeModel)


def test_headline_groups_and_protocol_commands(tmp_path, capsys):
    variants = read_grid(GRID)
    headline = select_variants(variants, "@headline", "g")
    assert {v.name for v in headline} == set(HEADLINE_VARIANTS)
    others = select_variants(variants, "@others", "g")
    assert {v.name for v in headline} | {v.name for v in others} == {v.name for v in variants}
    assert not {v.name for v in headline} & {v.name for v in others}
    assert {"sa_teachers_trained", "sa_teachers_av"} <= {v.name for v in others}
    parser = build_parser()
    for command in protocol_commands("data/music_scenes/classroom", "runs/study"):
        args = parser.parse_args(shlex.split(command)[1:])  # every documented command parses
        assert args.command in ("tune", "ablate")
    # the plans and their cost, without training anything
    (tmp_path / "data").mkdir()
    common = ["--data", str(tmp_path / "data"), "--preset", "classroom", "--dry-run", "--epoch-seconds", "mcd=36,avst=9.5"]
    assert main(["tune", "--grid", str(TUNING), "--out", str(tmp_path / "tuning"), *common]) == 0
    out = capsys.readouterr().out
    assert "12 configurations per model" in out and "stage 1: 36 runs" in out and "1.08 h" in out
    assert main(["ablate", "--grid", str(GRID), "--out", str(tmp_path), "--seeds", "0-4", "--only", "@headline",
                 *common]) == 0
    out = capsys.readouterr().out
    assert "55 runs (11 variants x 5 seeds)" in out and "(no --epoch-seconds for it)" in out  # late, qonly
    assert not (tmp_path / "mcd").exists() and not (tmp_path / "tuning").exists()  # nothing written


@pytest.mark.slow
def test_the_protocol_end_to_end_on_tiny_data(tiny_data_root, tmp_path, capsys):
    """tune (2 models x 2 configurations + 1 own) -> headline seeds -> --table-only -> study.json."""
    data = tiny_data_root / "music_scenes" / "tiny"
    tuning = tmp_path / "tuning.yaml"
    tuning.write_text(yaml.safe_dump({
        "models": {"mcd": [], "qonly": ["model.name=qonly"]},
        "shared": {"lr": ["train.lr=0.001", "train.lr=0.003"]},
        "own": {"mcd": ["model.lambda_sa=1.0"], "qonly": ["model.header_dropout=0.0"]}}))
    grid = tmp_path / "grid.yaml"
    grid.write_text("mcd: [train.eval_train=true]\nqonly: [model.name=qonly]\ninputs_question_only: [model.modalities=none]\n"
                    "fusion_concat: [model.fusion=concat, train.eval_train=true]\n")
    common = ["--data", str(data), "--preset", "tiny", "--set", "train.epochs=1", "--set", "train.progress=false"]
    out = tmp_path / "runs"
    assert main(["tune", "--grid", str(tuning), *common, "--out", str(out / "tuning")]) == 0
    tuned = read_tuned(out / "tuning" / "tuned.yaml")
    assert set(tuned.overrides) == {"mcd", "qonly"}
    assert main(["ablate", "--grid", str(grid), "--tuned", str(out / "tuning" / "tuned.yaml"), *common,
                 "--out", str(out), "--seeds", "0,1", "--only", "@headline", "--n-boot", "50"]) == 0
    capsys.readouterr()
    assert main(["ablate", "--grid", str(grid), "--tuned", str(out / "tuning" / "tuned.yaml"), *common,
                 "--out", str(out), "--seeds", "0,1", "--table-only", "--n-boot", "50"]) == 0
    printed = capsys.readouterr().out
    assert "Comparisons" in printed and "Expectations" in printed
    study = read_study(out)
    keys = {(c["a"], c["b"], c["metric"]) for c in study["comparisons"]}
    assert {("mcd", "qonly", "Overall"), ("fusion_concat", "mcd", "gap"), ("mcd", "inputs_question_only", "Overall")} <= keys
    for c in study["comparisons"]:
        if c["verdict"] != "not tested":
            assert c["n_seeds"] == 2 and c["ci95"][0] is not None and c["ci95"][0] <= c["diff_mean"] <= c["ci95"][1]
    assert study["tuning"]["budget"]["configurations_per_model"] == 3
    assert study["dataset"]["format"] == "music-scenes"
    assert (out / "ablation.md").is_file() and (out / "mcd" / "seed1" / "run.json").is_file()
    assert main(["ablate", "--grid", str(grid), *common, "--out", str(out), "--seeds", "0-4", "--dry-run",
                 "--epoch-seconds", "mcd=2,qonly=1"]) == 0
    assert "CPU-process hours" in capsys.readouterr().out
