"""The packed store: round trip, resumability, validation, PackedStore reads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcdlib.data.features import feature_path, write_random_features
from mcdlib.data.store import PackedStore, pack, packed_dir, read_index
from mcdlib.errors import FeatureError

IDS = [f"v{i:03d}" for i in range(23)]


@pytest.fixture
def feats(tmp_path):
    """23 videos: audio [60, 8], visual [60, 3, 4] (a grid), the 5th video only 33 s long."""
    write_random_features(tmp_path, "audio", IDS, (60, 8), seed=1)
    write_random_features(tmp_path, "grid", IDS, (60, 3, 4), seed=2)
    np.save(feature_path(tmp_path, "audio", IDS[4]), np.random.default_rng(3).standard_normal((33, 8)))
    return tmp_path


def _files(root):
    return {p.name: p.read_bytes() for p in sorted(packed_dir(root).iterdir())}


def test_pack_round_trip_within_float16_tolerance(feats):
    summary = pack(feats, ["audio", "grid"], video_ids=IDS, seconds=60, segments=10, progress=False, chunk_size=8)
    assert summary["audio"] == {"packed": 23, "skipped": 0, "shape": [23, 10, 8]}
    store = PackedStore(feats)
    assert store.names == ["audio", "grid"] and store.shape("grid") == (23, 10, 3, 4)
    rows = store.rows([IDS[2], IDS[4]])
    got = store.get("audio", rows)
    assert got.dtype == np.float32 and got.shape == (2, 10, 8)
    full = np.load(feature_path(feats, "audio", IDS[2]))
    np.testing.assert_allclose(got[0], full[::6], rtol=1e-3, atol=1e-3)
    short = np.load(feature_path(feats, "audio", IDS[4]))
    expected = short[np.minimum(np.arange(0, 60, 6), 32)]  # padded with the last (33rd) second
    np.testing.assert_allclose(got[1], expected, rtol=1e-3, atol=1e-3)
    assert not list(packed_dir(feats).glob("*.done.npy"))  # done-masks removed once complete


def test_interrupted_pack_resumes_to_identical_bytes(feats, tmp_path_factory):
    reference = tmp_path_factory.mktemp("reference")
    write_random_features(reference, "audio", IDS, (60, 8), seed=1)
    write_random_features(reference, "grid", IDS, (60, 3, 4), seed=2)
    np.save(feature_path(reference, "audio", IDS[4]), np.load(feature_path(feats, "audio", IDS[4])))
    pack(reference, ["audio", "grid"], video_ids=IDS, progress=False, chunk_size=8)

    class Interrupt(Exception):
        pass

    def stop_in_grid(name, done, total):
        if name == "grid" and done >= 16:
            raise Interrupt

    with pytest.raises(Interrupt):
        pack(feats, ["audio", "grid"], video_ids=IDS, progress=False, chunk_size=8, on_chunk=stop_in_grid)
    index = read_index(feats)
    assert index["features"]["audio"]["complete"] and not index["features"]["grid"]["complete"]
    with pytest.raises(FeatureError, match="incomplete.*16/23.*mcd data pack"):
        PackedStore(feats).get("grid", [0])

    calls = []
    summary = pack(feats, ["audio", "grid"], video_ids=IDS, progress=False, chunk_size=8,
                   on_chunk=lambda *a: calls.append(a))
    assert summary["audio"]["packed"] == 0 and summary["grid"] == {"packed": 7, "skipped": 16, "shape": [23, 10, 3, 4]}
    assert calls == [("grid", 23, 23)]
    assert _files(feats) == _files(reference)

    again = pack(feats, ["audio", "grid"], video_ids=IDS, progress=False)  # complete: a no-op
    assert all(s["packed"] == 0 for s in again.values()) and _files(feats) == _files(reference)


def test_pack_defaults_to_annotated_videos(feats):
    (feats / "json").mkdir()
    (feats / "json" / "avqa-train.json").write_text(json.dumps([{"video_id": IDS[3]}, {"video_id": IDS[1]}]))
    pack(feats, ["audio"], progress=False)
    store = PackedStore(feats)
    assert store.video_ids == [IDS[1], IDS[3]] and store.row(IDS[3]) == 1


@pytest.mark.parametrize("corrupt, message", [
    (lambda p: np.save(p, np.full((60, 8), np.nan, np.float32)), "NaN.*video_id v007"),
    (lambda p: np.save(p, np.zeros((60, 9), np.float32)), "per-second shape \\[9\\].*video_id v007"),
    (lambda p: p.unlink(), "missing.*video_id v007"),
    (lambda p: np.save(p, np.full((60, 8), 1e6, np.float32)), "video_id v007.*float16 range"),
])
def test_pack_validation_names_the_video(feats, corrupt, message):
    corrupt(feature_path(feats, "audio", "v007"))
    with pytest.raises(FeatureError, match=message):
        pack(feats, ["audio"], video_ids=IDS, progress=False)


def test_packed_store_errors_tell_the_pack_command(tmp_path, feats):
    with pytest.raises(FeatureError, match="mcd data pack"):
        PackedStore(tmp_path / "nowhere")
    pack(feats, ["audio"], video_ids=IDS, progress=False)
    store = PackedStore(feats)
    with pytest.raises(FeatureError, match=f"mcd data pack {feats} --feature visual"):
        store.get("visual", [0])
    with pytest.raises(FeatureError, match="video_id 'nope'"):
        store.row("nope")


def test_changed_video_list_repacks_every_feature(feats):
    pack(feats, ["audio", "grid"], video_ids=IDS[:10], progress=False)
    pack(feats, ["audio"], video_ids=IDS, progress=False)
    store = PackedStore(feats)
    assert len(store) == 23 and store.names == ["audio", "grid"] and store.shape("grid")[0] == 23


def test_mcd_data_pack_command(feats, capsys):
    from mcdlib.cli import main

    assert main(["data", "pack", str(feats), "--no-progress"]) == 0  # every folder under feats/
    out = capsys.readouterr().out
    assert "audio" in out and "[23, 10, 8]" in out and "23 videos packed now" in out
    assert main(["data", "pack", str(feats), "--feature", "audio", "--no-progress"]) == 0
    assert "already packed" in capsys.readouterr().out
    assert main(["data", "pack", str(feats), "--feature", "nope", "--no-progress"]) == 2
    assert "feats/nope" in capsys.readouterr().err


def test_channels_first_grids_are_packed_as_cells_once(tmp_path):
    """[C, H, W] per second (res18_14x14) is stored [H*W, C] per segment: no transpose per batch."""
    write_random_features(tmp_path, "res18_14x14", IDS[:4], (60, 5, 2, 3), seed=4)
    pack(tmp_path, ["res18_14x14"], video_ids=IDS[:4], seconds=60, segments=10, progress=False)
    entry = read_index(tmp_path)["features"]["res18_14x14"]
    assert entry["shape"] == [4, 10, 6, 5] and entry["layout"] == "cells" and entry["source_shape"] == [5, 2, 3]
    store = PackedStore(tmp_path)
    source = np.load(feature_path(tmp_path, "res18_14x14", IDS[1]))[::6]  # [10, C, H, W]
    expected = source.reshape(10, 5, 6).transpose(0, 2, 1)
    np.testing.assert_allclose(store.get("res18_14x14", [1])[0], expected, rtol=1e-3, atol=1e-3)
    half = store.get("res18_14x14", [1], half=True)
    assert half.dtype == np.float16 and np.array_equal(half.astype(np.float32), store.get("res18_14x14", [1]))
