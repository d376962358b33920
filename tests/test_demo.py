"""`mcd demo` (the README's main job) end to end at the tiny size."""

import json

import pytest

from mcdlib.cli import main


@pytest.mark.slow
@pytest.mark.xdist_group("tiny_build")
def test_demo_builds_trains_and_compares(tiny_data_root, tmp_path, capsys):
    runs = tmp_path / "runs"
    args = ["demo", "--preset", "tiny", "--data-root", str(tiny_data_root), "--runs", str(runs), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "cached" in out and "OK: no problems found" in out
    assert "Overall" in out and "mcd" in out and "late" in out
    for model in ("mcd", "late"):
        status = json.loads((runs / "tiny" / model / "run.json").read_text())
        assert status["status"] == "finished"
        scores = json.loads((runs / "tiny" / model / "scores_test.json").read_text())
        assert 0 <= scores["rows"]["Overall"] <= 100
    # a second demo reuses the finished runs
    assert main(args) == 0
    assert "mcd: skipped" in capsys.readouterr().out


def test_demo_rejects_unknown_override(tiny_data_root, tmp_path, capsys):
    status = main(["demo", "--preset", "tiny", "--data-root", str(tiny_data_root), "--runs", str(tmp_path),
                   "--no-progress", "--set", "model.fusio=concat"])
    assert status == 2
    assert "did you mean 'model.fusion'" in capsys.readouterr().err
