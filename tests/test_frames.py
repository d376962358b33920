"""Frames of music scenes: distinct pictures, correct positions, nothing shows who is sounding."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.errors import McdError
from mcdlib.scenes.frames import (BACKDROP_VARIANTS, EMOJI, backdrop_variant, frame_hash, frame_state,
                                  instrument_picture, picture_source, player_boxes, render_frame, render_frames,
                                  render_state, scene_frames)
from mcdlib.scenes.scene import Player, Scene


def _scene(players, backdrop="indoor", video_id="ms000001", seconds=10) -> Scene:
    return Scene(video_id=video_id, seconds=seconds, players=players, backdrop=backdrop)


def test_every_instrument_has_a_picture_from_openmoji_or_drawn():
    sources = {name: picture_source(name) for name in INSTRUMENTS}
    assert {n for n, s in sources.items() if s == "openmoji"} == set(EMOJI)
    assert sum(s == "drawn" for s in sources.values()) == 12
    for name in INSTRUMENTS:
        alpha = np.asarray(instrument_picture(name, 64))[..., 3]
        assert (alpha > 0).mean() > 0.08, f"{name}: picture nearly empty"


def test_distinct_instruments_give_distinct_pictures():
    pictures = {n: np.asarray(instrument_picture(n, 64).convert("RGB"), dtype=np.float32) for n in INSTRUMENTS}
    closest = min(np.abs(pictures[a] - pictures[b]).mean() for a, b in itertools.combinations(INSTRUMENTS, 2))
    assert closest > 8.0, f"two instrument pictures nearly identical (mean |diff| {closest:.1f} of 255)"


def test_unknown_instrument_is_a_clear_error():
    with pytest.raises(McdError, match="theremin.*22 MUSIC-AVQA"):
        render_frame(_scene([Player("theremin", 0.5)]))


@pytest.mark.parametrize("x", [0.17, 0.5, 0.83])
def test_a_player_is_drawn_at_its_position(x):
    empty = render_frame(_scene([])).astype(int)
    frame = render_frame(_scene([Player("tuba", x)])).astype(int)
    changed = np.abs(frame - empty).sum(-1) > 30
    columns = np.flatnonzero(changed.any(0))
    centre = (columns.min() + columns.max()) / 2
    assert abs(centre / 224 - x) < 0.04
    (box,) = player_boxes(_scene([Player("tuba", x)]))
    assert abs(box.centre_x / 224 - x) < 0.02


def test_players_are_ordered_left_to_right_and_do_not_overlap():
    scene = _scene([Player("violin", 0.875), Player("cello", 0.125), Player("drum", 0.375), Player("pipa", 0.625)])
    boxes = player_boxes(scene)
    assert [b.instrument for b in boxes] == ["cello", "drum", "pipa", "violin"]
    assert all(a.right <= b.left + 2 for a, b in zip(boxes, boxes[1:]))


def test_sounding_state_loudness_and_rhythm_are_not_visible():
    silent = _scene([Player("violin", 0.2, intervals=[]), Player("flute", 0.8, intervals=[])])
    playing = _scene([Player("violin", 0.2, intervals=[(0.0, 10.0)], loudness_db=-5, rhythm=8.0),
                      Player("flute", 0.8, intervals=[(3.0, 6.0)], loudness_db=-25, rhythm=1.0)])
    assert np.array_equal(render_frame(silent), render_frame(playing))


def test_offscreen_players_and_voiceover_are_not_drawn():
    base = _scene([Player("violin", 0.5)])
    extra = _scene([Player("violin", 0.5), Player("trumpet", 0.2, visible=False, intervals=[(0.0, 10.0)])])
    extra.voiceover = [(1.0, 4.0)]
    assert np.array_equal(render_frame(base), render_frame(extra))


def test_backdrops_indoor_and_outdoor_differ_and_variants_are_stable():
    indoor = render_frame(_scene([], "indoor")).astype(int)
    outdoor = render_frame(_scene([], "outdoor")).astype(int)
    assert np.abs(indoor - outdoor).mean() > 20
    seen = {backdrop_variant(_scene([], "outdoor", f"ms{k:06d}")) for k in range(60)}
    assert seen == set(BACKDROP_VARIANTS["outdoor"])
    assert backdrop_variant(_scene([], "outdoor", "ms000007")) == backdrop_variant(_scene([], "outdoor", "ms000007"))
    with pytest.raises(McdError, match="backdrop 'moon'"):
        render_frame(_scene([], "moon"))


def test_render_frames_repeats_one_frame_per_second_at_any_size():
    scene = _scene([Player("banjo", 0.3), Player("guzheng", 0.7)], seconds=6)
    frames = render_frames(scene, size=112)
    assert frames.shape == (6, 112, 112, 3) and frames.dtype == np.uint8
    assert len({frame_hash(f) for f in frames}) == 1
    assert frame_hash(frames[0]) != frame_hash(render_frame(_scene([Player("banjo", 0.3)]), 112))


# --------------------------------------------------------------------------- version 2: the visual time line


def _moving(camera=None, lighting=None, seconds=6):
    scene = _scene([Player("banjo", 0.2), Player("guzheng", 0.8)], seconds=seconds)
    scene.camera = camera or [(1.0, 0.5)] * seconds
    scene.lighting = lighting or ["normal"] * seconds
    scene.version = 2
    return scene


def test_a_still_time_line_renders_the_version_1_frame():
    still = _moving()
    assert np.array_equal(render_frames(still, 112)[3], render_frame(_scene(still.players, seconds=6), 112))
    assert len(scene_frames(still, 112)) == 1


def test_close_up_and_lighting_change_the_picture_second_by_second():
    camera = [(1.0, 0.5)] * 2 + [(2.0, 0.75)] * 2 + [(1.0, 0.5)] * 2
    lighting = ["normal"] * 3 + ["dim"] * 3
    scene = _moving(camera, lighting)
    frames = render_frames(scene, 112)
    assert frames.shape == (6, 112, 112, 3) and frames.dtype == np.uint8
    assert [seconds for seconds, _ in scene_frames(scene, 112)] == [[0, 1], [2], [3], [4, 5]]
    assert len({frame_hash(f) for f in frames}) == 4
    wide, close = frames[0].astype(int), frames[2].astype(int)
    assert np.abs(wide - close).mean() > 20  # a close-up is another picture, not a shade of the wide one
    dim = frames[4].astype(float)
    assert 0.45 < dim.mean() / wide.mean() < 0.65  # the lights went down, the stage is the same
    assert frame_state(scene, 3) == (2.0, 0.75, "dim")
    with pytest.raises(McdError, match="lighting 'disco'"):
        render_state(scene, (1.0, 0.5, "disco"), 64)


def test_close_up_shows_the_player_it_frames_larger():
    scene = _moving([(1.0, 0.5)] + [(2.0, 0.75)] * 5)
    box = player_boxes(scene, 112)[-1]  # the guzheng on the right, wide shot
    wide_width = box.right - box.left
    close = render_state(scene, (2.0, 0.75, "normal"), 112)
    backdrop = render_state(_scene([], scene.backdrop, scene.video_id, 6), (2.0, 0.75, "normal"), 112)
    drawn = np.abs(close.astype(int) - backdrop.astype(int)).sum(-1) > 30
    columns = np.flatnonzero(drawn.any(0))
    assert columns.size and columns.max() - columns.min() > 1.5 * wide_width
