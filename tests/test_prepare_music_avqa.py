"""Laying out downloaded MUSIC-AVQA annotations (mcdlib.data.prepare, data_scripts/prepare_music_avqa.py)."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

from mcdlib.data.music_avqa import load_split, make_question, write_annotations
from mcdlib.data.prepare import (
    KNOWN_SHA256, MISMATCH, UNKNOWN, VERIFIED, link_feature_folders, locate_annotation_folders, next_commands,
    parse_sha256sums, prepare_annotations,
)
from mcdlib.errors import AnnotationError, FeatureError
from mcdlib.utils.io import file_sha256

REPO = Path(__file__).resolve().parents[1]


def write_split(path: Path, first_id: int, answer: str = "yes") -> Path:
    questions = [make_question(first_id + i, f"0000000{i}", "Is there a <Object> sound?", ["violin"], answer)
                 for i in range(3)]
    return write_annotations(questions, path)


@pytest.fixture
def download(tmp_path) -> Path:
    """A clone-like download: data/json_update/avqa-{train,val}.json (test not downloaded).

    The train file has no known checksum; this val file is not the official one (a mismatch)."""
    root = tmp_path / "MUSIC-AVQA"
    write_split(root / "data" / "json_update" / "avqa-train.json", 100)
    write_split(root / "data" / "json_update" / "avqa-val.json", 200)
    return root


def test_known_checksums_are_those_of_the_shipped_files(shared_annotations):
    assert KNOWN_SHA256 == parse_sha256sums(shared_annotations / "SHA256SUMS")


def test_official_files_are_verified_and_missing_train_is_reported(tmp_path, shared_annotations):
    result = prepare_annotations(shared_annotations, tmp_path / "ds")
    states = {f.relative: (f.action, f.checksum) for f in result.files}
    assert states["json_update/avqa-test.json"] == ("linked", VERIFIED)
    assert states["json/avqa-val_real.json"] == ("linked", VERIFIED)
    assert [f.relative for f in result.missing] == ["json/avqa-train.json", "json_update/avqa-train.json"]
    assert not result.ok and "download data/json_update/avqa-train.json" in result.format()
    assert len(load_split(tmp_path / "ds", "test", "json_update")) == 9129  # the reader follows the links


def test_prepare_links_then_is_idempotent_and_copies_on_request(tmp_path, download):
    result = prepare_annotations(download, tmp_path / "ds")
    placed = {f.relative: f for f in result.files if f.action != "missing"}
    assert {name: f.checksum for name, f in placed.items()} == {"json_update/avqa-train.json": UNKNOWN,
                                                                "json_update/avqa-val.json": MISMATCH}
    assert all(f.action == "linked" and f.target.is_symlink() for f in placed.values())
    assert [f.relative for f in result.missing] == ["json_update/avqa-test.json"]
    assert "checksum mismatches" in result.format()
    assert [q.question_id for q in load_split(tmp_path / "ds", "train", "json_update")] == [100, 101, 102]
    again = prepare_annotations(download, tmp_path / "ds")
    assert {f.action for f in again.files if f.source} == {"already there"}
    copied = prepare_annotations(download, tmp_path / "copy", mode="copy")
    target = tmp_path / "copy" / "json_update" / "avqa-val.json"
    assert {f.action for f in copied.files if f.source} == {"copied"} and not target.is_symlink()


def test_a_different_existing_file_needs_force(tmp_path, download):
    write_split(tmp_path / "ds" / "json_update" / "avqa-train.json", 500)
    with pytest.raises(AnnotationError, match="exists and differs"):
        prepare_annotations(download, tmp_path / "ds")
    prepare_annotations(download, tmp_path / "ds", force=True)
    assert load_split(tmp_path / "ds", "train", "json_update")[0].question_id == 100


def test_user_checksums_verify_and_catch_a_changed_file(tmp_path, download):
    train = download / "data" / "json_update" / "avqa-train.json"
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{file_sha256(train)}  json_update/avqa-train.json\n")
    result = prepare_annotations(download, tmp_path / "ds", extra_sha256=parse_sha256sums(sums))
    checks = {f.relative: f.checksum for f in result.files if f.source}
    assert checks == {"json_update/avqa-train.json": VERIFIED, "json_update/avqa-val.json": MISMATCH}
    sums.write_text(f"{'0' * 64}  json_update/avqa-train.json\n")
    result = prepare_annotations(download, tmp_path / "ds2", extra_sha256=parse_sha256sums(sums))
    assert [f.relative for f in result.mismatches] == ["json_update/avqa-train.json", "json_update/avqa-val.json"]
    with pytest.raises(AnnotationError, match="differs from the official"):
        prepare_annotations(download, tmp_path / "x", extra_sha256={"json_update/avqa-val.json": "1" * 64})
    sums.write_text("not a checksum line\n")
    with pytest.raises(AnnotationError, match="line 1"):
        parse_sha256sums(sums)


def test_a_flat_folder_needs_its_version(tmp_path):
    flat = tmp_path / "flat"
    write_split(flat / "avqa-train.json", 1)
    with pytest.raises(AnnotationError, match="--version json"):
        locate_annotation_folders(flat)
    assert locate_annotation_folders(flat, "json") == {"json": flat}
    with pytest.raises(AnnotationError, match="no MUSIC-AVQA annotations found"):
        locate_annotation_folders(tmp_path / "flat" / "..")


def test_feature_folders_are_linked(tmp_path):
    source = tmp_path / "features"
    for name in ("vggish", "res18"):
        (source / name).mkdir(parents=True)
        np.save(source / name / "00000001.npy", np.zeros((60, 8), np.float32))
    assert set(link_feature_folders(source, tmp_path / "ds", ["vggish"])) == {"vggish"}
    assert (tmp_path / "ds" / "feats" / "vggish" / "00000001.npy").is_file()
    assert link_feature_folders(source, tmp_path / "ds", ["vggish"]) == {"vggish": "already there"}
    with pytest.raises(FeatureError, match="no feature folder clip"):
        link_feature_folders(source, tmp_path / "ds", ["clip"])


def test_next_commands_use_the_corrected_version_and_skip_extraction_when_features_exist():
    commands = next_commands("data/music_avqa", ["json", "json_update"], videos="videos")
    assert commands[0].startswith("python data_scripts/extract_features.py --videos videos --dataset data/music_avqa")
    assert "data.annotations=json_update" in commands[-1]
    assert not any("extract_features" in c for c in next_commands("d", ["json"], has_features=True))


def test_script_prints_check_missing_files_and_next_commands(tmp_path, download, capsys):
    main = runpy.run_path(str(REPO / "data_scripts" / "prepare_music_avqa.py"))["main"]
    assert main(["--annotations", str(download), "--dataset", str(tmp_path / "ds"), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "json_update/avqa-test.json" in out and "missing" in out
    assert "OK: no problems found" in out  # the data check of what is there
    assert f"mcd data check {tmp_path / 'ds'}" in out
    assert main(["--annotations", str(tmp_path / "nowhere"), "--dataset", str(tmp_path / "ds")]) == 2
    assert "no such folder" in capsys.readouterr().err
