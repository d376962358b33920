"""End to end on a real tiny music-scenes build: mcd train, resume, mcd eval --run, mcd ablate."""

from __future__ import annotations

import json

import pytest

from mcdlib.cli import main
from mcdlib.data.music_avqa import load_split
from mcdlib.train import RunFolder, read_metrics


@pytest.fixture(scope="module")
def tiny_build(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny") / "data"
    assert main(["data", "synth", "--profile", "tiny", "--out", str(root), "--threads", "1", "--no-progress"]) == 0
    return root


@pytest.mark.slow
def test_train_resume_eval_and_ablate_on_a_tiny_build(tiny_build, tmp_path, capsys):
    run = tmp_path / "mcd"
    quiet = ["--set", "train.progress=false"]
    assert main(["train", "--data", str(tiny_build), "--model", "mcd", "--preset", "tiny", "--out", str(run),
                 *quiet]) == 0
    assert [r["epoch"] for r in read_metrics(run)] == [1, 2]
    # continue the run with its own config.yaml and one more epoch
    assert main(["train", "--out", str(run), "--resume", "--set", "train.epochs=3"]) == 0
    assert RunFolder(run).status()["epochs_done"] == 3

    scores = tmp_path / "scores.json"
    assert main(["eval", "--run", str(run), "--split", "test", "--json", str(scores)]) == 0
    out = capsys.readouterr().out
    assert "Overall" in out and "AV Temporal" in out
    test_ids = {str(q.question_id) for q in load_split(tiny_build, "test")}
    assert set(json.loads(RunFolder(run).predictions("test").read_text())) == test_ids
    assert json.loads(scores.read_text())["n"] == len(test_ids)

    grid = tmp_path / "grid.yaml"
    grid.write_text("mcd: []\nqonly: [model.name=qonly]\n")
    runs = tmp_path / "ablation"
    assert main(["ablate", "--grid", str(grid), "--data", str(tiny_build), "--out", str(runs), "--seeds", "0",
                 "--preset", "tiny", "--set", "train.epochs=1", *quiet]) == 0
    table = (runs / "ablation.md").read_text()
    assert "| mcd | 1 |" in table and "| qonly | 1 |" in table
    assert RunFolder(runs / "qonly" / "seed0").is_finished()


@pytest.mark.slow
def test_cli_errors_are_clear(tiny_build, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_build), "--model", "late", "--preset", "tiny", "--out",
                 str(tmp_path / "r"), "--set", "train.epochs=1", "--set", "train.progress=false"]) == 0
    capsys.readouterr()
    # same folder again without --resume: refused, nothing overwritten
    assert main(["train", "--data", str(tiny_build), "--model", "late", "--preset", "tiny", "--out",
                 str(tmp_path / "r")]) == 2
    assert "already holds a run" in capsys.readouterr().err
    # resume with other settings: the differing keys are named
    assert main(["train", "--data", str(tiny_build), "--model", "mcd", "--preset", "tiny", "--out",
                 str(tmp_path / "r"), "--resume"]) == 2
    assert "model.name: 'late' -> 'mcd'" in capsys.readouterr().err
