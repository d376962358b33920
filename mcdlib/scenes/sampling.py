"""Sampling music-scene graphs: varied, plausible performances whose questions are decidable.

:func:`sample_scenes` draws ``profile.videos`` scenes; scene ``k`` depends only on
``(seed, k)`` and the profile (a per-video generator seeded with ``[seed, k]``), so building
more videos never changes the first ones. Video ids are ``ms000000``, ``ms000001``, ...

What a sampled scene looks like (the constants below are the knobs):

* **Players**: 1 to 4 visible players (``PLAYER_COUNT_WEIGHTS``, clipped to the profile's
  ``min_players``/``max_players``). With up to 3 players each stands in its own column of a
  3-column stage grid (left / middle / right; a random subset of columns, jittered by at most
  ``COLUMN_JITTER`` around the column centre), so "left"/"middle"/"right" are unambiguous on
  a 3-column feature grid. Four players stand at quarters (columns left, middle, middle,
  right): there "middle" names two players and only left/right/leftest/rightest questions
  are asked (see :mod:`mcdlib.scenes.questions`).
* **Instruments**: distinct instruments drawn uniformly from the profile's pool (all 22 by
  default); with ``profile.p_duplicate_instrument`` one instrument appears twice.
* **Sounding intervals** (integer seconds, so every onset falls on a segment boundary):
  each visible player follows a pattern of ``INTERVAL_PATTERNS`` (always playing, entering
  late, stopping early, entering late and stopping early, a gap, silent).
* **Loudness**: one of ``LOUDNESS_LEVELS_DB`` plus at most ``LOUDNESS_JITTER_DB`` of
  jitter, so two players either share a level (a "louder" question is then not asked) or
  differ by at least 4 dB. **Rhythm** (notes per second): one of ``RHYTHM_LEVELS`` times a
  jitter factor, so different levels differ by a ratio of at least 1.6.
* **Off-screen instrument** (``profile.p_offscreen``): a sounding player with
  ``visible=False`` whose instrument is not on stage. **Voiceover**
  (``profile.p_voiceover``): one or two spoken intervals. **Backdrop**: outdoor with
  ``profile.p_outdoor``, else indoor.
* Every scene has at least one sounding instrument.

**Generator version 2** (:func:`sample_scene` dispatches on ``profile.version``; version 1
is the above, unchanged byte for byte) draws from its own random stream and differs in
three knobs and one addition:

* a visible player is **silent** with ``profile.p_silent`` (0.4; version 1: the 0.14 weight
  of the "silent" pattern), else it follows the other patterns in their version-1
  proportions; an **off-screen** instrument sounds in ``profile.p_offscreen`` of the scenes
  (0.5; version 1: 0.15). So what is seen and what is heard disagree often enough that
  neither sense alone answers the other's questions (see :mod:`mcdlib.scenes.ceilings`).
* a **visual time line** (:class:`~mcdlib.scenes.scene.Scene` ``camera``, ``lighting``),
  drawn from a third stream, independent of the sound: with ``profile.p_closeup`` the
  camera cuts to a close-up (zoom ``CLOSEUP_ZOOMS``) on a visible player picked uniformly
  for ``CLOSEUP_SECONDS`` seconds; with ``profile.p_light_change`` the lights change once
  (to ``"dim"``, ``"warm"`` or ``"cool"``) at a second between 2 and ``seconds - 2``. The
  rest of the video is a wide shot in normal light, so every visible player is seen.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from tqdm.auto import tqdm

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.errors import ConfigError
from mcdlib.scenes.profiles import SceneProfile
from mcdlib.scenes.scene import Player, Scene

#: relative frequency of 1, 2, 3, 4 visible players (before clipping to the profile's range)
PLAYER_COUNT_WEIGHTS: dict[int, float] = {1: 0.18, 2: 0.34, 3: 0.30, 4: 0.18}
#: most a player stands from the centre of its column (stage width = 1; a column is 1/3)
COLUMN_JITTER = 0.06
#: most a player of a four-player line-up stands from its quarter's centre
QUARTER_JITTER = 0.03
#: stem gains (dB re full scale); neighbouring levels are 6 dB apart
LOUDNESS_LEVELS_DB: tuple[float, ...] = (-25.0, -19.0, -13.0, -7.0)
LOUDNESS_JITTER_DB = 1.0
#: note densities (notes per second); neighbouring levels are a factor 2 apart
RHYTHM_LEVELS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
RHYTHM_JITTER = 0.1  # multiplicative, +-10 %
#: sounding pattern of a visible player -> probability
INTERVAL_PATTERNS: dict[str, float] = {
    "always": 0.34, "late": 0.24, "early_stop": 0.12, "late_early_stop": 0.08, "gap": 0.08,
    "silent": 0.14,
}
#: shortest sounding stretch of a pattern, seconds
MIN_SOUNDING_SECONDS = 3
VIDEO_ID_PREFIX = "ms"
#: version 2: camera zooms of a close-up and its length range in seconds (inclusive)
CLOSEUP_ZOOMS: tuple[float, ...] = (1.6, 2.0)
CLOSEUP_SECONDS: tuple[int, int] = (2, 4)
#: version 2: the lightings a change goes to (the video starts in "normal" light)
LIGHT_CHANGES: tuple[str, ...] = ("dim", "warm", "cool")


def video_id(index: int) -> str:
    """The id of the ``index``-th music-scenes video, e.g. ``ms000123``."""
    return f"{VIDEO_ID_PREFIX}{index:06d}"


def instrument_pool(profile: SceneProfile) -> tuple[str, ...]:
    """The instruments scenes draw from (``profile.instruments`` or all 22), checked."""
    pool = tuple(profile.instruments) or INSTRUMENTS
    unknown = [name for name in pool if name not in INSTRUMENTS]
    if unknown:
        raise ConfigError(f"music-scenes profile {profile.name!r}: unknown instrument(s) "
                          f"{', '.join(map(repr, unknown))} in 'instruments'; use names of the "
                          f"22 MUSIC-AVQA instruments: {', '.join(INSTRUMENTS)}")
    return tuple(dict.fromkeys(pool))


def _check_profile(profile: SceneProfile) -> None:
    if not 1 <= profile.min_players <= profile.max_players <= 4:
        raise ConfigError(f"music-scenes profile {profile.name!r}: need 1 <= min_players <= "
                          f"max_players <= 4, got {profile.min_players}..{profile.max_players}")
    if profile.seconds < 2 * MIN_SOUNDING_SECONDS:
        raise ConfigError(f"music-scenes profile {profile.name!r}: seconds={profile.seconds} is "
                          f"too short; use at least {2 * MIN_SOUNDING_SECONDS}")
    for name in ("p_duplicate_instrument", "p_offscreen", "p_voiceover", "p_outdoor", "p_silent", "p_closeup",
                 "p_light_change"):
        value = getattr(profile, name)
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"music-scenes profile {profile.name!r}: {name}={value} is not a "
                              "probability in [0, 1]")


def _player_count(profile: SceneProfile, rng: np.random.Generator) -> int:
    counts = [n for n in PLAYER_COUNT_WEIGHTS if profile.min_players <= n <= profile.max_players]
    weights = np.array([PLAYER_COUNT_WEIGHTS[n] for n in counts])
    return int(rng.choice(counts, p=weights / weights.sum()))


def _positions(n: int, rng: np.random.Generator) -> list[float]:
    """Left-to-right x positions: one per column (n <= 3) or one per quarter (n = 4)."""
    if n == 4:
        return [float((k + 0.5) / 4 + rng.uniform(-QUARTER_JITTER, QUARTER_JITTER)) for k in range(4)]
    columns = sorted(rng.choice(3, size=n, replace=False).tolist())
    return [float((c + 0.5) / 3 + rng.uniform(-COLUMN_JITTER, COLUMN_JITTER)) for c in columns]


def _instruments(n: int, pool: tuple[str, ...], p_duplicate: float,
                 rng: np.random.Generator) -> list[str]:
    """n instruments, distinct unless a duplicate is drawn (or the pool is too small)."""
    duplicate = n >= 2 and rng.random() < p_duplicate
    distinct = min(n - 1 if duplicate else n, len(pool))
    names = [str(x) for x in rng.choice(pool, size=distinct, replace=False)]
    while len(names) < n:  # the duplicate (or a repeat forced by a small pool)
        names.append(names[int(rng.integers(len(names)))])
    rng.shuffle(names)
    return names


def _intervals(pattern: str, seconds: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Sounding intervals [start, end) in whole seconds for an interval pattern."""
    T, m = seconds, MIN_SOUNDING_SECONDS
    if pattern == "always":
        return [(0.0, float(T))]
    if pattern == "late":
        start = int(rng.integers(1, T - m + 1))
        return [(float(start), float(T))]
    if pattern == "early_stop":
        end = int(rng.integers(m, T))
        return [(0.0, float(end))]
    if pattern == "late_early_stop":
        start = int(rng.integers(1, T - m))
        end = int(rng.integers(start + m, T))
        return [(float(start), float(end))]
    if pattern == "gap":
        first_end = int(rng.integers(2, T - 4 + 1))
        second_start = int(rng.integers(first_end + 2, T - 2 + 1))
        return [(0.0, float(first_end)), (float(second_start), float(T))]
    if pattern == "silent":
        return []
    raise ValueError(f"unknown interval pattern {pattern!r}; choose one of {list(INTERVAL_PATTERNS)}")


