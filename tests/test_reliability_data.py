"""Reliability, data: ids are names, the packed store knows what it was built from and is checked,
read-only datasets, ``--data`` that is not a dataset folder (docs/RELIABILITY.md)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from mcdlib.cli import main
from mcdlib.data.music_avqa import make_question, read_annotations, to_record
from mcdlib.data.store import pack, read_index
from mcdlib.errors import AnnotationError
from toy_runs import SETTINGS, copy, snapshot, toy_dataset, train


@pytest.fixture(scope="module")
def packed_toy(tmp_path_factory):
    """A toy dataset, packed and with its caches built by one training."""
    root = toy_dataset(tmp_path_factory.mktemp("toy") / "data")
    assert train(root, root.parent / "first") == 0
    return root


# --------------------------------------------------------------------------- ids are names


@pytest.mark.parametrize("video_id, problem", [
    ("../../outside", "holds a path separator"),
    ("a/b", "holds a path separator"),
    ("..", "starts with a dot"),
    (".hidden", "starts with a dot"),
    ("x\x07y", "holds a control character"),
])
def test_an_id_that_is_not_a_plain_name_is_refused_at_the_reader(tmp_path, capsys, video_id, problem):
    question = make_question(5, "ok", "Where is the performance?", [], "indoor")
    records = [to_record(question), {**to_record(question), "question_id": 6, "video_id": video_id}]
    path = tmp_path / "json" / "avqa-test.json"
    path.parent.mkdir()
    path.write_text(json.dumps(records))
    with pytest.raises(AnnotationError, match=rf"avqa-test.json: record 1 \(question_id 6\): video_id .* {problem}"):
        read_annotations(path)
    assert main(["data", "check", str(tmp_path), "--no-progress"]) == 2
    assert "record 1 (question_id 6): video_id" in capsys.readouterr().err
    # the outside file it would have pointed at is never read: the pack refuses before any path is built
    assert main(["data", "pack", str(tmp_path), "--feature", "vggish", "--no-progress"]) == 2
    assert problem in capsys.readouterr().err


def test_feature_and_split_names_from_the_user_are_names_too(packed_toy, tmp_path, capsys):
    assert main(["data", "pack", str(packed_toy), "--feature", "../feats", "--no-progress"]) == 2
    assert "feature name '../feats' holds a path separator" in capsys.readouterr().err
    assert main(["eval", "--run", str(packed_toy.parent / "first"), "--split", "../test"]) == 2
    assert "split name '../test' holds a path separator" in capsys.readouterr().err


# --------------------------------------------------------------------------- the packed store


def _damage(root, how):
    path = root / "feats" / "vggish" / "00000001.npy"
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        os.truncate(path, path.stat().st_size // 2)
    elif how == "reshaped":
        np.save(path, np.zeros((10, 9), np.float32))
    elif how == "nan":
        values = np.load(path)
        values[0, 0] = np.nan
        np.save(path, values)
    return path


@pytest.mark.parametrize("how, message", [("deleted", "feature file missing"), ("truncated", "unreadable .npy"),
                                          ("reshaped", "per-second shape [9]"), ("nan", "contains NaN")])
def test_training_refuses_a_packed_store_whose_sources_went_bad(packed_toy, tmp_path, capsys, how, message):
    root = copy(packed_toy, tmp_path / "data")
    path = _damage(root, how)
    assert main(["data", "check", str(root), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "00000001" in out and "packed copy is out of date" in out
    assert train(root, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert f"{path}: {message}" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "checkpoints").exists()  # nothing trained on the old copy


def test_a_changed_source_is_repacked_before_training(packed_toy, tmp_path, capsys):
    root = copy(packed_toy, tmp_path / "data")
    new = np.full((10, 8), 0.5, np.float32)
    np.save(root / "feats" / "vggish" / "00000003.npy", new)
    assert train(root, tmp_path / "run") == 0
    assert "1 source files of" in capsys.readouterr().err  # the notice
    packed = np.load(root / "packed" / "vggish.npy")
    row = read_index(root)["video_ids"].index("00000003")
    assert np.array_equal(packed[row], new.astype(np.float16))


@pytest.mark.parametrize("damage, message", [
    ("truncate", "unreadable packed feature"),
    ("reshape", "disagrees with index.json"),
    ("nan", "NaN or Inf values in 1 videos (00000002)"),
    ("index", "unreadable packed index"),
    ("drop_video", "1 annotated videos are not in the packed store (00000005)"),
])
def test_data_check_checks_the_packed_store_and_changes_nothing(packed_toy, tmp_path, capsys, damage, message):
    root = copy(packed_toy, tmp_path / "data")
    data = root / "packed" / "res18.npy"
    if damage == "truncate":
        os.truncate(data, data.stat().st_size - 64)
    elif damage == "reshape":
        np.save(data, np.zeros((6, 5, 12), np.float16))
    elif damage == "nan":
        values = np.load(data, mmap_mode="r+")
        values[2, 1, 1] = np.nan
        values.flush()
    elif damage == "index":
        (root / "packed" / "index.json").write_text('{"version": 1, "video_ids": [')
    elif damage == "drop_video":
        index = read_index(root)
        index["video_ids"].remove("00000005")
        (root / "packed" / "index.json").write_text(json.dumps(index))
    before = snapshot(root)
    assert main(["data", "check", str(root), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert message in out and "INVALID" in out
    assert snapshot(root) == before
    assert main(["data", "check", str(packed_toy), "--no-progress"]) == 0  # the intact one is OK
    assert "packed store:" in capsys.readouterr().out


# --------------------------------------------------------------------------- read-only datasets


@pytest.fixture
def read_only(monkeypatch):
    """Make folders read-only: chmod, and (root ignores permissions) os.access says so too."""
    frozen = []
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and any(str(os.path.realpath(path)).startswith(str(f)) for f in frozen):
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)

    def freeze(folder):
        folder = folder.resolve()
        frozen.append(folder)
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return folder

    yield freeze
    for folder in frozen:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


def test_a_read_only_dataset_gets_its_caches_elsewhere_and_is_not_touched(packed_toy, tmp_path, monkeypatch,
                                                                          read_only, capsys):
    root = copy(packed_toy, tmp_path / "data")
    for cache in (root / "cache").iterdir():  # a fresh dataset: packed, but no caches yet
        (cache.unlink() if cache.is_file() else __import__("shutil").rmtree(cache))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    read_only(root)
    before = snapshot(root)
    assert train(root, tmp_path / "run") == 0
    assert f"the dataset folder {root} is read-only: its caches are written to" in capsys.readouterr().err
    assert snapshot(root) == before
    assert list((tmp_path / "user-cache" / "mcdlib" / "datasets").glob("data-*/text/hash/index.json"))
    # data.cache_dir chooses the place
    assert train(root, tmp_path / "run2", "--set", f"data.cache_dir={tmp_path / 'mine'}") == 0
    assert (tmp_path / "mine" / "text" / "hash" / "index.json").is_file() and snapshot(root) == before


def test_a_read_only_dataset_without_packed_store_is_refused_clearly(tmp_path, monkeypatch, read_only, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    root = read_only(toy_dataset(tmp_path / "data"))
    assert train(root, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "cannot write the packed store" in err and "must be writable to pack it" in err
    assert "Traceback" not in err


def test_pack_records_what_each_feature_was_built_from(tmp_path):
    root = toy_dataset(tmp_path / "data")
    pack(root, ["vggish"], seconds=10, progress=False)
    entry = read_index(root)["features"]["vggish"]
    size = (root / "feats" / "vggish" / "00000000.npy").stat().st_size
    assert entry["source_sizes"][0] == size and len(entry["row_digests"]) == 6


# --------------------------------------------------------------------------- --data that is not a dataset


def test_data_that_is_a_file_or_missing_says_so(packed_toy, tmp_path, capsys):
    annotation = packed_toy / "json" / "avqa-train.json"
    assert main(["train", "--data", str(annotation), *SETTINGS, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"{annotation} is a file, not a dataset folder" in err and f"the dataset folder is {packed_toy}" in err
    assert "no videos to pack" not in err
    assert main(["train", "--data", str(tmp_path / "nowhere"), *SETTINGS, "--out", str(tmp_path / "r")]) == 2
    assert "nowhere: no such dataset folder" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
