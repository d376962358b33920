"""Scene sampling: determinism, and the plausibility and decidability of sampled scenes."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import pytest

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.errors import ConfigError
from mcdlib.scenes.profiles import get_profile
from mcdlib.scenes.questions import column_of
from mcdlib.scenes.sampling import sample_scene, sample_scenes, video_id
from mcdlib.scenes.scene import Scene



@pytest.fixture(scope="module")
def classroom_scenes():
    return sample_scenes(get_profile("classroom"), seed=11)


@pytest.fixture(scope="module")
def classroom_v1_scenes():
    return sample_scenes(get_profile("classroom", ["version=1"]), seed=11)


def test_deterministic_and_independent_of_dataset_size():
    small, large = get_profile("tiny", ["videos=5"]), get_profile("tiny")
    assert sample_scenes(large, seed=3) == sample_scenes(large, seed=3)
    assert sample_scenes(small, seed=3) == sample_scenes(large, seed=3)[:5]
    assert sample_scene(large, 3, 17) == sample_scenes(large, seed=3)[17]
    assert sample_scenes(small, seed=3) != sample_scenes(small, seed=4)
    assert [s.video_id for s in sample_scenes(small, seed=0)] == [video_id(k) for k in range(5)]
    assert video_id(123) == "ms000123"


def test_scenes_survive_json(classroom_scenes):
    for scene in classroom_scenes[:50]:
        assert Scene.from_dict(json.loads(json.dumps(scene.to_dict()))) == scene


def test_players_stand_in_unambiguous_columns(classroom_scenes):
    counts = Counter(len(s.visible_players) for s in classroom_scenes)
    assert set(counts) == {1, 2, 3, 4}
    for scene in classroom_scenes:
        xs = [p.x for p in scene.visible_players]
        columns = [column_of(x) for x in xs]
        assert all(0.0 <= x <= 1.0 for x in xs)
        assert min((b - a for a, b in zip(xs, xs[1:])), default=1.0) >= 0.19
        if len(xs) <= 3:
            assert len(set(columns)) == len(columns)
        else:
            assert columns == ["left", "middle", "middle", "right"]


def test_intervals_loudness_and_rhythm_are_decidable(classroom_scenes):
    patterns = Counter()
    for scene in classroom_scenes:
        assert any(p.intervals for p in scene.players), scene.video_id
        for p in scene.players:
            assert p.instrument in INSTRUMENTS
            for start, end in p.intervals:
                assert 0 <= start < end <= scene.seconds and start == int(start) and end == int(end)
            assert all(e1 < s2 for (_, e1), (s2, _) in zip(p.intervals, p.intervals[1:]))
            patterns[(len(p.intervals), p.onset == 0, p.offset == scene.seconds)] += 1
        for a, b in itertools.combinations(scene.players, 2):
            gap = abs(a.loudness_db - b.loudness_db)
            assert gap <= 2.0 or gap >= 4.0  # same level, or a difference one can hear
            ratio = max(a.rhythm, b.rhythm) / min(a.rhythm, b.rhythm)
            assert ratio <= 1.23 or ratio >= 1.6
    assert patterns[(1, True, True)] > 0  # always playing
    assert patterns[(1, False, True)] > 0  # entering late
    assert patterns[(1, True, False)] > 0  # stopping early
    assert patterns[(2, True, True)] > 0  # a gap
    assert patterns[(0, False, False)] > 0  # silent


def _duplicate_rate(scenes):
    several = [s for s in scenes if len(s.visible_players) >= 2]
    return sum(len({p.instrument for p in s.visible_players}) < len(s.visible_players) for s in several) / len(several)


def _silent_share(scenes):
    visible = [p for s in scenes for p in s.visible_players]
    return sum(not p.intervals for p in visible) / len(visible)


def test_profile_probabilities(classroom_v1_scenes):
    scenes = classroom_v1_scenes
    n = len(scenes)
    offscreen = [s for s in scenes if any(not p.visible for p in s.players)]
    assert abs(len(offscreen) / n - 0.15) < 0.03
    for scene in offscreen:
        hidden = [p for p in scene.players if not p.visible]
        assert len(hidden) == 1 and hidden[0].intervals
        assert hidden[0].instrument not in {p.instrument for p in scene.visible_players}
    assert abs(sum(bool(s.voiceover) for s in scenes) / n - 0.2) < 0.03
    assert abs(sum(s.backdrop == "outdoor" for s in scenes) / n - 0.5) < 0.04
    assert abs(_duplicate_rate(scenes) - 0.15) < 0.03
    assert abs(_silent_share(scenes) - 0.14) < 0.03
    used = Counter(p.instrument for s in scenes for p in s.players)
    assert set(used) == set(INSTRUMENTS)
    assert all(not s.camera and not s.lighting and s.version == 1 for s in scenes)  # still pictures


def test_version_2_probabilities(classroom_scenes, classroom_v1_scenes):
    scenes = classroom_scenes
    n = len(scenes)
    hidden = [[p for p in s.players if not p.visible] for s in scenes]
    assert abs(sum(bool(h) for h in hidden) / n - 0.5) < 0.04  # p_offscreen
    assert abs(sum(len(h) == 2 for h in hidden) / n - 0.25) < 0.04  # a second one with p_offscreen again
    for scene, h in zip(scenes, hidden):
        names = [p.instrument for p in h]
        assert all(p.intervals for p in h) and len(set(names)) == len(names)
        assert not set(names) & {p.instrument for p in scene.visible_players}
        assert any(p.intervals for p in scene.players)
    assert abs(_silent_share(scenes) - 0.4) < 0.05  # p_silent (a little less: someone must play)
    # not more duplicated instruments than version 1 (same players, same p_duplicate_instrument)
    assert abs(_duplicate_rate(scenes) - _duplicate_rate(classroom_v1_scenes)) < 0.03
    assert abs(sum(bool(s.voiceover) for s in scenes) / n - 0.2) < 0.03


def test_version_2_visual_time_line(classroom_scenes):
    scenes = classroom_scenes
    n = len(scenes)
    close = [s for s in scenes if any(zoom > 1 for zoom, _ in s.camera)]
    assert abs(len(close) / n - 0.6) < 0.04  # p_closeup
    changed = [s for s in scenes if len(set(s.lighting)) > 1]
    assert abs(len(changed) / n - 0.6) < 0.04  # p_light_change
    for scene in scenes:
        assert len(scene.camera) == len(scene.lighting) == scene.seconds
        zooms = [zoom for zoom, _ in scene.camera]
        closeup = [t for t, zoom in enumerate(zooms) if zoom > 1]
        if closeup:  # one contiguous close-up of 2 to 4 seconds, on a visible player's place
            assert 2 <= len(closeup) <= 4 and closeup == list(range(closeup[0], closeup[-1] + 1))
            zoom, centre = scene.camera[closeup[0]]
            assert any(scene.in_frame(p, closeup[0]) for p in scene.visible_players)
            assert 0.5 / zoom <= centre <= 1 - 0.5 / zoom
        wide = [t for t, zoom in enumerate(zooms) if zoom == 1]
        assert wide and all(any(scene.in_frame(p, t) for t in wide) for p in scene.visible_players)
        assert scene.lighting[:2] == ["normal", "normal"] and len(set(scene.lighting)) <= 2


def test_version_2_knobs_are_respected_and_the_time_line_leaves_the_sound_alone():
    base = sample_scenes(get_profile("tiny", ["videos=200"]), seed=2)
    still = sample_scenes(get_profile("tiny", ["videos=200", "p_closeup=0", "p_light_change=0"]), seed=2)
    assert all(set(s.camera) == {(1.0, 0.5)} and set(s.lighting) == {"normal"} for s in still)
    assert [s.players for s in still] == [s.players for s in base]  # the time line has its own stream
    loud = sample_scenes(get_profile("tiny", ["videos=200", "p_silent=0", "max_offscreen=1", "p_offscreen=1"]), 2)
    assert all(sum(not p.visible for p in s.players) == 1 for s in loud)
    assert all(p.intervals for s in loud for p in s.players)
    with pytest.raises(ConfigError, match="p_silent"):
        sample_scenes(get_profile("tiny", ["p_silent=1.5"]))


def test_profile_settings_are_respected_and_checked():
    profile = get_profile("tiny", ["instruments=[violin,cello,piano]", "min_players=2",
                                   "max_players=3", "p_offscreen=0"])
    for scene in sample_scenes(profile, seed=1):
        assert 2 <= len(scene.visible_players) <= 3
        assert {p.instrument for p in scene.players} <= {"violin", "cello", "piano"}
        assert all(p.visible for p in scene.players)
    with pytest.raises(ConfigError, match="'banjos'.*22 MUSIC-AVQA"):
        sample_scenes(get_profile("tiny", ["instruments=[violin,banjos]"]))
    with pytest.raises(ConfigError, match="max_players"):
        sample_scenes(get_profile("tiny", ["max_players=5"]))
