"""The built-in music synthesizer: numpy only, vectorised, deterministic.

Every instrument is a :class:`Timbre`: a harmonic spectrum (slope, odd/even balance, formant
peaks, low-pass), an envelope (attack, decay, release), pitch modulation (vibrato,
portamento, a membrane's pitch drop) and a noise part (bow or breath noise, pick, hammer and
mallet clicks). Families differ the way the real instruments do:

* bowed strings (violin, cello, erhu): sustained, vibrato, bow noise; erhu nasal with slides;
* plucked (acoustic_guitar, banjo, ukulele, pipa, guzheng): bright attack that darkens as the
  note decays (two wavetables cross-faded), different decay times and body resonances; pipa
  with a shimmering tremolo, guzheng with pressed vibrato;
* keyboard (piano: hammer, long decay, unison detune; accordion: two detuned reeds beating);
* woodwinds (flute breathy, clarinet odd harmonics, bassoon low formant, saxophone reedy,
  suona nasal and bright, bagpipe with a drone), brass (trumpet brightening after the attack,
  tuba low and dark), mallet (xylophone: short, with a 4th-partial ring and a click),
  electric_bass (low, round), percussion (drum: kick / snare / hi-hat; congas: pitched
  membrane with a slap).

A part is monophonic, so a stem is synthesised in one pass over its sounding samples: a
per-sample note index, time-since-onset, frequency (cumulated into phase) and envelope, and
a gather from per-note wavetables (:func:`harmonic_table`, band-limited below Nyquist and
cached). Noise comes from a fixed, band-filtered noise bank read at a seeded offset. The
voiceover (:func:`render_voice`) uses the same engine: a glottal pulse spectrum shaped by
vowel formants, syllable-rate envelopes, an intonation contour and consonant noise bursts.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from mcdlib.scenes import score
from mcdlib.scenes.score import Note

#: samples per wavetable cycle (power of two)
TABLE_SIZE = 2048
#: samples in the noise bank (about 16 s at 16 kHz; read cyclically)
NOISE_SIZE = 1 << 18
#: samples processed at once by the engine (small temporaries stay in cache)
BLOCK_SAMPLES = 16384
#: fade (s) at the end of every note, so a note cut by the next onset does not click
NOTE_END_FADE = 0.012
#: depth of the amplitude tremolo
TREMOLO_DEPTH = 0.3
#: highest harmonic frequency as a fraction of the sample rate (below Nyquist, with margin)
MAX_HARMONIC_FRACTION = 0.45


@dataclass(frozen=True)
class Timbre:
    """Synthesis settings of one instrument (see module doc)."""

    slope: float = 1.0  # harmonic h has amplitude h**-slope
    even: float = 1.0  # weight of even harmonics (clarinet: small)
    formants: tuple[tuple[float, float, float], ...] = ()  # (centre Hz, width Hz, extra gain)
    partials: tuple[tuple[int, float], ...] = ()  # (harmonic, extra amplitude)
    lowpass: float = 6000.0  # Hz: spectral roll-off of the bright table
    dull: float = 0.0  # Hz: roll-off of the second table (0: a single table)
    bright_tau: float = 0.0  # s: >0 bright -> dull (plucked), <0 dull -> bright (brass)
    attack: float = 0.01  # s
    decay: float = 0.0  # s (0: no decay, sustained)
    sustain: float = 1.0  # level the decay tends to
    release: float = 0.05  # s
    vibrato_rate: float = 0.0  # Hz
    vibrato_cents: float = 0.0
    vibrato_delay: float = 0.15  # s before vibrato fades in
    tremolo_rate: float = 0.0  # Hz: smooth amplitude tremolo (pipa), not new onsets
    detune_cents: float = 0.0  # second oscillator (accordion reeds, piano unison)
    glide: float = 0.0  # s: portamento from the previous note (erhu)
    pitch_drop: float = 0.0  # relative pitch excess at the onset (membranes)
    drop_tau: float = 0.02  # s
    noise: float = 0.0  # sustained noise level (bow, breath)
    burst: float = 0.0  # noise burst at the onset (pick, hammer, chiff, slap)
    burst_tau: float = 0.01  # s
    noise_band: tuple[float, float] = (500.0, 6000.0)  # Hz
    drone: float = 0.0  # level of a drone an octave below the lowest note (bagpipe)
    hits: dict[int, "Hit"] = field(default_factory=dict, hash=False, compare=False)  # percussion keys


@dataclass(frozen=True)
class Hit:
    """One percussion sound (a General-MIDI key of drum or congas)."""

    f0: float  # Hz of the tonal part (0: noise only)
    tone: float  # level of the tonal part
    noise: float  # level of the noise burst
    decay: float  # s, tonal part
    noise_tau: float  # s, noise part
    pitch_drop: float = 0.0


TIMBRES: dict[str, Timbre] = {
    "violin": Timbre(slope=0.9, formants=((550, 200, 2.0), (2800, 600, 3.0)), lowpass=6000,
                     attack=0.06, release=0.08, vibrato_rate=5.5, vibrato_cents=18,
                     noise=0.04, noise_band=(2000, 7000)),
    "cello": Timbre(slope=1.0, formants=((300, 120, 2.5), (1100, 400, 1.5)), lowpass=3500,
                    attack=0.08, release=0.1, vibrato_rate=5.0, vibrato_cents=15,
                    noise=0.03, noise_band=(400, 4000)),
    "erhu": Timbre(slope=0.8, formants=((1000, 250, 4.0), (2300, 500, 2.0)), lowpass=5000,
                   attack=0.05, release=0.08, vibrato_rate=6.5, vibrato_cents=45, vibrato_delay=0.08,
                   glide=0.07, noise=0.05, noise_band=(1500, 6000)),
    "acoustic_guitar": Timbre(slope=1.1, formants=((250, 100, 1.5),), lowpass=4500, dull=1200,
                              bright_tau=0.08, attack=0.003, decay=0.9, sustain=0.0,
                              burst=0.3, burst_tau=0.005, noise_band=(1000, 6000)),
    "banjo": Timbre(slope=0.7, formants=((2500, 700, 3.0),), lowpass=7000, dull=2500,
                    bright_tau=0.05, attack=0.002, decay=0.25, sustain=0.0,
                    burst=0.4, burst_tau=0.004, noise_band=(2000, 7000)),
    "ukulele": Timbre(slope=1.3, formants=((600, 250, 2.0),), lowpass=3000, dull=1000,
                      bright_tau=0.06, attack=0.003, decay=0.35, sustain=0.0,
                      burst=0.2, burst_tau=0.005, noise_band=(1000, 5000)),
    "pipa": Timbre(slope=0.9, formants=((1500, 500, 2.0),), lowpass=5500, dull=1800,
                   bright_tau=0.04, attack=0.002, decay=0.6, sustain=0.0, tremolo_rate=14.0,
                   burst=0.3, burst_tau=0.004, noise_band=(1500, 6000)),
    "guzheng": Timbre(slope=1.0, formants=((800, 300, 1.5),), lowpass=5000, dull=1500,
                      bright_tau=0.12, attack=0.003, decay=1.4, sustain=0.0,
                      vibrato_rate=5.0, vibrato_cents=25, vibrato_delay=0.3,
                      burst=0.25, burst_tau=0.005, noise_band=(1500, 6000)),
    "piano": Timbre(slope=1.2, lowpass=5000, dull=1500, bright_tau=0.25, attack=0.002,
                    decay=1.1, sustain=0.0, detune_cents=1.5, burst=0.2, burst_tau=0.004,
                    noise_band=(500, 5000)),
    "accordion": Timbre(slope=0.6, even=0.8, formants=((1500, 600, 1.5),), lowpass=5000,
                        attack=0.03, release=0.05, detune_cents=12),
    "flute": Timbre(slope=2.2, lowpass=3000, attack=0.06, release=0.06, vibrato_rate=5.0,
                    vibrato_cents=12, noise=0.12, burst=0.3, burst_tau=0.03, noise_band=(1500, 6000)),
    "clarinet": Timbre(slope=1.0, even=0.08, formants=((1500, 400, 1.5),), lowpass=3500,
                       attack=0.04, release=0.05, noise=0.02, noise_band=(1000, 4000)),
    "bassoon": Timbre(slope=0.8, formants=((480, 120, 4.0), (1150, 300, 2.0)), lowpass=2500,
                      attack=0.05, release=0.06, vibrato_rate=4.5, vibrato_cents=10),
    "saxophone": Timbre(slope=0.7, formants=((700, 250, 2.5), (1800, 600, 2.5)), lowpass=4500,
                        attack=0.03, release=0.05, vibrato_rate=5.0, vibrato_cents=20,
                        vibrato_delay=0.2, noise=0.03, noise_band=(1500, 5000)),
    "suona": Timbre(slope=0.4, formants=((1800, 600, 4.0), (3500, 900, 2.5)), lowpass=7000,
                    attack=0.02, release=0.04, vibrato_rate=6.0, vibrato_cents=30,
                    noise=0.02, noise_band=(2000, 7000)),
    "bagpipe": Timbre(slope=0.5, even=0.6, formants=((1200, 500, 2.0), (3000, 800, 2.0)),
                      lowpass=6500, attack=0.01, release=0.03, drone=0.6),
    "trumpet": Timbre(slope=0.6, formants=((1300, 400, 2.5),), lowpass=5000, dull=1200,
                      bright_tau=-0.06, attack=0.03, release=0.05, vibrato_rate=5.0,
                      vibrato_cents=8, vibrato_delay=0.3),
    "tuba": Timbre(slope=1.2, formants=((250, 100, 2.0),), lowpass=1200, dull=500,
                   bright_tau=-0.08, attack=0.06, release=0.08),
    "electric_bass": Timbre(slope=1.4, lowpass=1500, dull=600, bright_tau=0.1, attack=0.005,
                            decay=1.5, sustain=0.3, release=0.04),
    "xylophone": Timbre(slope=3.0, partials=((4, 0.5),), lowpass=8000, attack=0.001, decay=0.25,
                        sustain=0.0, burst=0.4, burst_tau=0.003, noise_band=(2000, 7500)),
    "drum": Timbre(slope=4.0, partials=((2, 0.3),), lowpass=8000, attack=0.001, sustain=0.0,
                   release=0.02, drop_tau=0.025, noise_band=(300, 7800), hits={
                       score.KICK: Hit(55.0, 1.0, 0.15, 0.25, 0.01, pitch_drop=2.0),
                       score.SNARE: Hit(190.0, 0.5, 1.0, 0.08, 0.12, pitch_drop=0.3),
                       score.CLOSED_HAT: Hit(0.0, 0.0, 0.45, 0.01, 0.03)}),
    "congas": Timbre(slope=4.0, partials=((2, 0.2),), lowpass=8000, attack=0.001, sustain=0.0,
                     release=0.02, drop_tau=0.01, noise_band=(1000, 5000), hits={
                         score.OPEN_HI_CONGA: Hit(330.0, 1.0, 0.12, 0.22, 0.006, pitch_drop=0.12),
                         score.MUTE_HI_CONGA: Hit(350.0, 1.0, 0.35, 0.05, 0.01, pitch_drop=0.1),
                         score.LOW_CONGA: Hit(220.0, 1.0, 0.12, 0.28, 0.006, pitch_drop=0.12)}),
}
assert set(TIMBRES) == set(score.PARTS), "every instrument needs a timbre"

#: vowel formants (F1, F2, F3 in Hz) of the voiceover
VOWELS: tuple[tuple[float, float, float], ...] = (
    (730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240))
#: voiceover settings: a glottal spectrum, syllable envelope, consonant noise
VOICE = Timbre(slope=1.0, lowpass=4500, attack=0.04, release=0.06, vibrato_rate=0.0,
               burst_tau=0.03, noise_band=(2500, 7000))


def midi_to_hz(pitch) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(pitch, dtype=np.float64) - 69.0) / 12.0)


_PHASES = np.random.default_rng(20240311).uniform(0.0, 2.0 * np.pi, TABLE_SIZE // 2 + 1)


@functools.lru_cache(maxsize=8192)
def harmonic_table(f0: float, sample_rate: int, slope: float, even: float,
                   formants: tuple, partials: tuple, lowpass: float) -> np.ndarray:
    """One cycle (``TABLE_SIZE`` samples, peak 1) of a band-limited harmonic tone at ``f0``.

    Harmonic ``h`` (frequency ``h*f0`` below ``MAX_HARMONIC_FRACTION * sample_rate``) has
    amplitude ``h**-slope`` (times ``even`` if even), a 4th-order roll-off above ``lowpass``,
    a gain ``1 + sum(g * gauss(f; centre, width))`` for the formants, plus the extra partials.
    Phases are fixed pseudo-random numbers (moderate crest factor, deterministic).
    """
    if f0 <= 0:
        return np.zeros(TABLE_SIZE, dtype=np.float32)
    n = int(min(TABLE_SIZE // 2, MAX_HARMONIC_FRACTION * sample_rate / f0))
    n = max(n, 1)
    h = np.arange(1, n + 1, dtype=np.float64)
    freq = h * f0
    amp = h ** -slope
    amp[1::2] *= even
    amp /= 1.0 + (freq / lowpass) ** 4
    for centre, width, gain in formants:
        amp *= 1.0 + gain * np.exp(-0.5 * ((freq - centre) / width) ** 2)
    for harmonic, extra in partials:
        if harmonic <= n:
            amp[harmonic - 1] += extra
    spectrum = np.zeros(TABLE_SIZE // 2 + 1, dtype=np.complex128)
    spectrum[1:n + 1] = amp * np.exp(1j * _PHASES[1:n + 1])
    table = np.fft.irfft(spectrum, TABLE_SIZE)
    return (table / np.abs(table).max()).astype(np.float32)


@functools.lru_cache(maxsize=64)
def noise_bank(band: tuple[float, float], sample_rate: int) -> np.ndarray:
    """``NOISE_SIZE`` samples of fixed white noise band-passed to ``band`` Hz, RMS 1."""
    white = np.random.default_rng(1729).standard_normal(NOISE_SIZE)
    spectrum = np.fft.rfft(white)
    freq = np.fft.rfftfreq(NOISE_SIZE, 1.0 / sample_rate)
    low, high = band
    shape = 1.0 / np.sqrt(1.0 + (low / np.maximum(freq, 1.0)) ** 4) / np.sqrt(1.0 + (freq / high) ** 4)
    noise = np.fft.irfft(spectrum * shape, NOISE_SIZE)
    return (noise / noise.std()).astype(np.float32)


@dataclass
class NoteArrays:
    """The notes of a monophonic part as arrays (one entry per note), ready for the engine."""

    onset: np.ndarray  # int sample of the onset
    end: np.ndarray  # int sample where the note stops (release done or next onset)
    duration: np.ndarray  # s before the release
    f0: np.ndarray  # Hz
    velocity: np.ndarray
    table: np.ndarray  # int: row of the wavetable stack
    tone: np.ndarray  # level of the tonal part
    burst: np.ndarray  # level of the onset noise burst
    burst_tau: np.ndarray  # s
    decay: np.ndarray  # s (0: none)
    pitch_drop: np.ndarray
    bend: np.ndarray  # semitones glided over the note (voice intonation)


def _note_arrays(notes: list[Note], timbre: Timbre, n_samples: int, sample_rate: int,
                 f0: np.ndarray, table: np.ndarray) -> NoteArrays:
    k = len(notes)
    onset = np.minimum(np.round(np.array([n.onset for n in notes]) * sample_rate).astype(np.int64), n_samples)
    duration = np.array([n.duration for n in notes], dtype=np.float64)
    nominal_end = onset + np.round((duration + timbre.release) * sample_rate).astype(np.int64)
    next_onset = np.append(onset[1:], n_samples)
    end = np.maximum(np.minimum(nominal_end, next_onset), onset)
    velocity = np.array([n.velocity for n in notes], dtype=np.float32)
    ones = np.ones(k, dtype=np.float32)
    return NoteArrays(onset, end, duration.astype(np.float32), f0, velocity, table,
                      tone=ones, burst=ones * timbre.burst, burst_tau=ones * timbre.burst_tau,
                      decay=ones * timbre.decay, pitch_drop=ones * timbre.pitch_drop,
                      bend=np.zeros(k, dtype=np.float32))


def _oscillate(arrays: NoteArrays, timbre: Timbre, bright: np.ndarray, dull: np.ndarray | None,
               n_samples: int, sample_rate: int, noise_offset: int) -> np.ndarray:
    """The engine: render a monophonic note sequence into ``n_samples`` (see module doc).

    Notes are processed in blocks of about ``BLOCK_SAMPLES`` samples (phase carried over),
    which keeps temporaries small and cache-resident: several times faster than one pass.
    """
    out = np.zeros(n_samples, dtype=np.float32)
    lengths = arrays.end - arrays.onset
    ends = np.cumsum(lengths)
    phase, lo = 0.0, 0
    while lo < len(lengths):
        hi = max(int(np.searchsorted(ends, ends[lo] - lengths[lo] + BLOCK_SAMPLES, side="right")), lo + 1)
        position, signal, phase = _oscillate_block(arrays, lengths, lo, hi, timbre, bright, dull,
                                                   sample_rate, noise_offset, phase)
        out[position] = signal
        lo = hi
    return out


def _oscillate_block(arrays: NoteArrays, lengths: np.ndarray, lo: int, hi: int, timbre: Timbre,
                     bright: np.ndarray, dull: np.ndarray | None, sample_rate: int,
                     noise_offset: int, phase: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Notes ``lo:hi``: (sample positions, signal, phase at the end in table samples)."""
    block = lengths[lo:hi]
    total = int(block.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32), phase
    seg = np.repeat(np.arange(lo, hi), block)
    first = np.cumsum(block) - block
    local = np.arange(total, dtype=np.int64) - np.repeat(first, block)
    position = arrays.onset[seg] + local
    t = local.astype(np.float32) / np.float32(sample_rate)

    # ---- frequency and phase
    semitones = np.zeros(total, dtype=np.float32)
    if timbre.vibrato_cents:
        fade_in = np.clip((t - timbre.vibrato_delay) / 0.2, 0.0, 1.0)
        semitones += (timbre.vibrato_cents / 100.0) * fade_in * np.sin(2 * np.pi * timbre.vibrato_rate * t)
    if arrays.bend.any():
        semitones += arrays.bend[seg] * np.minimum(t / np.maximum(arrays.duration[seg], 1e-3), 1.0)
    if timbre.glide:
        previous = np.log2(np.append(arrays.f0[:1], arrays.f0[:-1]) / arrays.f0).astype(np.float32)
        semitones += 12.0 * previous[seg] * np.clip(1.0 - t / timbre.glide, 0.0, 1.0)
    freq = arrays.f0[seg].astype(np.float32) * np.exp2(semitones / 12.0)
    if arrays.pitch_drop.any():
        freq *= 1.0 + arrays.pitch_drop[seg] * np.exp(-t / timbre.drop_tau)
    cycles = np.cumsum(freq, dtype=np.float64)
    cycles *= TABLE_SIZE / sample_rate  # in table samples
    cycles += phase
    phase = float(cycles[-1]) % TABLE_SIZE
    row = arrays.table[seg] * TABLE_SIZE
    index = cycles.astype(np.int64)
    index &= TABLE_SIZE - 1
    index += row
    tone = bright.ravel()[index]
    if dull is not None:
        weight = np.exp(-t / abs(timbre.bright_tau))
        if timbre.bright_tau < 0:  # brass: dark attack that brightens
            weight = 1.0 - weight
        low = dull.ravel()[index]
        tone = low + weight * (tone - low)
    if timbre.detune_cents:
        ratio = 2.0 ** (timbre.detune_cents / 1200.0)
        index2 = (cycles * ratio).astype(np.int64)
        index2 &= TABLE_SIZE - 1
        index2 += row
        tone = 0.5 * (tone + bright.ravel()[index2])

    # ---- envelope
    velocity = arrays.velocity[seg]
    attack = np.minimum(t / max(timbre.attack, 1e-4), 1.0)
    release = np.clip((arrays.duration[seg] + timbre.release - t) / max(timbre.release, 1e-3), 0.0, 1.0)
    # a note cut by the next onset is damped over its last NOTE_END_FADE (a re-plucked string)
    length = (lengths / sample_rate).astype(np.float32)
    release = np.minimum(release, (length[seg] - t) * np.float32(1.0 / NOTE_END_FADE))
    held = velocity * attack * release
    amp = held
    if arrays.decay.any():
        decay = np.exp(-t / np.maximum(arrays.decay[seg], 1e-3))
        amp = held * (timbre.sustain + (1.0 - timbre.sustain) * decay)
    if timbre.tremolo_rate:
        amp = amp * (1.0 - TREMOLO_DEPTH * (0.5 - 0.5 * np.cos(2 * np.pi * timbre.tremolo_rate * t)))
    signal = tone * amp * arrays.tone[seg]

    # ---- noise (bow / breath / pick / slap)
    noise_level = 0.0
    if arrays.burst.any():
        noise_level = arrays.burst[seg] * velocity * np.exp(-t / arrays.burst_tau[seg])
    if timbre.noise:
        noise_level = noise_level + timbre.noise * held
    if arrays.burst.any() or timbre.noise:
        bank = noise_bank(timbre.noise_band, sample_rate)
        noise_index = position + noise_offset
        noise_index &= NOISE_SIZE - 1
        signal += noise_level * bank[noise_index]
    return position, signal, phase


