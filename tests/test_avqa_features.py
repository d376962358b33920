"""AVQA's HDF5 features → feats/ (mcdlib.data.avqa_features, mcd data import-avqa,
data_scripts/prepare_avqa.py), on small HDF5 files in the published layout written by the tests."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import h5py
import numpy as np
import pytest

from avqa_fixture import video_names, write_avqa_fixture
from mcdlib.cli import main
from mcdlib.config import DataConfig
from mcdlib.data.avqa_features import H5Feature, describe_h5, import_avqa_features
from mcdlib.data.dataset import AVQADataset, ensure_packed
from mcdlib.errors import AnnotationError, FeatureError

REPO = Path(__file__).resolve().parents[1]
CLIPS, FRAMES, DIM = 8, 3, 6


def write_h5(path: Path, dataset: str, values: np.ndarray, ids) -> Path:
    with h5py.File(path, "w") as handle:
        handle.create_dataset(dataset, data=values)
        handle.create_dataset("ids", data=ids)
    return path


@pytest.fixture()
def download(tmp_path):
    """Annotations of 6 videos (ids 1000..1005) and three HDF5 files: rows for videos 1000..1004
    (1005 has none) plus one id (77) no record uses."""
    root = write_avqa_fixture(tmp_path / "download", n_videos=6, features={"x": (CLIPS, 2), "y": (CLIPS, 2)})
    rng = np.random.default_rng(0)
    ids = np.array([1003, 77, 1000, 1001, 1002, 1004])
    files = {
        "appearance": write_h5(tmp_path / "app.h5", "resnet_features", rng.random((6, CLIPS, FRAMES, DIM)), ids),
        "motion": write_h5(tmp_path / "mot.h5", "resnext_features", rng.random((6, CLIPS, DIM)), ids),
        "audio": write_h5(tmp_path / "aud.h5", "vlaudio_features", rng.random((6, DIM)), ids),
    }
    dataset = tmp_path / "avqa"
    (dataset / "json").mkdir(parents=True)
    for split in ("train", "val"):
        (dataset / "json" / f"{split}_qa.json").write_text((root / "json" / f"{split}_qa.json").read_text())
    return dataset, files, ids


def test_import_converts_each_role_matches_ids_and_is_resumable(download):
    dataset, files, ids = download
    sources = {role: H5Feature.open(role, path) for role, path in files.items()}
    summary = import_avqa_features(dataset, sources, progress=False)
    names = video_names(6)
    for name, role in (("avqa_appearance", "appearance"), ("avqa_motion", "motion"), ("avqa_audio", "audio")):
        assert summary[name]["written"] == 5 and summary[name]["ids_not_annotated"] == 1
        assert summary[name]["videos_without_row"] == [names[5]]
        assert sorted(p.stem for p in (dataset / "feats" / name).glob("*.npy")) == sorted(names[:5])
    with h5py.File(files["appearance"]) as handle:
        raw = handle["resnet_features"][list(ids).index(1002)]
    appearance = np.load(dataset / "feats" / "avqa_appearance" / f"{names[2]}.npy")
    assert appearance.shape == (CLIPS, DIM) and appearance.dtype == np.float16
    np.testing.assert_allclose(appearance, raw.mean(axis=1), atol=1e-3)  # the clip's frames averaged
    audio = np.load(dataset / "feats" / "avqa_audio" / f"{names[0]}.npy")
    with h5py.File(files["audio"]) as handle:
        np.testing.assert_allclose(audio, np.repeat(handle["vlaudio_features"][2][None], CLIPS, 0), atol=1e-3)
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["seconds"] == CLIPS and manifest["format"] == "avqa"
    assert manifest["features"] == {"audio": "avqa_audio", "visual": "avqa_appearance"}
    assert manifest["avqa_hdf5"]["avqa_motion"]["dataset"] == "resnext_features"
    again = import_avqa_features(dataset, sources, progress=False)
    assert all(s["written"] == 0 and s["kept"] == 5 for s in again.values())


def test_imported_features_feed_the_packed_store_and_the_dataset(download):
    dataset, files, _ = download
    import_avqa_features(dataset, {r: H5Feature.open(r, p) for r, p in files.items()}, progress=False)
    # drop the questions of the video without features, as a user would after `mcd data check`
    missing = video_names(6)[5]
    for split in ("train", "val"):
        path = dataset / "json" / f"{split}_qa.json"
        path.write_text(json.dumps([r for r in json.loads(path.read_text()) if r["video_name"] != missing]))
    cfg = DataConfig(root=str(dataset), text_model="hash")
    ensure_packed(cfg, progress=False)
    batch = AVQADataset(cfg, "train", progress=False).batch([0, 1])
    assert batch["audio"].shape == (2, CLIPS, DIM) and batch["visual"].shape == (2, CLIPS, DIM)
    motion = DataConfig(root=str(dataset), text_model="hash", visual_feature="avqa_motion")
    ensure_packed(motion, progress=False)
    assert AVQADataset(motion, "train", progress=False).spec.visual_dim == DIM


def test_dataset_names_are_checked_at_open(download, tmp_path):
    _, files, _ = download
    with pytest.raises(FeatureError) as info:
        H5Feature.open("appearance", files["appearance"], dataset="appearance_features")
    message = str(info.value)
    assert "no dataset 'appearance_features'" in message and "resnet_features [6, 8, 3, 6] float64" in message
    assert "ids [6] int64" in message and "--appearance-dataset NAME" in message
    with pytest.raises(FeatureError, match="no dataset 'video_ids'.*--ids NAME"):
        H5Feature.open("motion", files["motion"], ids="video_ids")
    with pytest.raises(FeatureError, match=r"motion features are \[N, clips, D\]"):
        H5Feature.open("motion", files["appearance"], dataset="resnet_features")
    short = write_h5(tmp_path / "short.h5", "resnext_features", np.zeros((3, CLIPS, DIM)), np.arange(2))
    with pytest.raises(FeatureError, match="one video per row"):
        H5Feature.open("motion", short)
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(FeatureError, match="not a readable HDF5 file"):
        H5Feature.open("audio", tmp_path / "text.h5")
    with pytest.raises(FeatureError, match="not found"):
        H5Feature.open("audio", tmp_path / "absent.h5")
    assert ("ids", (6,), "int64") in describe_h5(files["audio"])


def test_ids_may_be_video_names_and_annotations_are_required(download, tmp_path):
    dataset, _, _ = download
    names = video_names(6)
    path = write_h5(tmp_path / "named.h5", "vlaudio_features", np.ones((2, DIM)),
                    np.array([names[1], names[4]], dtype="S"))
    summary = import_avqa_features(dataset, {"audio": H5Feature.open("audio", path)}, progress=False)
    assert summary["avqa_audio"]["written"] == 2
    with pytest.raises(AnnotationError, match="no AVQA annotation files"):
        import_avqa_features(tmp_path / "empty", {"audio": H5Feature.open("audio", path)}, progress=False)


def test_cli_and_prepare_script(download, tmp_path, capsys):
    dataset, files, _ = download
    assert main(["data", "import-avqa", str(dataset), "--list", str(files["motion"])]) == 0
    assert "resnext_features" in capsys.readouterr().out
    assert main(["data", "import-avqa", str(dataset), "--audio", str(files["audio"]), "--no-progress"]) == 0
    assert "avqa_audio (audio): 5 written" in capsys.readouterr().out
    assert main(["data", "import-avqa", str(dataset), "--motion", str(files["motion"]),
                 "--motion-dataset", "nope"]) == 2
    assert "no dataset 'nope'" in capsys.readouterr().err

    script = runpy.run_path(str(REPO / "data_scripts" / "prepare_avqa.py"))["main"]
    target = tmp_path / "prepared"
    status = script(["--annotations", str(dataset / "json"), "--dataset", str(target), "--appearance",
                     str(files["appearance"]), "--audio", str(files["audio"]), "--no-progress"])
    out = capsys.readouterr().out
    assert (target / "json" / "train_qa.json").is_symlink() and "linked <-" in out
    assert "avqa_appearance (appearance): 5 written" in out and "mcd data pack" in out
    assert status == 1  # the check finds the annotated video without features
    assert "annotated videos have no file" in out
    assert script(["--annotations", str(tmp_path / "nothing"), "--dataset", str(target)]) == 2


def test_raw_clips_go_through_extract_features_into_the_same_layout(tmp_path, capsys):
    """AVQA clips are named <video_name>.mp4: --annotated-only reads AVQA annotations, features are
    keyed by video_name, and the dataset opens them like any other feature folder."""
    from test_video_extract import write_test_video

    dataset = write_avqa_fixture(tmp_path / "avqa", n_videos=2, split_sizes={"train": 4, "val": 2},
                                 features={"unused_a": (3, 2), "unused_v": (3, 2)})
    (dataset / "manifest.json").unlink()
    clips = tmp_path / "clips"
    clips.mkdir()
    names = video_names(2)
    for name in names + ["-notannotated_000010"]:
        write_test_video(clips / f"{name}.mp4", seconds=2)
    extract = runpy.run_path(str(REPO / "data_scripts" / "extract_features.py"))["main"]
    args = ["--videos", str(clips), "--dataset", str(dataset), "--annotated-only", "--seconds", "2", "--no-progress"]
    assert extract(args) == 0  # AVQA clips last 10 s: --seconds 10 on the real data
    assert "2 videos extracted" in capsys.readouterr().out
    assert sorted(p.stem for p in (dataset / "feats" / "effnet").glob("*.npy")) == sorted(names)
    cfg = DataConfig(root=str(dataset), text_model="hash")
    ensure_packed(cfg, progress=False)
    train = AVQADataset(cfg, "train", progress=False)
    assert train.data.audio == "logmel" and train.batch([0])["visual"].shape == (1, 2, 1280)
