"""Reliability, run folders: one owner at a time (lock), the dataset a run was trained on
(fingerprint), unfinished runs, failed checkpoint writes, ``--out``/``--resume`` mistakes,
``mcd eval`` inputs that would be silently merged or scored, notebook parameter sets
(docs/RELIABILITY.md)."""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from mcdlib.cli import main
from mcdlib.data.music_avqa import make_question, write_annotations
from mcdlib.errors import McdError
from mcdlib.train import RunFolder
from mcdlib.train.checkpoint import load_checkpoint
from mcdlib.utils.lock import LOCK_NAME, FolderLock
from toy_runs import SETTINGS, copy, snapshot, toy_dataset, train, train_args

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
HOLDER = ("import sys\nfrom mcdlib.utils.lock import FolderLock\n"
          "FolderLock(sys.argv[1], what='mcd train').acquire()\nprint('locked', flush=True)\nsys.stdin.read()\n")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A toy dataset (packed, caches built) and a finished 2-epoch run on it."""
    base = tmp_path_factory.mktemp("runs")
    root = toy_dataset(base / "data")
    assert train(root, base / "finished") == 0
    return root, base / "finished"


def _hold(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s lock (until its stdin closes or it is killed)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=ENV)
    assert proc.stdout.readline().strip() == "locked"
    return proc


# --------------------------------------------------------------------------- one process per run folder


def test_a_second_process_is_refused_and_a_killed_ones_lock_is_taken_over(toy, tmp_path, capsys):
    root, finished = toy
    run = copy(finished, tmp_path / "run")
    before = snapshot(run)
    holder = _hold(run)
    try:
        for argv in (train_args(root, run, "--resume", "--set", "train.epochs=3"),
                     ["eval", "--run", str(run), "--split", "test"],
                     train_args(root, run)):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert f"{run} is in use by pid {holder.pid} on host {socket.gethostname()}, mcd train" in err
            assert snapshot(run) == {**before, LOCK_NAME: snapshot(run)[LOCK_NAME]}  # nothing else written
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, naming a dead pid
        holder.wait()
    assert json.loads((run / LOCK_NAME).read_text())["pid"] == holder.pid
    assert main(train_args(root, run, "--resume", "--set", "train.epochs=3")) == 0
    err = capsys.readouterr().err
    assert f"taking over the stale lock of {run}: pid {holder.pid}" in err
    assert RunFolder(run).status()["epochs_done"] == 3 and not (run / LOCK_NAME).exists()  # released


def test_lock_rules_for_live_foreign_and_unreadable_holders(tmp_path, capsys):
    folder = tmp_path / "run"
    folder.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:  # a live pid on this host that holds no flock (a file system without flock): refused
        (folder / LOCK_NAME).write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
        with pytest.raises(McdError, match=f"locked by pid {sleeper.pid} .* still running.*delete"):
            FolderLock(folder).acquire()
    finally:
        sleeper.kill()
        sleeper.wait()
    (folder / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere.example"}))
    with pytest.raises(McdError, match="locked by pid 1 on host elsewhere.example; another machine"):
        FolderLock(folder).acquire()
    (folder / LOCK_NAME).write_text("{garbled")
    with FolderLock(folder, what="test") as lock:
        with FolderLock(folder):  # re-entrant within a process
            pass
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    assert "was unreadable" in capsys.readouterr().err and not (folder / LOCK_NAME).exists()


def test_out_that_is_a_file_or_not_writable(toy, tmp_path, capsys, monkeypatch):
    root, _ = toy
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    assert train(root, afile) == 2
    assert f"{afile}: exists and is not a folder" in capsys.readouterr().err
    assert afile.read_text() == "keep me"
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    real_access = os.access  # root ignores permissions: os.access tells the truth for everyone else
    monkeypatch.setattr(os, "access", lambda p, m, *a, **k: False if Path(p) == locked and m & os.W_OK
                        else real_access(p, m, *a, **k))
    assert train(root, locked / "run") == 2
    err = capsys.readouterr().err
    assert f"{locked / 'run'}: cannot be created: no write permission in {locked}" in err and "Traceback" not in err
    locked.chmod(0o755)


def test_resume_of_a_missing_or_empty_folder_says_so(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "nowhere"), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "nowhere: nothing to resume: no such run folder" in err and "--data DIR is required" not in err
    assert main(["train", "--out", str(tmp_path), "--resume"]) == 2
    assert "nothing to resume: the folder holds no run (no config.yaml)" in capsys.readouterr().err


# --------------------------------------------------------------------------- the run's dataset


def test_resume_or_eval_on_another_dataset_is_refused_naming_both(toy, tmp_path, capsys):
    root, finished = toy
    other = toy_dataset(tmp_path / "other", seed=1)
    run = copy(finished, tmp_path / "run")
    before = snapshot(run)
    assert train(other, run, "--resume", "--set", "train.epochs=3") == 2
    err = capsys.readouterr().err
    assert f"cannot resume: the run was trained on {root} (fingerprint" in err
    assert f"the data given is {other} (fingerprint" in err and "json/avqa-train.json" in err
    assert snapshot(run) == before
    assert main(["eval", "--run", str(run), "--data", str(other)]) == 2
    assert "cannot evaluate on" in capsys.readouterr().err and snapshot(run) == before
    assert main(["eval", "--run", str(run), "--data", str(other), "--allow-other-data"]) == 0
    # the dataset moved (same content, another folder): accepted
    moved = copy(root, tmp_path / "moved")
    assert main(["eval", "--run", str(run), "--data", str(moved)]) == 0


def test_epochs_below_what_a_run_has_done_is_refused(toy, tmp_path, capsys):
    root, finished = toy
    run = copy(finished, tmp_path / "run")
    assert main(["train", "--out", str(run), "--resume", "--set", "train.epochs=1"]) == 2
    assert "cannot resume to train.epochs=1: the run has already done 2 epochs" in capsys.readouterr().err


# --------------------------------------------------------------------------- unfinished runs


def test_eval_of_an_unfinished_run_is_refused_unless_allowed(toy, tmp_path, capsys):
    root, finished = toy
    run = copy(finished, tmp_path / "run")
    status = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**status, "status": "running", "epochs_done": 1, "epochs": 3}))
    assert main(["eval", "--run", str(run)]) == 2
    err = capsys.readouterr().err
    assert "the run is not finished (killed or crashed while running, 1/3 epochs)" in err and "--allow-unfinished" in err
    scores = tmp_path / "scores.json"
    assert main(["eval", "--run", str(run), "--allow-unfinished", "--json", str(scores)]) == 0
    captured = capsys.readouterr()
    assert "run killed or crashed while running, 1/3 epochs" in captured.out.splitlines()[1]  # the table title
    written = json.loads(scores.read_text())
    assert written["run_status"] == "running" and written["epochs_done"] == 1 and "Overall" in written


# --------------------------------------------------------------------------- checkpoint writes


def test_a_failed_checkpoint_write_keeps_the_previous_one(toy, tmp_path, monkeypatch, capsys):
    root, _ = toy
    run = tmp_path / "run"
    real_save = torch.save
    calls = []

    def disk_full_at_epoch_2(obj, f, *args, **kwargs):
        calls.append(obj["epoch"])
        if obj["epoch"] == 2:
            with open(f, "wb") as fh:
                fh.write(b"partial")
            raise OSError(28, "No space left on device")
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", disk_full_at_epoch_2)
    assert train(root, run) == 2
    err = capsys.readouterr().err
    assert "last.pt: could not write the checkpoint (OSError: No space left on device" in err
    assert "the previous last.pt is kept unchanged" in err and f"mcd train --out {run} --resume" in err
    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.pt", "last.pt"]  # no temp file
    assert RunFolder(run).status()["status"] == "failed"
    monkeypatch.setattr(torch, "save", real_save)
    assert main(["train", "--out", str(run), "--resume"]) == 0  # space is back: continue
    assert RunFolder(run).status()["epochs_done"] == 2


def test_a_file_size_limit_is_a_message_not_a_crash(toy, tmp_path, capsys):
    """A real short write (the kernel's file-size limit, as under `ulimit -f`; Python ignores
    SIGXFSZ, so the write fails with EFBIG), set on this process for the one training only."""
    root, _ = toy
    run = tmp_path / "run"
    limit = 256 * 1024  # above config/metrics/run.json, below a checkpoint (about 1 MB)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        status = train(root, run)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert status == 2
    err = capsys.readouterr().err
    assert "could not write the checkpoint (the file-size limit (ulimit -f) of 256 KiB was reached" in err
    assert "no last.pt was written yet" in err and "Traceback" not in err
    assert list((run / "checkpoints").iterdir()) == []  # no partial or temporary file left


# --------------------------------------------------------------------------- mcd eval --annotations


@pytest.fixture
def annotated(tmp_path):
    questions = [make_question(7, "v1", "Where is the performance?", [], "indoor"),
                 make_question(8, "v1", "Is there a <Object> sound?", ["piano"], "yes")]
    return write_annotations(questions, tmp_path / "json" / "avqa-test.json")


def test_eval_refuses_annotation_answers_outside_the_vocabulary(tmp_path, capsys):
    questions = [make_question(7, "v1", "Where is the performance?", [], "indoors"),
                 make_question(8, "v1", "Is there a <Object> sound?", ["piano"], "yes")]
    path = write_annotations(questions, tmp_path / "avqa-test.json")
    preds = tmp_path / "p.json"
    preds.write_text(json.dumps({"7": "indoors", "8": "yes"}))
    assert main(["eval", "--annotations", str(path), "--predictions", str(preds)]) == 2
    err = capsys.readouterr().err
    assert "1 questions have answers outside the 42-answer vocabulary ('indoors'; question ids 7)" in err
    assert main(["eval", "--annotations", str(path), "--predictions", str(preds), "--unknown-answers", "score"]) == 0


@pytest.mark.parametrize("text, message", [
    ('{"7": "indoor", "7 ": "outdoor", "8": "yes"}', "question_id 7 as '7', '7 '"),
    ('{"7": "indoor", "007": "outdoor", "8": "yes"}', "question_id 7 as '7', '007'"),
    ('{"7": "indoor", "7": "outdoor", "8": "yes"}', "keys repeated in the file ('7')"),
])
def test_eval_refuses_prediction_keys_that_alias_one_question(annotated, tmp_path, capsys, text, message):
    preds = tmp_path / "p.json"
    preds.write_text(text)
    assert main(["eval", "--annotations", str(annotated), "--predictions", str(preds)]) == 2
    assert message in capsys.readouterr().err


# --------------------------------------------------------------------------- notebook parameter sets


@pytest.mark.parametrize("content, message", [
    ("all: [seed: 1\n", "not valid YAML"),
    ("all: 3\n", "'all' holds int 3, expected a mapping"),
    ("notebooks:\n  05_train_mcd.ipynb: 5\n", "notebooks.05_train_mcd.ipynb holds int 5, expected a mapping"),
    ("- a\n- b\n", "the top level holds list ['a', 'b']"),
    ("all:\n  seeed: 1\n", "'all' names parameters no notebook declares: 'seeed' (did you mean 'seed'?)"),
])
def test_notebook_parameter_sets_with_mistakes_name_the_file_and_key(tmp_path, capsys, content, message):
    params = tmp_path / "bad.yaml"
    params.write_text(content)
    assert main(["notebooks", "run", "--params", str(params), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"{params}: " in err and message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())  # nothing ran


def test_a_name_declared_by_one_notebook_stays_allowed_under_all(tmp_path):
    from mcdlib.workbook.runner import check_shared_names, list_notebooks, load_param_set

    params = tmp_path / "ok.yaml"
    params.write_text(yaml.safe_dump({"all": {"seed": 1, "probe_scenes": 4}}))
    check_shared_names(load_param_set(params), list_notebooks())  # probe_scenes: notebook 02 only


def test_eval_json_out_that_is_a_folder_is_refused_before_evaluating(tmp_path, capsys):
    assert main(["eval", "--annotations", str(tmp_path / "a.json"), "--predictions", str(tmp_path / "p.json"),
                 "--json", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "that is a folder" in err and "Traceback" not in err