def _pattern(rng: np.random.Generator, allow_silent: bool = True) -> str:
    names = [n for n in INTERVAL_PATTERNS if allow_silent or n != "silent"]
    weights = np.array([INTERVAL_PATTERNS[n] for n in names])
    return str(rng.choice(names, p=weights / weights.sum()))


def _loudness(rng: np.random.Generator) -> float:
    level = LOUDNESS_LEVELS_DB[int(rng.integers(len(LOUDNESS_LEVELS_DB)))]
    return round(float(level + rng.uniform(-LOUDNESS_JITTER_DB, LOUDNESS_JITTER_DB)), 2)


def _rhythm(rng: np.random.Generator) -> float:
    level = RHYTHM_LEVELS[int(rng.integers(len(RHYTHM_LEVELS)))]
    return round(float(level * rng.uniform(1 - RHYTHM_JITTER, 1 + RHYTHM_JITTER)), 3)


def _voiceover(seconds: int, rng: np.random.Generator) -> list[tuple[float, float]]:
    spans = []
    for _ in range(int(rng.integers(1, 3))):
        length = int(rng.integers(2, 5))
        start = int(rng.integers(0, seconds - length + 1))
        spans.append((float(start), float(start + length)))
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def sample_scene(profile: SceneProfile, seed: int, index: int) -> Scene:
    """The ``index``-th scene of the dataset drawn with ``seed`` (independent of the others),
    by the generator of ``profile.version``."""
    _check_profile(profile)
    if profile.version == 2:
        return _sample_scene_v2(profile, seed, index)
    pool = instrument_pool(profile)
    rng = np.random.default_rng([int(seed), int(index)])
    scene_seed = int(rng.integers(2**31 - 1))  # for renderers (note choice, frame details)
    names = _instruments(_player_count(profile, rng), pool, profile.p_duplicate_instrument, rng)
    players = _stage_players(names, profile, rng, _pattern)
    offstage = [name for name in pool if name not in names]
    if offstage and rng.random() < profile.p_offscreen:
        players.append(_offscreen_player(offstage, profile, rng))
    voiceover, backdrop = _someone_plays_voice_backdrop(players, profile, rng)
    return Scene(video_id=video_id(index), seconds=profile.seconds, players=players,
                 backdrop=backdrop, voiceover=voiceover, seed=scene_seed)


