"""Audio of a music scene: renderers behind one interface, ground-truth stems and the mix.

>>> renderer = get_renderer("auto", sample_rate=16000)   # soundfont when available, else synth
>>> audio = renderer.render(scene)
>>> audio.mix.shape, audio.stems.shape                   # [seconds*sr], [n_players, seconds*sr]

Two renderers play the same score (:mod:`mcdlib.scenes.score`):

* ``"synth"`` (:class:`SynthRenderer`): the built-in numpy synthesizer
  (:mod:`mcdlib.scenes.synth`), no dependency, a distinct timbre per instrument family;
* ``"soundfont"`` (:class:`SoundfontRenderer`): real sampled instruments from a General-MIDI
  soundfont (:mod:`mcdlib.scenes.soundfont`);
* ``"auto"``: the soundfont when its pieces import and load, else the synth. ``.name`` says
  which was chosen, ``.version`` identifies it (for the soundfont: file name and hash).

Ground truth (shared by both renderers, :meth:`AudioRenderer.render`):

* a player's stem is gated to its sounding intervals (5 ms fades inside each interval, exact
  silence outside) and scaled so its active level (:func:`active_rms`: RMS over the 20 ms
  frames within 30 dB of its loudest) is ``REFERENCE_RMS * 10**(loudness_db / 20)``:
  ``loudness_db`` is the playing level in dB relative to the reference, comparable across
  instruments and renderers (the same stem 6 dB louder has exactly twice the RMS);
* the voiceover (built-in speech-like synthesis for both renderers) has the sounding RMS of
  ``VOICE_DB``;
* ``mix = clip(MIX_GAIN * (stems.sum(0) + voice), -1, 1)``: one fixed gain for every scene,
  so relative loudness is never changed; the clip is a safety net that the headroom makes
  rare (``SceneAudio.clipped`` counts clipped samples).

Rendering is deterministic: the same scene (including ``scene.seed``) gives identical samples.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from mcdlib.errors import ConfigError
from mcdlib.scenes import synth
from mcdlib.scenes.scene import Player, Scene
from mcdlib.scenes.score import Note, compose_part, part_of

#: sounding RMS of a player at loudness_db = 0 (-20 dBFS)
REFERENCE_RMS = 0.1
#: sounding level of the voiceover in dB relative to REFERENCE_RMS
VOICE_DB = -3.0
#: fixed global gain from the sum of stems and voice to the mix (headroom for 4 players + voice)
MIX_GAIN = 0.5
#: frame length (s) and dynamic range (dB below the loudest frame) of the active-level measure
ACTIVE_FRAME = 0.02
ACTIVE_RANGE_DB = 30.0
#: fade at both ends of every sounding interval (seconds)
GATE_FADE = 0.005
#: renderer names accepted by :func:`get_renderer`
RENDERERS = ("auto", "synth", "soundfont")


@dataclass
class SceneAudio:
    """The rendered audio of a scene (all float32, ``N = seconds * sample_rate``)."""

    mix: np.ndarray  # [N] what the dataset's audio is
    stems: np.ndarray  # [n_players, N] each player's signal after its gain (scene.players order)
    voice: np.ndarray | None  # [N] the voiceover after its gain, or None without voiceover
    sample_rate: int
    mix_gain: float = MIX_GAIN  # mix = clip(mix_gain * (stems.sum(0) + voice), -1, 1)
    clipped: int = 0  # samples the safety clip changed

    @property
    def seconds(self) -> float:
        return len(self.mix) / self.sample_rate


def interval_gate(intervals: list[tuple[float, float]], n_samples: int, sample_rate: int,
                  fade: float = GATE_FADE) -> np.ndarray:
    """Float32 ``[n_samples]``: 1 inside the intervals (raised-cosine fades inside), 0 outside."""
    gate = np.zeros(n_samples, dtype=np.float32)
    for start, end in intervals:
        a = int(round(max(start, 0.0) * sample_rate))
        b = min(int(round(end * sample_rate)), n_samples)
        if b <= a:
            continue
        gate[a:b] = 1.0
        width = min(int(fade * sample_rate), (b - a) // 2)
        if width > 0:
            ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(width) + 0.5) / width)).astype(np.float32)
            gate[a:a + width] = np.minimum(gate[a:a + width], ramp)
            gate[b - width:b] = np.minimum(gate[b - width:b], ramp[::-1])
    return gate


def active_rms(signal: np.ndarray, sample_rate: int) -> float:
    """RMS over the active frames of ``signal``: 20 ms frames within ``ACTIVE_RANGE_DB`` of the loudest.

    The level of a part while it plays notes, whatever the gaps between them: a sparse
    xylophone and a sustained violin at the same level sound equally loud note for note,
    and peaks stay within a small factor of the level (headroom for the mix).
    """
    size = max(int(ACTIVE_FRAME * sample_rate), 1)
    count = -(-len(signal) // size)
    frames = np.zeros(count * size, dtype=np.float32)
    frames[:len(signal)] = signal
    energy = np.square(frames.reshape(count, size), dtype=np.float64).mean(1)
    loudest = energy.max() if count else 0.0
    if loudest <= 1e-24:
        return 0.0
    return float(np.sqrt(energy[energy >= loudest * 10.0 ** (-ACTIVE_RANGE_DB / 10.0)].mean()))


def level_stem(raw: np.ndarray, intervals: list[tuple[float, float]], level_db: float,
               sample_rate: int) -> np.ndarray:
    """Gate ``raw`` to ``intervals`` and scale it to an active RMS (:func:`active_rms`) of
    ``REFERENCE_RMS * 10**(level_db/20)``."""
    gate = interval_gate(intervals, len(raw), sample_rate)
    stem = raw * gate
    rms = active_rms(stem, sample_rate)
    if rms <= 1e-12:
        return np.zeros_like(raw)
    return (stem * np.float32(REFERENCE_RMS * 10.0 ** (level_db / 20.0) / rms)).astype(np.float32)


def mix_signals(stems: np.ndarray, voice: np.ndarray | None) -> tuple[np.ndarray, int]:
    """``clip(MIX_GAIN * (stems.sum(0) + voice), -1, 1)`` and the number of clipped samples."""
    total = stems.sum(0) if len(stems) else np.zeros(stems.shape[1], dtype=np.float32)
    if voice is not None:
        total = total + voice
    mix = (total * np.float32(MIX_GAIN)).astype(np.float32)
    clipped = int(np.count_nonzero(np.abs(mix) > 1.0))
    return np.clip(mix, -1.0, 1.0, out=mix), clipped


class AudioRenderer:
    """Interface of a scene renderer: ``.name``, ``.version``, ``.sample_rate``, ``.render(scene)``.

    Subclasses implement :meth:`render_part` (one instrument, unscaled); gating, levels,
    the voiceover and the mix are shared here so both renderers keep the same ground truth.
    """

    name: str = ""
    version: str = ""

    def __init__(self, sample_rate: int = 16000):
        if int(sample_rate) < 8000:
            raise ConfigError(f"audio sample_rate {sample_rate} is too low; use 16000 (the default) or more")
        self.sample_rate = int(sample_rate)

    def render_part(self, instrument: str, notes: list[Note], n_samples: int,
                    seed: tuple[int, ...]) -> np.ndarray:
        """Unscaled float32 ``[n_samples]`` signal of ``instrument`` playing ``notes``."""
        raise NotImplementedError

    def render_player(self, scene: Scene, index: int) -> np.ndarray:
        """The ground-truth stem of ``scene.players[index]`` (gated and levelled)."""
        player: Player = scene.players[index]
        n_samples = int(scene.seconds) * self.sample_rate
        where = f"scene {scene.video_id}, player {index}"
        part_of(player.instrument, where)
        if not player.intervals:
            return np.zeros(n_samples, dtype=np.float32)
        notes = compose_part(player, (int(scene.seed), index, 0), where)
        raw = self.render_part(player.instrument, notes, n_samples, (int(scene.seed), index, 1))
        return level_stem(raw, player.intervals, player.loudness_db, self.sample_rate)

    def render_voice(self, scene: Scene) -> np.ndarray | None:
        """The voiceover after its gain, or None when the scene has none."""
        if not scene.voiceover:
            return None
        n_samples = int(scene.seconds) * self.sample_rate
        raw = synth.render_voice(scene.voiceover, n_samples, self.sample_rate, (int(scene.seed), 1000, 2))
        return level_stem(raw, scene.voiceover, VOICE_DB, self.sample_rate)

    def render(self, scene: Scene) -> SceneAudio:
        """Stems, voice and mix of ``scene`` (deterministic)."""
        n_samples = int(scene.seconds) * self.sample_rate
        stems = np.zeros((len(scene.players), n_samples), dtype=np.float32)
        for index in range(len(scene.players)):
            stems[index] = self.render_player(scene, index)
        voice = self.render_voice(scene)
        mix, clipped = mix_signals(stems, voice)
        return SceneAudio(mix=mix, stems=stems, voice=voice, sample_rate=self.sample_rate,
                          clipped=clipped)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, version={self.version!r}, sample_rate={self.sample_rate})"


class SynthRenderer(AudioRenderer):
    """The built-in numpy synthesizer (:mod:`mcdlib.scenes.synth`)."""

    name = "synth"
    version = "synth-1"

    def render_part(self, instrument, notes, n_samples, seed):
        return synth.render_part(instrument, notes, n_samples, self.sample_rate, seed)


class SoundfontRenderer(AudioRenderer):
    """General-MIDI soundfont instruments (:mod:`mcdlib.scenes.soundfont`); raises ConfigError if unavailable."""

    name = "soundfont"

    def __init__(self, sample_rate: int = 16000, soundfont: str | None = None):
        super().__init__(sample_rate)
        from mcdlib.scenes.soundfont import SoundfontPlayer
        self._player = SoundfontPlayer(self.sample_rate, soundfont)
        self.version = f"soundfont-1:{self._player.version}"

    @property
    def soundfont_path(self):
        return self._player.path

    def render_part(self, instrument, notes, n_samples, seed):
        return self._player.render_part(instrument, notes, n_samples)


@functools.lru_cache(maxsize=16)
def _cached_renderer(name: str, sample_rate: int, soundfont: str | None) -> AudioRenderer:
    if name == "synth":
        return SynthRenderer(sample_rate)
    if name == "soundfont":
        return SoundfontRenderer(sample_rate, soundfont)
    try:
        return SoundfontRenderer(sample_rate, soundfont)
    except ConfigError:
        return SynthRenderer(sample_rate)


def get_renderer(name: str = "auto", sample_rate: int = 16000, soundfont: str | None = None) -> AudioRenderer:
    """The renderer ``name`` ("auto" | "synth" | "soundfont") at ``sample_rate`` (one per process).

    ``soundfont`` names an .sf2 file (default: FluidR3_GM if installed, else pretty_midi's
    TimGM6mb). "soundfont" raises :class:`ConfigError` saying what to install when it cannot
    load; "auto" then falls back to "synth" (check ``.name``).
    """
    if name not in RENDERERS:
        raise ConfigError(f"unknown audio renderer {name!r}; choose one of {', '.join(RENDERERS)}")
    return _cached_renderer(name, int(sample_rate), None if soundfont is None else str(soundfont))


def audition_scene(instruments: list[str] | tuple[str, ...], seconds: int = 10, seed: int = 0,
                   rhythm: float = 3.0, loudness_db: float = 0.0, video_id: str = "audition") -> Scene:
    """A scene in which every listed instrument plays throughout, evenly spaced left to right.

    For listening to a renderer, comparing timbres and unit tests (no voiceover).
    """
    count = len(instruments)
    players = [Player(instrument, x=(i + 1) / (count + 1), intervals=[(0.0, float(seconds))],
                      loudness_db=loudness_db, rhythm=rhythm) for i, instrument in enumerate(instruments)]
    return Scene(video_id=video_id, seconds=int(seconds), players=players, seed=int(seed))
