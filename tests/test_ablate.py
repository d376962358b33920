"""Ablation grids: parsing, the shipped grid, resumable runs and the mean ± std table (mcdlib.train.study)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import mcdlib.train.ablate as ablate
from fakes_train import FakeModel, fake_config, fake_datasets
from mcdlib.config import get_preset
from mcdlib.errors import ConfigError
from mcdlib.train.ablate import Variant, parse_grid, parse_seeds, plan_runs, read_grid
from mcdlib.train.study import ACCURACY_COLUMNS, RunScores, aggregate, mean_std, run_ablation
from mcdlib.train.run_folder import RunFolder, read_json, write_json

SHIPPED_GRID = Path(__file__).resolve().parents[1] / "ablations" / "mcd.yaml"


def test_parse_grid_lines_and_errors(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("mcd: []\nno_contrastive: [model.contrastive=off]\n"
                    "late_a: [model.name=late, model.modalities=a]\nplain:\n")
    assert read_grid(grid) == [Variant("mcd"), Variant("no_contrastive", ("model.contrastive=off",)),
                               Variant("late_a", ("model.name=late", "model.modalities=a")), Variant("plain")]
    with pytest.raises(ConfigError, match="list of key=value"):
        parse_grid({"bad": ["model.fusion"]}, "g.yaml")
    with pytest.raises(ConfigError, match="folder name"):
        parse_grid({"a/b": []}, "g.yaml")
    with pytest.raises(ConfigError, match="grid file not found"):
        read_grid(tmp_path / "none.yaml")
    with pytest.raises(ConfigError, match="is a tuning file"):
        read_grid(SHIPPED_GRID.parent / "tuning.yaml")
    # a bad key fails at planning time, naming the file and the variant
    with pytest.raises(ConfigError, match=r"g.yaml: variant 'oops'.*model.fusoin"):
        plan_runs([Variant("oops", ("model.fusoin=add",))], get_preset("tiny"), tmp_path, [0], "g.yaml")


def test_shipped_grid_is_valid_and_covers_every_axis(tmp_path):
    variants = read_grid(SHIPPED_GRID)
    runs = plan_runs(variants, get_preset("tiny"), tmp_path, [0, 1], str(SHIPPED_GRID))
    assert len(runs) == 2 * len(variants) and runs[1].run_dir == tmp_path / variants[0].name / "seed1"
    assert runs[1].cfg.train.seed == 1
    settings = {(key, value) for v in variants for key, value in (o.split("=", 1) for o in v.overrides)}
    axes = {("model.association", "off"), ("model.association_layers", "1"), ("model.association_layers", "3"),
            ("model.contrastive", "off"), ("model.aggregator_levels", "low"), ("model.aggregator_levels", "high"),
            ("model.text_objects", "none"), ("model.text_objects", "keywords"), ("model.text_objects", "types"),
            ("model.sa_loss", "off"), ("model.sa_teachers", "audio"), ("model.sa_teachers", "visual"),
            ("model.fusion", "concat"), ("model.fusion", "add"), ("model.aggregator_shared", "false"),
            ("model.modalities", "none"), ("model.modalities", "a"), ("model.modalities", "v"),
            ("model.types_source", "predicted"), ("model.name", "qonly"), ("model.name", "late"),
            ("model.name", "avst")}
    assert axes <= settings
    assert variants[0].name == "mcd" and variants[0].overrides == ("train.eval_train=true",)  # runtime only
    assert ("model.teachers_detached", "false") in settings and ("model.sa_teacher_loss", "av_infonce") in settings


def test_parse_seeds():
    assert parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("3-5") == [3, 4, 5]
    for bad in ("", "a", "1,1"):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_table_math_on_hand_made_scores():
    def scores(variant, seed, overall, train, val):
        accs = {c: None for c in ACCURACY_COLUMNS}
        accs["Overall"], accs["Audio Counting"] = overall, 50.0
        return RunScores(variant, seed, accs, train, val)

    table = aggregate([scores("mcd", 0, 50.0, 80.0, 60.0), scores("mcd", 1, 60.0, 90.0, 60.0),
                       scores("mcd", 2, 70.0, 100.0, 60.0), scores("late", 0, 40.0, 70.0, 45.0)])
    mcd, late = table.rows
    assert mcd["variant"] == "mcd" and mcd["seeds"] == 3
    assert mcd["Overall"] == pytest.approx((60.0, 10.0))  # sample std (n - 1)
    assert mcd["Audio Counting"] == (50.0, 0.0) and mcd["Visual Counting"] == (None, None)
    assert mcd["gap"] == pytest.approx((30.0, 10.0)) and mcd["val"] == (60.0, 0.0)
    assert late["Overall"] == (40.0, 0.0) and late["gap"] == (25.0, 0.0)
    md = table.to_markdown()
    assert "| mcd | 3 | 50.00 ± 0.00 |" in md and "60.00 ± 10.00" in md and "| - |" in md
    assert mean_std([]) == (None, None) and mean_std([1.0, None, 3.0]) == pytest.approx((2.0, 2 ** 0.5))


def test_run_ablation_is_resumable(tmp_path, monkeypatch):
    variants = parse_grid({"base": [], "concat": ["model.lambda_con=0"]})
    data = fake_datasets()
    cfg = fake_config(train__epochs=2)
    table = run_ablation(variants, cfg, tmp_path, [0, 1], datasets=data, model_factory=FakeModel)
    assert [r["variant"] for r in table.rows] == ["base", "concat"] and table.rows[0]["seeds"] == 2
    rows = list(csv.reader(open(tmp_path / "ablation.csv")))
    assert rows[0][:4] == ["variant", "seeds", "Audio Counting mean", "Audio Counting std"]
    assert rows[0][-2:] == ["gap mean", "gap std"] and len(rows) == 3
    assert "base" in (tmp_path / "ablation.md").read_text()
    first_overall = table.rows[0]["Overall"]

    # one run interrupted (status not finished) is resumed; finished ones are skipped
    interrupted = RunFolder(tmp_path / "concat" / "seed1")
    status = read_json(interrupted.run_json)
    write_json(interrupted.run_json, {**status, "status": "interrupted"})
    calls = []
    real_train = ablate.train

    def spy(cfg, out, resume=False, **kwargs):
        calls.append((Path(out), resume))
        return real_train(cfg, out, resume=resume, **kwargs)

    monkeypatch.setattr(ablate, "train", spy)
    table = run_ablation(variants, cfg, tmp_path, [0, 1], datasets=data, model_factory=FakeModel)
    assert calls == [(interrupted.root, True)]
    assert table.rows[0]["Overall"] == first_overall


def test_table_only_trains_nothing_and_counts_finished_seeds(tmp_path, monkeypatch):
    variants = parse_grid({"base": [], "concat": ["model.lambda_con=0"]})
    data = fake_datasets()
    cfg = fake_config(train__epochs=1)
    run_ablation(variants[:1], cfg, tmp_path, [0, 1], datasets=data, model_factory=FakeModel)
    calls = []
    monkeypatch.setattr(ablate, "train", lambda *a, **k: calls.append(a))
    table = run_ablation(variants, cfg, tmp_path, [0, 1], datasets=data, model_factory=FakeModel,
                         train_missing=False)
    assert calls == []  # nothing trained
    assert [(r["variant"], r["seeds"]) for r in table.rows] == [("base", 2)]


@pytest.mark.parametrize("grid_file", sorted(p for p in SHIPPED_GRID.parent.glob("*.yaml") if p.name != "tuning.yaml"),
                         ids=lambda p: p.name)
def test_every_shipped_grid_plans_without_error(grid_file, tmp_path):
    variants = read_grid(grid_file)
    runs = plan_runs(variants, get_preset("tiny"), tmp_path, [0], str(grid_file))
    assert [r.variant for r in runs] == [v.name for v in variants]
    # a variant shared by two grids must mean the same run (same folder name, same overrides)
    shared = {v.name: v.overrides for v in read_grid(SHIPPED_GRID)}
    for v in variants:
        if v.name in shared:
            assert v.overrides == shared[v.name], f"{grid_file.name}: {v.name} differs from mcd.yaml"


def test_jobs_train_runs_in_processes_with_the_results_of_one_at_a_time(tmp_path):
    """``mcd ablate --jobs 2``: two runs at a time in spawned processes; every run ends as it does
    when the runs are trained one after the other (same checkpoint weights, same table)."""
    import torch

    from mcdlib.cli import main
    from toy_runs import SETTINGS, toy_dataset

    data = toy_dataset(tmp_path / "data")
    grid = tmp_path / "grid.yaml"
    grid.write_text("base: []\nno_con: [model.lambda_con=0]\n")
    common = ["ablate", "--grid", str(grid), "--data", str(data), *SETTINGS, "--set", "train.threads=1",
              "--seeds", "0,1"]
    assert main([*common, "--out", str(tmp_path / "serial")]) == 0
    assert main([*common, "--out", str(tmp_path / "parallel"), "--jobs", "2"]) == 0
    for variant in ("base", "no_con"):
        for seed in (0, 1):
            a, b = (torch.load(tmp_path / side / variant / f"seed{seed}" / "checkpoints" / "best.pt",
                               weights_only=False)["model"] for side in ("serial", "parallel"))
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    table = [(tmp_path / side / "ablation.csv").read_text() for side in ("serial", "parallel")]
    assert table[0] == table[1]
    # a second call finds every run finished and trains nothing (no worker started)
    assert main([*common, "--out", str(tmp_path / "parallel"), "--jobs", "2"]) == 0


def test_jobs_a_failed_run_is_named_and_the_others_finish(tmp_path, capsys):
    """A run that fails in its worker (here: a corrupt checkpoint to resume from) stops no run
    already training; the command exits 2 naming that run; a rerun after the fix completes."""
    from mcdlib.cli import main
    from toy_runs import SETTINGS, toy_dataset

    data = toy_dataset(tmp_path / "data")
    grid = tmp_path / "grid.yaml"
    grid.write_text("base: []\nno_con: [model.lambda_con=0]\n")
    args = ["ablate", "--grid", str(grid), "--data", str(data), *SETTINGS, "--set", "train.threads=1",
            "--seeds", "0", "--out", str(tmp_path / "runs"), "--jobs", "2"]
    broken = RunFolder(tmp_path / "runs" / "no_con" / "seed0")
    broken.checkpoints.mkdir(parents=True)
    broken.last.write_bytes(b"not a checkpoint")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no_con" in err and "seed 0" in err and "Traceback" not in err
    assert RunFolder(tmp_path / "runs" / "base" / "seed0").is_finished()
    broken.last.unlink()
    assert main(args) == 0 and broken.is_finished()


def test_jobs_refusals(tmp_path, capsys):
    from mcdlib.cli import main

    assert main(["ablate", "--grid", str(SHIPPED_GRID), "--data", str(tmp_path), "--out", str(tmp_path / "r"),
                 "--jobs", "0"]) == 2
    assert "--jobs 0" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="in-memory"):
        run_ablation(parse_grid({"base": []}), fake_config(train__epochs=1), tmp_path, [0],
                     datasets=fake_datasets(), model_factory=FakeModel, jobs=2)
