"""Linear probes: do the frozen features of music scenes carry what the questions ask about?

* visual grid features -> which instrument stands in each stage column (identity + location),
  and whether a column holds a player at all (location);
* log-mel audio features -> which instruments sound in each second.

Scenes come from the real sampler and are rendered and encoded exactly as the builder does.
Measured on 2 cores (seed 7; see the report): instrument-in-column accuracy ~0.8
(chance 0.05), column occupancy ~0.98 (majority ~0.6), sounding instruments per second macro
ROC-AUC ~0.95 (chance 0.5). Thresholds are set well below those, well above chance.
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


def _probe(train_x, train_y, test_x, test_y) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    model.fit(train_x, train_y)
    return float((model.predict(test_x) == np.asarray(test_y)).mean())


@pytest.fixture(scope="module")
def scenes():
    return sample_scenes(get_profile("tiny", ["videos=240"]), seed=7)


@pytest.fixture(scope="module")
def grids(scenes):
    from mcdlib.encoders.visual import get_visual_encoder

    frames = np.stack([render_frame(s) for s in scenes])
    return get_visual_encoder("efficientnet_lite0", grid=3).encode(frames)[1]  # [N, 3, 1280]


def _column_examples(scenes, grids, which):
    """(cell feature, instrument or None) for each scene's columns (columns with 2 players skipped)."""
    xs, ys = [], []
    for scene, grid in zip(scenes[which], grids[which]):
        for c, column in enumerate(COLUMNS):
            here = [p.instrument for p in scene.visible_players if column_of(p.x) == column]
            if len(here) <= 1:
                xs.append(grid[c])
                ys.append(here[0] if here else None)
    return np.stack(xs), ys


def test_grid_features_tell_which_instrument_is_in_each_column(scenes, grids):
    train, test = slice(0, 180), slice(180, None)
    (tx, ty), (vx, vy) = _column_examples(scenes, grids, train), _column_examples(scenes, grids, test)
    keep_t = [i for i, y in enumerate(ty) if y is not None]
    keep_v = [i for i, y in enumerate(vy) if y is not None and y in {ty[j] for j in keep_t}]
    accuracy = _probe(tx[keep_t], [ty[i] for i in keep_t], vx[keep_v], [vy[i] for i in keep_v])
    chance = max(np.unique([vy[i] for i in keep_v], return_counts=True)[1]) / len(keep_v)
    print(f"instrument in column: accuracy {accuracy:.3f} on {len(keep_v)} cells (majority {chance:.3f}, "
          f"1/22 = {1 / len(INSTRUMENTS):.3f})")
    assert accuracy > 0.5 and accuracy > 4 * chance

    occupied_t = [y is not None for y in ty]
    occupied_v = [y is not None for y in vy]
    occupancy = _probe(tx, occupied_t, vx, occupied_v)
    majority = max(np.mean(occupied_v), 1 - np.mean(occupied_v))
    print(f"column occupied: accuracy {occupancy:.3f} on {len(vy)} cells (majority {majority:.3f})")
    assert occupancy > 0.9 and occupancy > majority + 0.15


def test_logmel_features_tell_which_instruments_sound_each_second(scenes):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from mcdlib.encoders.audio import get_audio_encoder
    from mcdlib.scenes.audio import get_renderer

    renderer = get_renderer("auto", sample_rate=16000)
    feats = get_audio_encoder("logmel", sample_rate=16000).encode(
        np.stack([renderer.render(s).mix for s in scenes]))  # [N, T, 128]
    labels = np.array([[[any(p.instrument == name and p.sounding_at(t + 0.5) for p in s.players)
                         for name in INSTRUMENTS] for t in range(s.seconds)] for s in scenes])  # [N, T, 22]
    n_train = 180
    x_train, x_test = feats[:n_train].reshape(-1, 128), feats[n_train:].reshape(-1, 128)
    y_train, y_test = labels[:n_train].reshape(-1, 22), labels[n_train:].reshape(-1, 22)
    scaler = StandardScaler().fit(x_train)
    aucs = {}
    for k, name in enumerate(INSTRUMENTS):
        if y_train[:, k].any() and 0 < y_test[:, k].sum() < len(y_test):
            model = LogisticRegression(max_iter=2000, C=0.1).fit(scaler.transform(x_train), y_train[:, k])
            aucs[name] = roc_auc_score(y_test[:, k], model.decision_function(scaler.transform(x_test)))
    macro = float(np.mean(list(aucs.values())))
    print(f"sounding instruments per second ({renderer.name}): macro ROC-AUC {macro:.3f} over "
          f"{len(aucs)} instruments (chance 0.5); lowest {min(aucs, key=aucs.get)} {min(aucs.values()):.3f}")
    assert len(aucs) >= 15 and macro > 0.8
