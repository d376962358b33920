"""Music-scenes audio: score, both renderers, ground-truth stems, mix, determinism, timbres."""

from __future__ import annotations

import numpy as np
import pytest

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.errors import ConfigError
from mcdlib.scenes import audio as scene_audio
from mcdlib.scenes.audio import (MIX_GAIN, REFERENCE_RMS, VOICE_DB, SceneAudio, SynthRenderer,
                                 active_rms, audition_scene, get_renderer)
from mcdlib.scenes.scene import Player, Scene
from mcdlib.scenes.score import PARTS, compose_part

SR = 16000


def _soundfont_or_skip():
    try:
        return get_renderer("soundfont", SR)
    except ConfigError as error:
        pytest.skip(f"soundfont renderer unavailable: {error}")


@pytest.fixture(params=["synth", "soundfont"])
def renderer(request):
    return get_renderer("synth", SR) if request.param == "synth" else _soundfont_or_skip()


def _ground_truth_scene() -> Scene:
    players = [
        Player("violin", 0.2, intervals=[(3.0, 8.0)], loudness_db=-6.0, rhythm=2.0),  # late, stops early
        Player("piano", 0.5, intervals=[(0.0, 3.0), (6.0, 8.0)], loudness_db=-12.0, rhythm=4.0),  # gap
        Player("drum", 0.8, intervals=[], loudness_db=0.0, rhythm=3.0),  # silent
        Player("suona", 0.5, visible=False, intervals=[(0.0, 8.0)], loudness_db=-3.0, rhythm=1.5),
    ]
    return Scene("gt000001", seconds=8, players=players, voiceover=[(1.0, 4.0)], seed=11)


def _energy_per_second(signal: np.ndarray) -> np.ndarray:
    return np.square(signal.reshape(-1, SR), dtype=np.float64).mean(1)


def test_score_follows_intervals_rhythm_and_range():
    player = Player("tuba", 0.5, intervals=[(1.0, 4.0), (6.0, 9.0)], rhythm=4.0)
    notes = compose_part(player, (3, 0))
    part = PARTS["tuba"]
    assert all(part.low <= n.pitch <= part.high for n in notes)
    assert all(any(s <= n.onset and n.onset + n.duration <= e + 1e-6 for s, e in player.intervals) for n in notes)
    assert {1.0, 6.0} <= {n.onset for n in notes}  # every interval starts with a note
    assert 20 <= len(notes) <= 28  # about 4 notes/s over 6 s
    assert compose_part(player, (3, 0)) == notes and compose_part(player, (4, 0)) != notes
    drum = compose_part(Player("drum", 0.5, intervals=[(0.0, 2.0)], rhythm=4.0), (1, 1))
    assert {n.pitch for n in drum} <= set(PARTS["drum"].pattern)
    assert max(PARTS["flute"].low, PARTS["suona"].low) > PARTS["electric_bass"].high


def test_shapes_dtypes_and_interface(renderer):
    scene = _ground_truth_scene()
    result = renderer.render(scene)
    assert isinstance(result, SceneAudio) and result.sample_rate == SR
    assert result.mix.shape == (8 * SR,) and result.mix.dtype == np.float32
    assert result.stems.shape == (4, 8 * SR) and result.stems.dtype == np.float32
    assert result.voice is not None and result.voice.shape == (8 * SR,) and result.voice.dtype == np.float32
    assert renderer.name in ("synth", "soundfont") and renderer.version
    assert np.isfinite(result.mix).all() and np.abs(result.mix).max() <= 1.0
    assert renderer.render(audition_scene(["flute"], seconds=2)).voice is None


def test_stems_are_silent_outside_and_sound_inside_their_intervals(renderer):
    scene = _ground_truth_scene()
    result = renderer.render(scene)
    for player, stem in zip(scene.players, result.stems):
        energy = _energy_per_second(stem)
        for second in range(scene.seconds):
            if player.sounding_at(second + 0.5):
                assert energy[second] > 1e-5, (player.instrument, second)
            elif not any(s < second + 1 and second < e for s, e in player.intervals):
                assert energy[second] == 0.0, (player.instrument, second)
    voice = _energy_per_second(result.voice)
    assert voice[[0, 4, 5, 6, 7]].max() == 0.0 and voice[1:4].min() > 1e-5
    assert active_rms(result.voice, SR) == pytest.approx(REFERENCE_RMS * 10 ** (VOICE_DB / 20), rel=1e-3)


def test_loudness_db_sets_the_stem_level(renderer):
    scene = _ground_truth_scene()
    result = renderer.render(scene)
    for player, stem in zip(scene.players, result.stems):
        if player.intervals:
            assert active_rms(stem, SR) == pytest.approx(REFERENCE_RMS * 10 ** (player.loudness_db / 20), rel=1e-3)
    quiet, loud = (renderer.render(audition_scene(["cello"], seconds=3, seed=5, loudness_db=db)).stems[0]
                   for db in (-12.0, -6.0))
    ratio = np.sqrt(np.mean(loud.astype(np.float64) ** 2) / np.mean(quiet.astype(np.float64) ** 2))
    assert ratio == pytest.approx(10 ** (6 / 20), rel=1e-3)  # +6 dB: twice the RMS


def test_mix_is_the_fixed_gain_sum_of_stems_and_voice(renderer):
    result = renderer.render(_ground_truth_scene())
    expected = MIX_GAIN * (result.stems.astype(np.float64).sum(0) + result.voice)
    assert result.clipped == 0 and result.mix_gain == MIX_GAIN
    np.testing.assert_allclose(result.mix, expected, atol=1e-6)