def _drone(arrays: NoteArrays, timbre: Timbre, n_samples: int, sample_rate: int) -> np.ndarray:
    """A constant tone an octave below the lowest note, from the first onset to the last end."""
    out = np.zeros(n_samples, dtype=np.float32)
    start, stop = int(arrays.onset.min()), int(arrays.end.max())
    f0 = float(arrays.f0.min()) / 2.0
    table = harmonic_table(round(f0, 2), sample_rate, timbre.slope, timbre.even, timbre.formants,
                           timbre.partials, timbre.lowpass)
    phase = (np.arange(stop - start, dtype=np.float64) * (f0 * TABLE_SIZE / sample_rate)).astype(np.int64)
    ramp = np.minimum(np.arange(stop - start, dtype=np.float32) / (0.05 * sample_rate), 1.0)
    out[start:stop] = timbre.drone * ramp * table[phase & (TABLE_SIZE - 1)]
    return out


def render_part(instrument: str, notes: list[Note], n_samples: int, sample_rate: int,
                seed: tuple[int, ...]) -> np.ndarray:
    """The unscaled signal of one instrument playing ``notes`` (float32 ``[n_samples]``)."""
    if not notes:
        return np.zeros(n_samples, dtype=np.float32)
    timbre = TIMBRES[instrument]
    rng = np.random.default_rng(list(seed))
    if timbre.hits:
        hits = [timbre.hits[n.pitch] for n in notes]
        f0 = np.array([h.f0 for h in hits])
    else:
        hits = []
        f0 = midi_to_hz([n.pitch for n in notes])
    keys, table_rows = np.unique(np.round(f0, 2), return_inverse=True)
    arrays = _note_arrays(notes, timbre, n_samples, sample_rate, np.maximum(f0, 1.0), table_rows)
    if hits:
        arrays.tone = np.array([h.tone for h in hits], dtype=np.float32)
        arrays.burst = np.array([h.noise for h in hits], dtype=np.float32)
        arrays.burst_tau = np.array([h.noise_tau for h in hits], dtype=np.float32)
        arrays.decay = np.array([h.decay for h in hits], dtype=np.float32)
        arrays.pitch_drop = np.array([h.pitch_drop for h in hits], dtype=np.float32)

    def stack(lowpass: float) -> np.ndarray:
        return np.stack([harmonic_table(float(k), sample_rate, timbre.slope, timbre.even,
                                        timbre.formants, timbre.partials, lowpass) for k in keys])

    bright = stack(timbre.lowpass)
    dull = stack(timbre.dull) if timbre.dull else None
    out = _oscillate(arrays, timbre, bright, dull, n_samples, sample_rate,
                     int(rng.integers(NOISE_SIZE)))
    if timbre.drone:
        out += _drone(arrays, timbre, n_samples, sample_rate)
    return out


