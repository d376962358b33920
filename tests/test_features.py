"""Per-video feature files: sampling, padding, validation, folder check, config resolution."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcdlib.config import DataConfig
from mcdlib.data.features import (check_feature_folder, load_segments, resolve_data_config,
                                  sample_segments, segment_indices, write_random_features)
from mcdlib.errors import FeatureError


def test_segment_indices_every_sixth_second_of_sixty():
    assert segment_indices(60, 10).tolist() == [0, 6, 12, 18, 24, 30, 36, 42, 48, 54]
    assert segment_indices(10, 10).tolist() == list(range(10))
    assert segment_indices(10, 4).tolist() == [0, 2, 5, 7]


def test_segment_indices_rejects_more_segments_than_seconds():
    with pytest.raises(FeatureError, match="--segments"):
        segment_indices(5, 10)


def test_sample_segments_pads_short_video_by_repeating_last_second():
    video = np.arange(40, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # 40 of 60 s
    rows = sample_segments(video, 60, 10)[:, 0]
    assert rows.tolist() == [0, 6, 12, 18, 24, 30, 36, 39, 39, 39]


def test_load_segments_names_video_on_nan(tmp_path):
    array = np.zeros((60, 4), np.float32)
    array[12, 1] = np.nan
    np.save(tmp_path / "vid7.npy", array)
    with pytest.raises(FeatureError, match="NaN.*vid7"):
        load_segments(tmp_path / "vid7.npy", 60, 10, "vid7")


def test_load_segments_rejects_integer_dtype_and_wrong_trailing_shape(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((60, 4), np.int64))
    with pytest.raises(FeatureError, match="dtype int64.*video_id a"):
        load_segments(tmp_path / "a.npy", 60, 10, "a")
    np.save(tmp_path / "b.npy", np.zeros((60, 5), np.float32))
    with pytest.raises(FeatureError, match="per-second shape \\[5\\].*video_id b"):
        load_segments(tmp_path / "b.npy", 60, 10, "b", trailing=(4,))


def test_load_segments_missing_file_names_video(tmp_path):
    with pytest.raises(FeatureError, match="missing.*video_id v9"):
        load_segments(tmp_path / "v9.npy", 60, 10, "v9")


def test_check_feature_folder_reports_every_kind_of_problem(tmp_path):
    feats = tmp_path / "feats"
    write_random_features(tmp_path, "vggish", ["v1", "v2", "v3"], (60, 8))
    np.save(feats / "vggish" / "v4.npy", np.zeros((60, 9), np.float32))  # wrong shape
    bad = np.zeros((60, 8), np.float32)
    bad[3, 3] = np.inf
    np.save(feats / "vggish" / "v5.npy", bad)
    (feats / "vggish" / "v6.npy").write_bytes(b"not numpy")
    result = check_feature_folder(feats, {"v1", "v2", "v3", "v4", "v5", "v6", "v7"}, seconds=60)
    assert result.rows == [("vggish", 6, (60, 8), "float32")]
    text = "\n".join(result.problems)
    assert "v4" in text and "per-second shape" in text
    assert "Inf" in text and "v5" in text
    assert "unreadable" in text and "v6" in text
    assert "1 annotated videos have no file" in text and "v7" in text
    assert not result.ok


def test_check_feature_folder_clean(tmp_path):
    write_random_features(tmp_path, "res18", ["a", "b"], (10, 4))
    result = check_feature_folder(tmp_path / "feats", {"a", "b"}, seconds=10)
    assert result.ok and result.rows == [("res18", 2, (10, 4), "float32")]


def test_resolve_data_config_defaults_and_manifest(tmp_path):
    plain = resolve_data_config(DataConfig(root=str(tmp_path)))
    assert (plain.audio, plain.visual, plain.visual_grid, plain.seconds) == ("vggish", "res18", None, 60)
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"seconds": 10, "features": {"audio": "logmel", "visual": "effnet", "visual_grid": "effnet_grid"}}))
    scenes = resolve_data_config(DataConfig(root=str(tmp_path)))
    assert scenes.features == ["logmel", "effnet", "effnet_grid"] and scenes.seconds == 10
    explicit = resolve_data_config(DataConfig(root=str(tmp_path), visual_grid_feature="none",
                                              audio_feature="vggish", seconds=60))
    assert explicit.features == ["vggish", "effnet"] and explicit.seconds == 60


def test_resolve_data_config_malformed_manifest(tmp_path):
    (tmp_path / "manifest.json").write_text("{oops")
    with pytest.raises(FeatureError, match="manifest.json"):
        resolve_data_config(DataConfig(root=str(tmp_path)))
