"""``mcd data check`` and ``mcd eval --annotations`` through mcdlib.cli.main (exit codes, messages)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mcdlib.cli import main
from mcdlib.data.music_avqa import make_question, to_record, write_annotations


def toy_questions():
    return [
        make_question(1, "v1", "Is there a <Object> sound?", ["piano"], "yes"),
        make_question(2, "v1", "Where is the performance?", [], "indoor"),
        make_question(3, "v2", "How many sounding <Object> in the video\uff1f", ["violin"], "two"),
        make_question(4, "v2", "Which <Object> makes the sound <FL>?", ["violin", "first"], "left"),
    ]


@pytest.fixture
def annotations(tmp_path):
    return write_annotations(toy_questions(), tmp_path / "data" / "json" / "avqa-test.json")


def write_json(path: Path, value) -> Path:
    path.write_text(json.dumps(value))
    return path


# --------------------------------------------------------------------------- mcd data check


def test_check_valid_file(annotations, capsys):
    assert main(["data", "check", str(annotations)]) == 0
    out = capsys.readouterr().out
    assert "records" in out and "OK: no problems found" in out
    assert [line.split()[-1] for line in out.splitlines() if line.startswith(("Overall", "AV Temporal"))] == ["1", "4"]


def test_check_reports_problems_with_exit_1_and_json(tmp_path, capsys):
    records = [to_record(q) for q in toy_questions()]
    records[0]["anser"] = "banana"
    records[1]["question_content"] = "Is the piano out of tune?"
    records[2]["type"] = "[\"Visual\", \"Counting\"]"  # an AV Counting template filed under Visual Counting
    path = write_json(tmp_path / "avqa-val.json", records)
    report_path = tmp_path / "report.json"
    assert main(["data", "check", str(path), "--json", str(report_path)]) == 1
    out = capsys.readouterr().out
    assert "answers outside the 42-answer vocabulary: 'banana'" in out
    assert "templates not among the 33 official ones: 'Is the piano out of tune?'" in out
    assert "another (scenario, type) cell (question ids 3)" in out
    assert "INVALID: 3 problem(s) found" in out
    report = json.loads(report_path.read_text())
    assert report["ok"] is False and len(report["problems"]) == 3
    assert report["files"][0]["unknown_answers"] == {"banana": 1}


def test_check_shows_duplicates_as_warning_or_problem(tmp_path, capsys):
    records = [to_record(q) for q in toy_questions()]
    records.append(dict(records[0], anser="no"))
    path = write_json(tmp_path / "avqa-test.json", records)
    assert main(["data", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "1 question ids occur more than once (1; 1 with different answers)" in out
    assert "unique question ids" in out
    assert main(["data", "check", str(path), "--duplicates", "error"]) == 1


def test_check_dataset_folder_with_features(annotations, capsys):
    root = annotations.parents[1]
    (root / "manifest.json").write_text(json.dumps({"seconds": 10}))
    for name, dim in (("vggish", 4), ("res18", 6)):
        (root / "feats" / name).mkdir(parents=True)
        for vid in ("v1", "v2"):
            np.save(root / "feats" / name / f"{vid}.npy", np.zeros((10, dim), np.float32))
    assert main(["data", "check", str(root), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "json/" in out and "features:" in out and "vggish" in out and "(10, 4)" in out
    (root / "feats" / "res18" / "v2.npy").unlink()
    assert main(["data", "check", str(root), "--no-progress"]) == 1
    assert "v2" in capsys.readouterr().out


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("[{\"video_id\": ", "not valid JSON at line 1, column"),
    ("{}", "expected a list of question records"),
])
def test_check_unreadable_file_exits_2_without_traceback(tmp_path, capsys, content, message):
    path = tmp_path / "avqa-test.json"
    path.write_text(content)
    assert main(["data", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mcd: error: {path}") and message in err and "Traceback" not in err


def test_check_missing_path_and_empty_folder(tmp_path, capsys):
    assert main(["data", "check", str(tmp_path / "nowhere")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["data", "check", str(tmp_path)]) == 2
    assert "no annotation files found" in capsys.readouterr().err


# --------------------------------------------------------------------------- mcd eval


def test_eval_prints_table_and_writes_json(annotations, tmp_path, capsys):
    preds = write_json(tmp_path / "preds.json", {"1": "yes", "2": "outdoor", "3": "two", "4": "left"})
    out_json = tmp_path / "scores.json"
    assert main(["eval", "--annotations", str(annotations), "--predictions", str(preds), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "accuracy %" in out and out.count("\n") >= 15
    assert [line.split()[1] for line in out.splitlines() if line.startswith("Overall")] == ["75.00"]
    scores = json.loads(out_json.read_text())
    assert scores["Overall"] == 75.0 and scores["Visual"]["Location"] == 0.0 and scores["n"] == 4


def test_eval_missing_predictions(annotations, tmp_path, capsys):
    preds = write_json(tmp_path / "preds.json", {"1": "yes"})
    assert main(["eval", "--annotations", str(annotations), "--predictions", str(preds)]) == 2
    err = capsys.readouterr().err
    assert f"{preds}: 3 of 4 questions" in err and "(2, 3, 4)" in err and "--missing wrong" in err
    assert main(["eval", "--annotations", str(annotations), "--predictions", str(preds), "--missing", "wrong"]) == 0
    assert "3 missing counted wrong" in capsys.readouterr().out


def test_eval_unknown_ids_and_bad_answers(annotations, tmp_path, capsys):
    preds = write_json(tmp_path / "preds.json", {"1": "yes", "2": "indoor", "3": "two", "4": "left", "99": "no"})
    assert main(["eval", "--annotations", str(annotations), "--predictions", str(preds)]) == 2
    assert "1 question ids are not in" in capsys.readouterr().err
    preds = write_json(tmp_path / "preds.json", {"1": "banana", "2": "indoor", "3": "two", "4": "left"})
    assert main(["eval", "--annotations", str(annotations), "--predictions", str(preds)]) == 0
    captured = capsys.readouterr()
    assert "mcd: warning:" in captured.err and "'banana'" in captured.err


def test_eval_needs_both_files(annotations, capsys):
    assert main(["eval"]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
    assert main(["eval", "--annotations", str(annotations)]) == 2
    assert "go together" in capsys.readouterr().err


def test_console_script_eval(annotations, tmp_path):
    script = Path(sys.executable).parent / "mcd"
    if not script.exists():
        pytest.skip(f"console script {script} not installed (pip install -e .)")
    preds = write_json(tmp_path / "preds.json", {"1": "yes", "2": "indoor", "3": "two", "4": "left"})
    done = subprocess.run([str(script), "eval", "--annotations", str(annotations), "--predictions", str(preds)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Overall" in done.stdout and "100.00" in done.stdout
    done = subprocess.run([str(script), "data", "check", str(preds)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "expected a list of question records" in done.stderr


def test_check_music_scenes_folder_prints_the_ceilings(tmp_path, capsys):
    from mcdlib.scenes.questions import answer
    from mcdlib.scenes.scene import Player, Scene

    root = tmp_path / "ms"
    (root / "scenes").mkdir(parents=True)
    scenes = [Scene(f"ms00000{k}", 10, [Player("violin", 0.2, intervals=[(0.0, 10.0)] if k else []),
                                        Player("cello", 0.8, intervals=[(2.0, 10.0)])], backdrop="indoor")
              for k in range(2)]
    for scene in scenes:
        scene.save(root / "scenes" / f"{scene.video_id}.json")
    items = [("Is there a <Object> sound?", ["violin"]), ("Where is the performance?", [])]
    for split, scene in (("train", scenes[0]), ("test", scenes[1])):
        questions = [make_question(10 * k + i, scene.video_id, t, v, answer(scene, t, v))
                     for i, (t, v) in enumerate(items) for k in [("train", "test").index(split)]]
        write_annotations(questions, root / "json" / f"avqa-{split}.json")
    assert main(["data", "check", str(root), "--no-progress", "--json", str(tmp_path / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "ceilings (test, %)" in out and "vision_only" in out and "a report of the data" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ceilings"]["test"]["perfect"]["Overall"] == 100.0
    assert main(["data", "check", str(root / "json" / "avqa-test.json"), "--no-progress"]) == 0
    assert "ceilings" not in capsys.readouterr().out  # a single annotation file: no scene graphs
