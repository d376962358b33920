"""What each player plays: the notes of a part, shared by every audio renderer.

A player's part is a monophonic melody (or a drum pattern) written from the scene graph
alone: notes start at the beginning of each sounding interval and follow at the player's
``rhythm`` (notes per second, lightly humanised), never crossing the interval's end. Pitches
walk through a scale inside the instrument's range (:data:`PARTS`): bass instruments low,
flute, suona and xylophone high, Chinese instruments on a pentatonic scale. Drum and congas
play General-MIDI percussion keys (kick / snare / hi-hat; open, muted and low conga).

The score is a pure function of ``(scene.seed, player index, player)``, so the built-in
synthesizer and the General-MIDI soundfont renderer play the same music and every render
of a scene is identical.

>>> notes = compose_part(Player("flute", 0.5, intervals=[(0.0, 4.0)], rhythm=3.0), seed=(7, 0))
>>> len(notes), notes[0].onset
(12, 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.errors import ConfigError
from mcdlib.scenes.scene import Player

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
MIXOLYDIAN = (0, 2, 4, 5, 7, 9, 10)
PENTATONIC = (0, 2, 4, 7, 9)
MINOR_PENTATONIC = (0, 3, 5, 7, 10)

#: General-MIDI percussion keys used by the two percussion instruments
KICK, SNARE, CLOSED_HAT = 36, 38, 42
MUTE_HI_CONGA, OPEN_HI_CONGA, LOW_CONGA = 62, 63, 64

#: scale steps a melody moves by (drawn uniformly: mostly steps, some leaps and repeats)
MELODY_STEPS = (-2, -1, -1, 0, 1, 1, 2)
#: shortest gap between two onsets and shortest sounding note (seconds)
MIN_SPACING = 0.06
#: relative timing jitter of the note grid (humanisation)
TIMING_JITTER = 0.08


@dataclass(frozen=True)
class Note:
    """One note of a part: times in seconds from the start of the scene."""

    onset: float
    duration: float  # sounding time before the release
    pitch: int  # MIDI key (a General-MIDI percussion key for drum and congas)
    velocity: float  # 0..1


@dataclass(frozen=True)
class Part:
    """How an instrument is played: range, scale and articulation."""

    low: int  # lowest MIDI key
    high: int  # highest MIDI key
    scale: tuple[int, ...] = MAJOR
    legato: float = 0.85  # sounding fraction of the time to the next onset
    pattern: tuple[int, ...] = ()  # percussion keys cycled instead of a melody


PARTS: dict[str, Part] = {
    "accordion": Part(55, 79, MAJOR, 0.9),
    "acoustic_guitar": Part(45, 69, MAJOR, 1.0),
    "bagpipe": Part(67, 81, MIXOLYDIAN, 0.95),
    "banjo": Part(55, 79, MAJOR, 1.0),
    "bassoon": Part(34, 58, MINOR, 0.85),
    "cello": Part(36, 60, MINOR, 0.9),
    "clarinet": Part(52, 76, MINOR, 0.85),
    "congas": Part(62, 64, pattern=(OPEN_HI_CONGA, MUTE_HI_CONGA, LOW_CONGA, OPEN_HI_CONGA), legato=1.0),
    "drum": Part(36, 42, pattern=(KICK, CLOSED_HAT, SNARE, CLOSED_HAT), legato=1.0),
    "electric_bass": Part(28, 48, MINOR_PENTATONIC, 1.0),
    "erhu": Part(62, 86, PENTATONIC, 0.95),
    "flute": Part(72, 93, MAJOR, 0.85),
    "guzheng": Part(50, 79, PENTATONIC, 1.0),
    "piano": Part(48, 84, MAJOR, 1.0),
    "pipa": Part(57, 81, PENTATONIC, 1.0),
    "saxophone": Part(49, 73, MINOR_PENTATONIC, 0.85),
    "suona": Part(67, 91, PENTATONIC, 0.9),
    "trumpet": Part(58, 82, MAJOR, 0.8),
    "tuba": Part(29, 53, MAJOR, 0.8),
    "ukulele": Part(60, 81, MAJOR, 1.0),
    "violin": Part(55, 88, MAJOR, 0.9),
    "xylophone": Part(65, 96, MAJOR, 1.0),
}
assert set(PARTS) == set(INSTRUMENTS), "every MUSIC-AVQA instrument needs a part"


def part_of(instrument: str, where: str = "") -> Part:
    """The :class:`Part` of an instrument; ConfigError naming ``where`` if it is unknown."""
    try:
        return PARTS[instrument]
    except KeyError:
        raise ConfigError(f"{where or 'scene'}: unknown instrument {instrument!r}; "
                          f"use one of the 22 MUSIC-AVQA instruments: {', '.join(INSTRUMENTS)}") from None


def _scale_keys(part: Part, tonic: int) -> np.ndarray:
    """All MIDI keys of the scale on ``tonic`` (0..11) inside the part's range."""
    keys = [k for k in range(part.low, part.high + 1) if (k - tonic) % 12 in part.scale]
    return np.asarray(keys or [part.low], dtype=np.int64)


def compose_part(player: Player, seed: tuple[int, ...], where: str = "") -> list[Note]:
    """The notes ``player`` plays in its sounding intervals (deterministic in ``seed``)."""
    part = part_of(player.instrument, where)
    rng = np.random.default_rng(list(seed))
    rhythm = max(float(player.rhythm), 1e-3)
    keys = _scale_keys(part, int(rng.integers(12)))
    degree = len(keys) // 2 + int(rng.integers(-2, 3))
    notes: list[Note] = []
    for start, end in sorted(player.intervals):
        t, beat = float(start), 0
        while t == start or t <= end - MIN_SPACING:  # every interval starts with a note
            spacing = max(MIN_SPACING, (1.0 / rhythm) * (1.0 + rng.uniform(-TIMING_JITTER, TIMING_JITTER)))
            duration = min(max(MIN_SPACING, spacing * part.legato), end - t)
            if part.pattern:
                pitch = part.pattern[beat % len(part.pattern)]
            else:
                degree = min(max(degree + MELODY_STEPS[int(rng.integers(len(MELODY_STEPS)))], 0), len(keys) - 1)
                pitch = int(keys[degree])
            accent = 0.15 if beat % 4 == 0 else 0.0
            velocity = float(np.clip(0.7 + accent + rng.uniform(-0.08, 0.08), 0.05, 1.0))
            notes.append(Note(round(t, 6), round(duration, 6), pitch, velocity))
            t += spacing
            beat += 1
    return sorted(notes, key=lambda n: n.onset)