def test_rendering_is_deterministic(renderer):
    scene = _ground_truth_scene()
    first, second = renderer.render(scene), renderer.render(scene)
    np.testing.assert_array_equal(first.mix, second.mix)
    np.testing.assert_array_equal(first.stems, second.stems)
    fresh = type(renderer)(SR)  # a new instance (no shared state) gives the same samples
    np.testing.assert_array_equal(fresh.render(scene).mix, first.mix)
    other = Scene.from_dict({**scene.to_dict(), "seed": 12})
    assert not np.array_equal(renderer.render(other).mix, first.mix)


def test_a_soundfont_part_does_not_depend_on_the_part_rendered_before():
    _soundfont_or_skip()
    from mcdlib.scenes.score import Note
    from mcdlib.scenes.soundfont import SoundfontPlayer

    player = SoundfontPlayer(SR)
    melody = [Note(0.0, 0.5, 60, 0.8), Note(0.5, 0.5, 64, 0.8)]
    first = player.render_part("violin", melody, SR)
    player.render_part("tuba", [Note(0.0, 2.0, 40, 1.0)], SR)  # still sounding when the part ends
    np.testing.assert_array_equal(player.render_part("violin", melody, SR), first)


def _count_onsets(wave: np.ndarray, encoder) -> int:
    """Spectral-flux onsets: local maxima (+-30 ms) of the mean positive log-mel increase above 1/4 of its max."""
    logmel = encoder.log_mel(wave[None])[0]
    novelty = np.maximum(np.diff(logmel, axis=0), 0.0).mean(1)
    padded = np.pad(novelty, 3)
    local_max = np.max(np.stack([padded[i:i + len(novelty)] for i in range(7)]), 0)
    return int(((novelty == local_max) & (novelty > 0.25 * novelty.max())).sum())


def test_higher_rhythm_gives_more_onsets(renderer):
    from mcdlib.encoders.audio import get_audio_encoder

    encoder = get_audio_encoder("logmel", SR)
    counts = {}
    for instrument in INSTRUMENTS:
        slow, fast = (_count_onsets(renderer.render(audition_scene([instrument], seconds=4, seed=2, rhythm=r)).mix,
                                    encoder) for r in (1.5, 6.0))
        counts[instrument] = (slow, fast)
        assert fast > slow, (instrument, slow, fast)
    for instrument in ("piano", "xylophone", "congas", "acoustic_guitar"):  # clean attacks: about 6 and 24
        assert counts[instrument][0] <= 8 and 19 <= counts[instrument][1] <= 28, (instrument, counts[instrument])


def test_all_22_instruments_are_distinguishable(renderer):
    """Logistic regression on clip-mean log-mel features: train on 4 seeds, test on 2 unseen ones."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from mcdlib.encoders.audio import get_audio_encoder

    encoder = get_audio_encoder("logmel", SR)
    features, labels, seeds = [], [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        waves = np.stack([renderer.render(audition_scene(
            [instrument], seconds=3, seed=100 * seed + k, rhythm=float(rng.uniform(1, 6)),
            loudness_db=float(rng.uniform(-12, 0)))).mix for k, instrument in enumerate(INSTRUMENTS)])
        features.append(encoder.encode(waves).mean(1))
        labels += range(len(INSTRUMENTS))
        seeds += [seed] * len(INSTRUMENTS)
    x, y, seeds = np.concatenate(features), np.array(labels), np.array(seeds)
    train = seeds < 4
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000)).fit(x[train], y[train])
    accuracy = classifier.score(x[~train], y[~train])
    print(f"{renderer.name}: 22-instrument accuracy on unseen seeds {accuracy:.3f} (chance {1 / 22:.3f})")
    assert accuracy >= 0.85


def test_auto_prefers_the_soundfont_and_errors_are_clear():
    auto = get_renderer("auto", SR)
    try:
        get_renderer("soundfont", SR)
        assert auto.name == "soundfont" and "sf2" in auto.version
    except ConfigError:
        assert auto.name == "synth"
    with pytest.raises(ConfigError, match="unknown audio renderer"):
        get_renderer("fluid", SR)
    with pytest.raises(ConfigError, match="x_missing.sf2"):
        get_renderer("soundfont", SR, soundfont="/nonexistent/x_missing.sf2")
    bad = Scene("ms999999", 2, [Player("theremin", 0.5, intervals=[(0.0, 2.0)])])
    with pytest.raises(ConfigError, match="ms999999.*theremin"):
        SynthRenderer(SR).render(bad)


def test_every_instrument_has_a_general_midi_program():
    from mcdlib.scenes.soundfont import GM_PROGRAMS

    assert set(GM_PROGRAMS) == set(INSTRUMENTS)
    renderer = _soundfont_or_skip()
    font = renderer._player._font
    for instrument, (program, drums) in GM_PROGRAMS.items():
        assert font.get_preset_name(128 if drums else 0, program) not in ("", "<None>"), instrument


def test_scene_audio_exports():
    assert set(scene_audio.RENDERERS) == {"auto", "synth", "soundfont"}
    scene = audition_scene(["violin", "cello"], seconds=2)
    assert [p.instrument for p in scene.visible_players] == ["violin", "cello"]
    assert all(p.intervals == [(0.0, 2.0)] for p in scene.players)
