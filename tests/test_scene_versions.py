"""Generator versions: version 1 stays byte for byte the first generator; version 2 is the default
and differs where it should (profiles, keys, scene files, manifest)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcdlib.config import to_dict
from mcdlib.errors import ConfigError, McdError
from mcdlib.scenes.build import build_dataset, manifest_key
from mcdlib.scenes.profiles import (V2_FIELDS, VERSION_DEFAULTS, get_profile, key_dict, profile_from_dict)
from mcdlib.scenes.sampling import sample_scenes

#: tiny, seed 0, built with version 1 before versions existed (mcdlib dd58215): the content
#: hashes of its annotations and scene graphs, and the sum / sum of squares of each feature
#: (features may differ in the last bits across machines, so they are pinned by statistics)
V1_TINY_HASHES = {
    "json/avqa-train.json": "f4f928fcdbcc20b7a09925fb39ec040199e626453cffdc669812b786f1e1edc9",
    "json/avqa-val.json": "dfcb6d6563272c3011df356ec6db358a81421d52d276b4eedb097e7ade26b702",
    "json/avqa-test.json": "3828cd5d0cd7f53d7db269dfa2c238abdc2d59a921e89a9a9f2dc4915229592c",
}
V1_TINY_SCENES = "a6dc2a86f936e824e535c1bfcaa53551d3ba6defaf780ab5cd32cdc359801371"
V1_TINY_FEATURE_STATS = {  # logmel with the soundfont renderer (TimGM6mb)
    "logmel": (-89742.29868401858, 430681.4630672624),
    "effnet": (156921.31635136492, 151896.63179321538),
    "effnet_grid": (503439.85690598673, 628702.4448316599),
}
#: the keys of version-1 profiles must stay those of builds made before versions existed
V1_PROFILE_KEYS = {"name", "videos", "questions_per_video", "seconds", "split", "split_by", "min_players",
                   "max_players", "instruments", "p_duplicate_instrument", "p_offscreen", "p_voiceover",
                   "p_outdoor", "sample_rate", "image_size", "grid", "renderer", "visual_encoder", "audio_encoder"}


def test_version_2_is_the_default_and_version_1_brings_its_own_defaults():
    v2, v1 = get_profile("tiny"), get_profile("tiny", ["version=1"])
    assert v2.version == 2 and v2.audio_encoder == "logmel2" and v2.balance_views
    assert v1.version == 1 and v1.p_offscreen == 0.15 and v1.audio_encoder == "logmel" and not v1.balance_views
    assert all(getattr(v1, key) == value for key, value in VERSION_DEFAULTS[1].items())
    assert get_profile("tiny", ["version=1", "p_offscreen=0.3"]).p_offscreen == 0.3  # a version-1 setting


def test_version_1_rejects_settings_it_does_not_have():
    with pytest.raises(ConfigError, match="p_closeup.*version 1"):
        get_profile("tiny", ["version=1", "p_closeup=0.5"])
    with pytest.raises(ConfigError, match="version"):
        get_profile("tiny", ["version=3"])


def test_version_1_key_is_the_key_of_builds_before_versions():
    v1 = get_profile("classroom", ["version=1"])
    assert set(key_dict(v1)) == V1_PROFILE_KEYS
    assert set(key_dict(get_profile("classroom"))) == V1_PROFILE_KEYS | set(V2_FIELDS)
    parts = {"renderer": {"name": "r", "version": "1"}}
    assert manifest_key(v1, 0, parts) != manifest_key(get_profile("classroom"), 0, parts)


def test_profiles_read_back_from_manifests():
    old = {k: v for k, v in to_dict(get_profile("tiny", ["version=1"])).items() if k in V1_PROFILE_KEYS}
    assert profile_from_dict(old) == get_profile("tiny", ["version=1"])  # no "version": version 1
    assert profile_from_dict(to_dict(get_profile("tiny"))) == get_profile("tiny")


def test_version_1_scene_files_carry_no_version_2_fields():
    v1 = sample_scenes(get_profile("tiny", ["version=1", "videos=3"]), 0)
    v2 = sample_scenes(get_profile("tiny", ["videos=3"]), 0)
    assert all(not {"camera", "lighting", "version"} & set(s.to_dict()) for s in v1)
    assert all({"camera", "lighting", "version"} <= set(s.to_dict()) and s.version == 2 for s in v2)


@pytest.mark.slow
def test_version_1_tiny_is_byte_identical_to_the_first_generator(tmp_path):
    manifest = build_dataset(get_profile("tiny", ["version=1"]), tmp_path / "tiny_v1", seed=0, progress=False)
    assert manifest["version"] == 1 and manifest["features"]["audio"] == "logmel"
    assert manifest["hashes"]["annotations"] == V1_TINY_HASHES
    assert manifest["hashes"]["scenes"] == V1_TINY_SCENES
    assert set(manifest["ceilings"]) == {"train", "val", "test", "templates"}
    for name, (total, squares) in V1_TINY_FEATURE_STATS.items():
        if name == "logmel" and manifest["renderer"]["name"] != "soundfont":
            continue  # the pinned sound is the soundfont's; the synth fallback sounds different
        arrays = [np.load(Path(tmp_path / "tiny_v1" / "feats" / name / f"{vid}.npy")).astype(np.float64)
                  for vid in manifest["video_ids"]]
        assert sum(a.sum() for a in arrays) == pytest.approx(total, rel=1e-6), name
        assert sum((a * a).sum() for a in arrays) == pytest.approx(squares, rel=1e-6), name
    stored = json.loads((tmp_path / "tiny_v1" / "manifest.json").read_text())
    assert stored["version"] == 1 and stored["build_version"] == 1
    with pytest.raises(McdError, match="generator version 1 .*--set version=1"):  # version 2 is not built over it
        build_dataset(get_profile("tiny"), tmp_path / "tiny_v1", seed=0, progress=False)
