"""Linear probes: do the frozen features of music scenes carry what the questions ask about?

* visual grid features -> which instrument stands in each stage column, or none (identity
  and location at once);
* log-mel audio features -> which instruments sound in each second.

Scenes come from the real sampler and are rendered and encoded as the builder does; probes
are ridge-regularised linear read-outs trained on 150 scenes and tested on 50 others.
Measured (seed 7, soundfont renderer): instrument in a column 0.84 (majority 0.08, 1/22 =
0.045), column occupied or empty 0.97 (majority 0.77), sounding instruments per second macro
ROC-AUC 0.89 (chance 0.5). The thresholds sit well below those and well above chance.
"""

from __future__ import annotations

import numpy as np
import pytest

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.scenes.frames import render_frame
from mcdlib.scenes.profiles import get_profile
from mcdlib.scenes.questions import COLUMNS, column_of
from mcdlib.scenes.sampling import sample_scenes

pytestmark = pytest.mark.slow
N_TRAIN, N_TEST = 150, 50
EMPTY = "<empty>"


@pytest.fixture(scope="module")
def scenes():
    return sample_scenes(get_profile("tiny", [f"videos={N_TRAIN + N_TEST}"]), seed=7)


def _column_cells(scenes, grids):
    """(cell feature, instrument or EMPTY) per stage column (a column with two players is skipped)."""
    xs, ys = [], []
    for scene, grid in zip(scenes, grids):
        for c, column in enumerate(COLUMNS):
            here = [p.instrument for p in scene.visible_players if column_of(p.x) == column]
            if len(here) <= 1:
                xs.append(grid[c])
                ys.append(here[0] if here else EMPTY)
    return np.stack(xs), np.array(ys)


def test_grid_features_tell_which_instrument_stands_in_each_column(scenes):
    from sklearn.linear_model import RidgeClassifier
    from sklearn.preprocessing import StandardScaler

    from mcdlib.encoders.visual import get_visual_encoder

    grids = get_visual_encoder("efficientnet_lite0", grid=3).encode(np.stack([render_frame(s) for s in scenes]))[1]
    train_x, train_y = _column_cells(scenes[:N_TRAIN], grids[:N_TRAIN])
    test_x, test_y = _column_cells(scenes[N_TRAIN:], grids[N_TRAIN:])
    scaler = StandardScaler().fit(train_x)
    predicted = RidgeClassifier(alpha=100.0).fit(scaler.transform(train_x), train_y).predict(scaler.transform(test_x))

    occupied = test_y != EMPTY
    identity = float((predicted[occupied] == test_y[occupied]).mean())
    majority = np.unique(test_y[occupied], return_counts=True)[1].max() / occupied.sum()
    print(f"instrument in column: accuracy {identity:.3f} on {occupied.sum()} cells (majority {majority:.3f}, "
          f"1/22 = {1 / len(INSTRUMENTS):.3f})")
    assert identity > 0.5 and identity > 4 * majority

    occupancy = float(((predicted != EMPTY) == occupied).mean())
    base = max(occupied.mean(), 1 - occupied.mean())
    print(f"column occupied or empty: accuracy {occupancy:.3f} on {len(test_y)} cells (majority {base:.3f})")
    assert occupancy > 0.88 and occupancy > base + 0.1


def test_logmel_features_tell_which_instruments_sound_each_second(scenes):
    from sklearn.linear_model import Ridge
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from mcdlib.encoders.audio import get_audio_encoder
    from mcdlib.scenes.audio import get_renderer

    renderer = get_renderer("auto", sample_rate=16000)
    feats = get_audio_encoder("logmel", sample_rate=16000).encode(
        np.stack([renderer.render(s).mix for s in scenes]))  # [N, T, 128]
    labels = np.array([[[any(p.instrument == name and p.sounding_at(t + 0.5) for p in s.players)
                         for name in INSTRUMENTS] for t in range(s.seconds)] for s in scenes])  # [N, T, 22]
    train_x, test_x = feats[:N_TRAIN].reshape(-1, feats.shape[-1]), feats[N_TRAIN:].reshape(-1, feats.shape[-1])
    train_y, test_y = labels[:N_TRAIN].reshape(-1, 22), labels[N_TRAIN:].reshape(-1, 22)
    scaler = StandardScaler().fit(train_x)
    scores = Ridge(alpha=10.0).fit(scaler.transform(train_x), train_y.astype(float)).predict(scaler.transform(test_x))
    aucs = {name: roc_auc_score(test_y[:, k], scores[:, k]) for k, name in enumerate(INSTRUMENTS)
            if 0 < test_y[:, k].sum() < len(test_y) and train_y[:, k].any()}
    macro = float(np.mean(list(aucs.values())))
    print(f"sounding instruments per second ({renderer.name}): macro ROC-AUC {macro:.3f} over {len(aucs)} "
          f"instruments (chance 0.5); lowest {min(aucs, key=aucs.get)} {min(aucs.values()):.3f}")
    assert len(aucs) >= 15 and macro > 0.8