def render_voice(intervals: list[tuple[float, float]], n_samples: int, sample_rate: int,
                 seed: tuple[int, ...]) -> np.ndarray:
    """A speech-like voiceover inside ``intervals`` (float32 ``[n_samples]``, peak about 1).

    Syllables of 0.12-0.28 s (about 4-5 per second) in words of 2-4 syllables separated by
    short pauses; each syllable a vowel (formant-shaped glottal pulse spectrum) with a pitch
    contour (phrase declination, random accents, a glide), some starting with a consonant
    noise burst. The speaker's pitch (male or female range) is drawn per scene.
    """
    rng = np.random.default_rng(list(seed))
    base = 45.0 + 12.0 * rng.random() + (10.0 if rng.random() < 0.5 else 0.0)  # MIDI: ~110-260 Hz
    notes, vowels, bends, consonants = [], [], [], []
    for start, end in sorted(intervals):
        t = float(start) + rng.uniform(0.0, 0.08)
        in_word = 0
        while t < end - 0.1:
            duration = min(rng.uniform(0.12, 0.28), end - t)
            declination = -3.0 * (t - start) / max(end - start, 1e-3)
            pitch = base + 1.5 + declination + rng.uniform(-2.0, 2.0)
            notes.append(Note(t, duration, 0, float(rng.uniform(0.7, 1.0))))
            bends.append(pitch)
            vowels.append(int(rng.integers(len(VOWELS))))
            consonants.append(0.6 if rng.random() < 0.5 else 0.0)
            t += duration + 0.02
            in_word += 1
            if in_word >= rng.integers(2, 5):
                t += rng.uniform(0.1, 0.3)
                in_word = 0
    if not notes:
        return np.zeros(n_samples, dtype=np.float32)
    pitch = np.array(bends)
    keys = sorted({(v, int(round(p))) for v, p in zip(vowels, pitch)})
    rows = {key: i for i, key in enumerate(keys)}
    table = np.array([rows[(v, int(round(p)))] for v, p in zip(vowels, pitch)])
    f0 = midi_to_hz(np.round(pitch))
    arrays = _note_arrays(notes, VOICE, n_samples, sample_rate, f0, table)
    arrays.burst = np.array(consonants, dtype=np.float32)
    arrays.bend = rng.uniform(-2.0, 2.0, len(notes)).astype(np.float32)
    tables = np.stack([harmonic_table(float(midi_to_hz(p)), sample_rate, VOICE.slope, VOICE.even,
                                      tuple((f, 60.0 + 0.06 * f, 12.0) for f in VOWELS[v]),
                                      (), VOICE.lowpass) for v, p in keys])
    return _oscillate(arrays, VOICE, tables, None, n_samples, sample_rate, int(rng.integers(NOISE_SIZE)))
