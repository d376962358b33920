"""Unit tests of mcdlib.scenes.probes on hand-built scenes and synthetic features (fast; the
probes on real rendered features are in tests/test_probes.py, marked slow)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.errors import ConfigError, FeatureError
from mcdlib.scenes.probes import (EMPTY, ProbeData, column_examples, load_probe_data, majority_share,
                                  probe_columns, probe_sounding, sounding_targets)
from mcdlib.scenes.profiles import get_profile
from mcdlib.scenes.questions import COLUMNS, column_of
from mcdlib.scenes.sampling import sample_scenes
from mcdlib.scenes.scene import Player, Scene

DIM = 16


def _scene(players, seconds=4, video_id="ms000000"):
    return Scene(video_id, seconds, players)


def _grid_rows(n):
    return np.arange(n * 3 * 2, dtype=np.float32).reshape(n, 3, 2)


def test_column_examples_label_each_column_and_skip_crowded_ones():
    scene = _scene([Player("violin", 0.1), Player("cello", 0.5), Player("flute", 0.7), Player("tuba", 0.9),
                    Player("piano", 0.5, visible=False)])
    grids = _grid_rows(1)
    x, y = column_examples(ProbeData((scene,), grids, np.zeros((1, 4, 3), np.float32)))
    assert list(y) == ["violin", "cello"]  # right holds flute and tuba: skipped; off-screen piano ignored
    np.testing.assert_array_equal(x, grids[0, :2])

    alone = _scene([Player("drum", 0.9)])
    _, y = column_examples(ProbeData((alone,), _grid_rows(1), np.zeros((1, 4, 3), np.float32)))
    assert list(y) == [EMPTY, EMPTY, "drum"]


def test_sounding_targets_follow_the_middle_of_each_second_on_and_off_screen():
    scene = _scene([Player("violin", 0.2, intervals=[(0.0, 2.4)]),
                    Player("cello", 0.5, visible=False, intervals=[(2.6, 4.0)]),
                    Player("flute", 0.8)])  # silent
    targets = sounding_targets([scene])
    assert targets.shape == (1, 4, len(INSTRUMENTS)) and targets.dtype == bool
    violin, cello = INSTRUMENTS.index("violin"), INSTRUMENTS.index("cello")
    assert list(targets[0, :, violin]) == [True, True, False, False]  # 2.4 s stops before 2.5
    assert list(targets[0, :, cello]) == [False, False, False, True]  # 2.6 s starts after 2.5
    assert targets.sum() == 3


def test_majority_share_of_labels_and_label_sets():
    assert majority_share(np.array(["a", "b", "a", "a"])) == 0.75
    sets = np.array([[True, False], [True, False], [False, False]])
    assert majority_share(sets) == pytest.approx(2 / 3)
    assert np.isnan(majority_share(np.array([])))


def test_probe_data_checks_alignment_shape_and_split():
    scenes = tuple(_scene([Player("violin", 0.5)], video_id=f"ms{i:06d}") for i in range(4))
    audio = np.zeros((4, 4, 3), np.float32)
    with pytest.raises(FeatureError, match="aligned"):
        ProbeData(scenes, _grid_rows(3), audio)
    with pytest.raises(FeatureError, match="grid"):
        ProbeData(scenes, np.zeros((4, 2, 5), np.float32), audio)
    data = ProbeData(scenes, _grid_rows(4), audio)
    train, test = data.split(0.75)
    assert [s.video_id for s in train.scenes] == ["ms000000", "ms000001", "ms000002"]
    assert len(test) == 1 and test.grids[0, 0, 0] == data.grids[3, 0, 0]
    assert [s.video_id for s in data.subset([3, 1]).scenes] == ["ms000003", "ms000001"]
    with pytest.raises(ConfigError, match="probe more scenes"):
        data.subset(slice(0, 1)).split(0.75)


@pytest.fixture(scope="module")
def synthetic():
    """Real sampled scenes with made-up features that encode the truth linearly (plus noise)."""
    scenes = tuple(sample_scenes(get_profile("tiny", ["videos=80"]), seed=3))
    rng = np.random.default_rng(0)
    labels = list(INSTRUMENTS) + [EMPTY]
    picture = {name: rng.normal(size=DIM) for name in labels}
    grids = np.zeros((len(scenes), len(COLUMNS), DIM), np.float32)
    for n, scene in enumerate(scenes):
        for c, column in enumerate(COLUMNS):
            here = [p for p in scene.visible_players if column_of(p.x) == column]
            grids[n, c] = sum((picture[p.instrument] for p in here), picture[EMPTY] if not here else 0)
    grids += rng.normal(scale=0.1, size=grids.shape)
    sound = rng.normal(size=(len(INSTRUMENTS), DIM))
    audio = sounding_targets(scenes).astype(np.float32) @ sound + rng.normal(scale=0.1, size=(len(scenes), 10, DIM))
    return ProbeData(scenes, grids, audio.astype(np.float32))


def test_probes_recover_linearly_encoded_truth(synthetic):
    train, test = synthetic.split(0.75)
    columns = probe_columns(train, test)
    assert columns.occupancy_accuracy > 0.95 and columns.identity_accuracy > 0.6
    assert columns.identity_majority < 0.3 and columns.columns == len(column_examples(test)[1])
    sounding = probe_sounding(train, test)
    assert sounding.macro_auc > 0.95 and sounding.set_accuracy > sounding.set_majority
    assert sounding.seconds == 10 * len(test)
    assert "macro ROC-AUC" in sounding.summary() and "occupied" in columns.summary()


def test_probes_are_at_chance_on_features_without_information(synthetic):
    rng = np.random.default_rng(1)
    noise = ProbeData(synthetic.scenes, rng.normal(size=synthetic.grids.shape).astype(np.float32),
                      rng.normal(size=synthetic.audio.shape).astype(np.float32))
    train, test = noise.split(0.75)
    assert probe_columns(train, test).identity_accuracy < 0.3
    assert probe_sounding(train, test).macro_auc < 0.65


def test_load_probe_data_reads_the_manifests_feature_folders(tmp_path, synthetic):
    scenes = synthetic.scenes[:3]
    (tmp_path / "manifest.json").write_text(json.dumps({"features": {"audio": "a", "visual_grid": "g"}}))
    for folder in ("scenes", "feats/a", "feats/g"):
        (tmp_path / folder).mkdir(parents=True)
    for k, scene in enumerate(scenes):
        scene.save(tmp_path / "scenes" / f"{scene.video_id}.json")
        np.save(tmp_path / "feats" / "a" / f"{scene.video_id}.npy", synthetic.audio[k])
        np.save(tmp_path / "feats" / "g" / f"{scene.video_id}.npy", np.repeat(synthetic.grids[k][None], 10, 0))
    ids = [s.video_id for s in scenes]
    data = load_probe_data(tmp_path, ids[::-1])
    assert [s.video_id for s in data.scenes] == ids[::-1] and data.scenes[0] == scenes[-1]
    np.testing.assert_array_equal(data.grids[0], synthetic.grids[2])
    np.testing.assert_array_equal(data.audio[0], synthetic.audio[2])

    (tmp_path / "feats" / "a" / f"{ids[1]}.npy").unlink()
    with pytest.raises(FeatureError, match=f"{ids[1]}.*feats/a/{ids[1]}.npy"):
        load_probe_data(tmp_path, ids)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(FeatureError, match="manifest.json"):
        load_probe_data(tmp_path, ids)
