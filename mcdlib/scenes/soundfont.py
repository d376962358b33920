"""General-MIDI soundfont rendering of a part (real sampled instruments) with TinySoundFont.

The soundfont is ``/usr/share/sounds/sf2/FluidR3_GM.sf2`` when present (Debian
``fluid-soundfont-gm``: realistic, MIT), else the small ``TimGM6mb.sf2`` shipped inside the
``pretty_midi`` wheel (GPL-2), or any file named by ``MCD_SOUNDFONT`` or the ``path``
argument. It is played by PyPI ``tinysoundfont`` (install with ``pip install --no-deps
tinysoundfont``), through its low-level ``SoundFont`` object: mono output at the scene's
sample rate, and ``reset()`` between parts so every part starts from the same state (the
public ``Synth`` wrapper renders stereo and cannot reset).

Each player is rendered alone on channel 0 (exact per-player timing and loudness); the notes
come from :mod:`mcdlib.scenes.score`. All 22 MUSIC-AVQA instruments have a General-MIDI
program or a close one (:data:`GM_PROGRAMS`): koto for guzheng, shamisen for pipa, shanai
for suona, fiddle for erhu, nylon guitar for ukulele, the standard drum kit (its kick, snare,
hi-hat and conga keys) for drum and congas.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
from importlib import metadata
from pathlib import Path

import numpy as np

from mcdlib.errors import ConfigError
from mcdlib.scenes.score import Note

#: Debian's realistic General-MIDI soundfont (preferred when installed)
FLUID_R3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
#: environment variable naming another .sf2 file
SOUNDFONT_ENV = "MCD_SOUNDFONT"

#: instrument -> (General-MIDI program 0..127, drum channel); drum kit programs select bank 128
GM_PROGRAMS: dict[str, tuple[int, bool]] = {
    "accordion": (21, False), "acoustic_guitar": (25, False), "bagpipe": (109, False),
    "banjo": (105, False), "bassoon": (70, False), "cello": (42, False), "clarinet": (71, False),
    "congas": (0, True), "drum": (0, True), "electric_bass": (33, False), "erhu": (110, False),
    "flute": (73, False), "guzheng": (107, False), "piano": (0, False), "pipa": (106, False),
    "saxophone": (65, False), "suona": (111, False), "trumpet": (56, False), "tuba": (58, False),
    "ukulele": (24, False), "violin": (40, False), "xylophone": (13, False),
}


def _pretty_midi_soundfont() -> Path | None:
    spec = importlib.util.find_spec("pretty_midi")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "TimGM6mb.sf2"
    return path if path.is_file() else None


def find_soundfont(path: str | Path | None = None) -> Path | None:
    """The soundfont to use: ``path``, ``$MCD_SOUNDFONT``, FluidR3_GM, pretty_midi's TimGM6mb, or None."""
    chosen = path or os.environ.get(SOUNDFONT_ENV)
    if chosen:
        chosen = Path(chosen).expanduser()
        if not chosen.is_file():
            raise ConfigError(f"soundfont {chosen} not found; give an existing .sf2 file "
                              f"(argument or ${SOUNDFONT_ENV}) or leave both unset for the default")
        return chosen
    if FLUID_R3.is_file():
        return FLUID_R3
    return _pretty_midi_soundfont()


@functools.lru_cache(maxsize=8)
def file_digest(path: Path) -> str:
    """First 12 hex digits of the file's SHA-256 (identifies the soundfont in ``.version``)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:12]


class SoundfontPlayer:
    """Plays one part at a time from a General-MIDI soundfont (not thread-safe)."""

    def __init__(self, sample_rate: int, path: str | Path | None = None):
        font_path = find_soundfont(path)
        if font_path is None:
            raise ConfigError("no General-MIDI soundfont found: install pretty_midi (it ships "
                              f"TimGM6mb.sf2), Debian fluid-soundfont-gm, or set ${SOUNDFONT_ENV}; "
                              "or use renderer 'synth'")
        try:
            from tinysoundfont import _tinysoundfont
        except ImportError as error:
            raise ConfigError(f"the soundfont renderer needs tinysoundfont ({error}); install it with "
                              "'pip install --no-deps tinysoundfont' or use renderer 'synth'") from None
        try:
            self._font = _tinysoundfont.SoundFont(str(font_path))
        except Exception as error:  # the binding raises plain exceptions on bad files
            raise ConfigError(f"cannot load soundfont {font_path}: {error}; give another .sf2 file "
                              f"(${SOUNDFONT_ENV}) or use renderer 'synth'") from None
        self._font.set_output(_tinysoundfont.OutputMode.Mono, int(sample_rate), 0.0)
        self.path = font_path
        self.sample_rate = int(sample_rate)
        self.version = f"tinysoundfont-{metadata.version('tinysoundfont')}:{font_path.name}:{file_digest(font_path)}:flush"

    def _render_into(self, out: np.ndarray) -> None:
        if len(out):
            self._font.render(memoryview(out).cast("B"), False)

    def _flush(self) -> None:
        """Reset and render away the release tail of the previous part.

        ``reset()`` only starts a short fade of sounding voices; without rendering past it,
        ~5 ms of the previous part would leak into the next one, making a part depend on
        what was rendered before it (and builds not byte-identical across resumes).
        """
        self._font.reset()
        self._render_into(np.zeros(int(0.1 * self.sample_rate), dtype=np.float32))

    def render_part(self, instrument: str, notes: list[Note], n_samples: int) -> np.ndarray:
        """The unscaled mono signal of ``instrument`` playing ``notes`` (float32 ``[n_samples]``)."""
        out = np.zeros(n_samples, dtype=np.float32)
        if not notes:
            return out
        program, drums = GM_PROGRAMS[instrument]
        font = self._font
        self._flush()
        font.channel_set_preset_number(0, program, drums)
        rate = self.sample_rate
        events = []  # (sample, order, key, velocity): note-offs (order 0) before note-ons
        for note in notes:
            start = int(round(note.onset * rate))
            events.append((start, 1, note.pitch, note.velocity))
            events.append((int(round((note.onset + note.duration) * rate)), 0, note.pitch, 0.0))
        events.sort(key=lambda e: (e[0], e[1]))
        position = 0
        for sample, order, key, velocity in events:
            sample = min(sample, n_samples)
            self._render_into(out[position:sample])
            position = max(position, sample)
            if order:
                font.channel_note_on(0, key, velocity)
            else:
                font.channel_note_off(0, key)
        self._render_into(out[position:])
        self._flush()
        return out