def _stage_players(names: list[str], profile: SceneProfile, rng: np.random.Generator, pattern) -> list[Player]:
    """The visible players: places, then per player its ``pattern(rng)`` intervals, loudness, rhythm."""
    return [Player(instrument=name, x=round(x, 4), intervals=_intervals(pattern(rng), profile.seconds, rng),
                   loudness_db=_loudness(rng), rhythm=_rhythm(rng))
            for name, x in zip(names, _positions(len(names), rng))]


def _offscreen_player(choices: list[str], profile: SceneProfile, rng: np.random.Generator) -> Player:
    """A sounding player heard but not seen, of an instrument among ``choices``."""
    return Player(instrument=str(rng.choice(choices)), x=0.5, visible=False,
                  intervals=_intervals(_pattern(rng, allow_silent=False), profile.seconds, rng),
                  loudness_db=_loudness(rng), rhythm=_rhythm(rng))


def _someone_plays_voice_backdrop(players: list[Player], profile: SceneProfile,
                                  rng: np.random.Generator) -> tuple[list[tuple[float, float]], str]:
    """Make a random player sound if nobody does, then draw the voiceover and the backdrop."""
    if not any(p.intervals for p in players):  # someone must play
        lucky = players[int(rng.integers(len(players)))]
        lucky.intervals = _intervals(_pattern(rng, allow_silent=False), profile.seconds, rng)
    voiceover = _voiceover(profile.seconds, rng) if rng.random() < profile.p_voiceover else []
    return voiceover, "outdoor" if rng.random() < profile.p_outdoor else "indoor"


