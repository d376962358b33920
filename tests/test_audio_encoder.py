"""Audio encoders: the designed 128-d log-mel features and the weights-only VGGish entry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.encoders.audio import (LOG_FLOOR, N_MELS, GROUPS, LogMelEncoder, get_audio_encoder)
from mcdlib.errors import ConfigError, FeatureError
from mcdlib.scenes.audio import audition_scene, get_renderer

SR = 16000
MEAN, FLUX, STD = slice(0, N_MELS), slice(N_MELS, N_MELS + GROUPS), slice(N_MELS + GROUPS, 128)


@pytest.fixture(scope="module")
def encoder() -> LogMelEncoder:
    return get_audio_encoder("logmel", SR)


def test_shapes_dtypes_and_inputs(encoder):
    waves = np.random.default_rng(0).standard_normal((3, 3 * SR)).astype(np.float32) * 0.1
    feats = encoder.encode(waves)
    assert feats.shape == (3, 3, 128) and feats.dtype == np.float32 and encoder.dim == 128
    np.testing.assert_allclose(encoder.encode(torch.from_numpy(waves)), feats, atol=1e-5)
    assert encoder.name == "logmel" and "mel64" in encoder.version
    # batching does not change results; padding to more seconds appends silence
    np.testing.assert_allclose(LogMelEncoder(SR, batch_size=2).encode(waves), feats, atol=1e-5)
    padded = encoder.encode(waves[:, : 2 * SR + 100], seconds=4)
    assert padded.shape == (3, 4, 128)
    np.testing.assert_allclose(padded[:, 3, MEAN], np.log10(LOG_FLOOR), atol=1e-4)
    with pytest.raises(FeatureError, match=r"\[batch, samples\]"):
        encoder.encode(waves[0])
    with pytest.raises(FeatureError, match="shorter than one second"):
        encoder.encode(waves[:, :100])
    with pytest.raises(ConfigError, match="unknown audio encoder"):
        get_audio_encoder("openl3")


def test_silence_and_loudness(encoder):
    silence = encoder.encode(np.zeros((1, 2 * SR), dtype=np.float32))[0]
    np.testing.assert_allclose(silence[:, MEAN], np.log10(LOG_FLOOR), atol=1e-5)
    np.testing.assert_allclose(silence[:, 64:], 0.0, atol=1e-6)
    renderer = get_renderer("synth", SR)
    quiet, loud = (renderer.render(audition_scene(["clarinet"], seconds=2, loudness_db=db)).mix
                   for db in (-12.0, -6.0))
    gain = encoder.encode(np.stack([loud]))[0, :, MEAN] - encoder.encode(np.stack([quiet]))[0, :, MEAN]
    strong = encoder.encode(np.stack([loud]))[0, :, MEAN] > -2.0  # bands well above the floor
    assert np.median(gain[strong]) == pytest.approx(np.log10(4.0), abs=0.02)  # +6 dB = x4 power


def test_features_follow_time_and_rhythm(encoder):
    renderer = get_renderer("synth", SR)
    scene = audition_scene(["trumpet"], seconds=4)
    scene.players[0].intervals = [(2.0, 4.0)]  # silent, then playing
    feats = encoder.encode(renderer.render(scene).mix[None])[0]
    assert feats[:2, MEAN].max() < -5.5 and feats[2:, MEAN].mean() > -4.0
    slow, fast = (encoder.encode(renderer.render(audition_scene(["xylophone"], seconds=3, rhythm=r)).mix[None])[0]
                  for r in (1.5, 6.0))
    assert fast[:, FLUX].sum() > 2.0 * slow[:, FLUX].sum()  # onset strength grows with note density


def test_linear_probe_recovers_which_instruments_sound_each_second(encoder):
    """Per-second multi-label probe on sampled music scenes (1-4 players, entries, stops, voiceover)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score
    from sklearn.preprocessing import StandardScaler

    from mcdlib.scenes.profiles import get_profile
    from mcdlib.scenes.sampling import sample_scenes

    renderer = get_renderer("synth", SR)
    scenes = sample_scenes(get_profile("tiny"), seed=3, indices=range(60))
    feats = encoder.encode(np.stack([renderer.render(s).mix for s in scenes]))  # [60, T, 128]
    labels = np.zeros(feats.shape[:2] + (len(INSTRUMENTS),), dtype=bool)
    for i, scene in enumerate(scenes):
        for player in scene.players:
            for second in range(scene.seconds):
                labels[i, second, INSTRUMENTS.index(player.instrument)] |= player.sounding_at(second + 0.5)
    train, test = slice(0, 45), slice(45, 60)
    scaler = StandardScaler().fit(feats[train].reshape(-1, 128))
    x_train, x_test = (scaler.transform(feats[s].reshape(-1, 128)) for s in (train, test))
    y_train, y_test = labels[train].reshape(-1, len(INSTRUMENTS)), labels[test].reshape(-1, len(INSTRUMENTS))
    aucs, accuracies = [], []
    for k in range(len(INSTRUMENTS)):
        if y_train[:, k].sum() < 5 or y_test[:, k].sum() < 2 or y_test[:, k].all():
            continue
        probe = LogisticRegression(C=0.1, max_iter=500, class_weight="balanced").fit(x_train, y_train[:, k])
        aucs.append(roc_auc_score(y_test[:, k], probe.decision_function(x_test)))
        accuracies.append(balanced_accuracy_score(y_test[:, k], probe.predict(x_test)))
    print(f"per-second instrument probe: mean ROC-AUC {np.mean(aucs):.3f} over {len(aucs)} instruments, "
          f"balanced accuracy {np.mean(accuracies):.3f} (chance 0.5 for both)")
    assert len(aucs) >= 15 and np.mean(aucs) >= 0.75 and np.mean(accuracies) >= 0.65