def _pattern_v2(rng: np.random.Generator, p_silent: float) -> str:
    if rng.random() < p_silent:
        return "silent"
    return _pattern(rng, allow_silent=False)


def _camera(scene_seconds: int, visible_x: list[float], p_closeup: float,
            rng: np.random.Generator) -> list[tuple[float, float]]:
    """Per second ``(zoom, centre_x)``: wide, with perhaps one close-up on a visible player."""
    camera = [(1.0, 0.5)] * scene_seconds
    if visible_x and rng.random() < p_closeup:
        zoom = float(CLOSEUP_ZOOMS[int(rng.integers(len(CLOSEUP_ZOOMS)))])
        length = int(rng.integers(CLOSEUP_SECONDS[0], CLOSEUP_SECONDS[1] + 1))
        start = int(rng.integers(0, scene_seconds - length + 1))
        half = 0.5 / zoom
        centre = round(float(min(max(visible_x[int(rng.integers(len(visible_x)))], half), 1 - half)), 4)
        camera[start:start + length] = [(zoom, centre)] * length
    return camera


def _lighting(scene_seconds: int, p_change: float, rng: np.random.Generator) -> list[str]:
    """Per second lighting: normal, with perhaps one change from a second in [2, seconds-2]."""
    lighting = ["normal"] * scene_seconds
    if rng.random() < p_change:
        at = int(rng.integers(2, scene_seconds - 1))
        lighting[at:] = [str(LIGHT_CHANGES[int(rng.integers(len(LIGHT_CHANGES)))])] * (scene_seconds - at)
    return lighting


def _sample_scene_v2(profile: SceneProfile, seed: int, index: int) -> Scene:
    """Version 2 (module doc): more silent and off-screen players, a visual time line."""
    pool = instrument_pool(profile)
    rng = np.random.default_rng([int(seed), int(index), 2])
    scene_seed = int(rng.integers(2**31 - 1))
    names = _instruments(_player_count(profile, rng), pool, profile.p_duplicate_instrument, rng)
    players = _stage_players(names, profile, rng, lambda r: _pattern_v2(r, profile.p_silent))
    for _ in range(profile.max_offscreen):  # each further one with p_offscreen again
        offstage = [name for name in pool if name not in {p.instrument for p in players}]
        if not offstage or rng.random() >= profile.p_offscreen:
            break
        players.append(_offscreen_player(offstage, profile, rng))
    voiceover, backdrop = _someone_plays_voice_backdrop(players, profile, rng)
    visual = np.random.default_rng([int(seed), int(index), 2, 1])  # the time line: its own stream
    camera = _camera(profile.seconds, [p.x for p in players if p.visible], profile.p_closeup, visual)
    lighting = _lighting(profile.seconds, profile.p_light_change, visual)
    return Scene(video_id=video_id(index), seconds=profile.seconds, players=players, backdrop=backdrop,
                 voiceover=voiceover, seed=scene_seed, camera=camera, lighting=lighting, version=2)


def sample_scenes(profile: SceneProfile, seed: int = 0, progress: bool = False,
                  indices: Iterable[int] | None = None) -> list[Scene]:
    """``profile.videos`` scenes (or those of ``indices``), deterministic in ``(profile, seed)``.

    Scene ``k`` is the same whatever the number of videos: ``sample_scenes(p, s)[k] ==
    sample_scene(p, s, k)``.
    """
    _check_profile(profile)
    indices = range(profile.videos) if indices is None else list(indices)
    return [sample_scene(profile, seed, k)
            for k in tqdm(indices, desc="sampling scenes", disable=not progress, unit="scene")]
