"""The shortcut ceilings (mcdlib.scenes.ceilings): the views on hand-built scenes, the calibrated
observers, the table layout, and reading it from a dataset folder."""

from __future__ import annotations

import json

import pytest

from mcdlib.data.music_avqa import make_question, to_record
from mcdlib.errors import McdError
from mcdlib.evaluation import REPORT_ROWS
from mcdlib.scenes.ceilings import (UNKNOWN, VIEWS, Observer, SceneViews, audio_scene, compute_ceilings,
                                    format_ceilings, read_ceilings, swapped_scenes, vision_scene)
from mcdlib.scenes.questions import RULES, answer
from mcdlib.scenes.scene import Player, Scene

LABELS = [row.label for row in REPORT_ROWS]


def _offscreen_scene(video_id="ms000001", version=1):
    """A silent violin on the left, a cello sounding from 3 s on the right, an off-screen
    trumpet playing throughout (louder), and a voiceover."""
    return Scene(video_id, 10, [
        Player("violin", 0.15),
        Player("cello", 0.85, intervals=[(3.0, 10.0)], loudness_db=-19.0, rhythm=2.0),
        Player("trumpet", 0.5, visible=False, intervals=[(0.0, 10.0)], loudness_db=-7.0, rhythm=8.0),
    ], backdrop="outdoor", voiceover=[(1.0, 3.0)], version=version)


def _duplicate_scene(video_id="ms000002"):
    """Two violins: the left one plays from 0 s, the right one from 4 s."""
    return Scene(video_id, 10, [
        Player("violin", 0.15, intervals=[(0.0, 10.0)], loudness_db=-7.0),
        Player("violin", 0.85, intervals=[(4.0, 10.0)], loudness_db=-19.0),
    ], backdrop="indoor")


def _signature(scene, view, template, values=()):
    return SceneViews.of(scene).signature(view, RULES[template], values)


def test_vision_scene_keeps_what_frames_show_and_imputes_the_rest():
    seen = vision_scene(_offscreen_scene())
    assert [(p.instrument, p.x) for p in seen.players] == [("violin", 0.15), ("cello", 0.85)]
    assert all(p.intervals == [(0.0, 10.0)] for p in seen.players)  # everyone imputed playing all along
    assert len({(p.loudness_db, p.rhythm) for p in seen.players}) == 1
    assert seen.voiceover == [] and seen.backdrop == "outdoor"


def test_audio_scene_keeps_what_the_mix_tells_and_hides_positions():
    heard = audio_scene(_offscreen_scene())
    assert [p.instrument for p in heard.players] == ["cello", "trumpet"]  # the silent violin is not heard
    assert all(p.visible and p.x == 0.5 for p in heard.players)  # visibility and places unknown
    assert heard.voiceover == [(1.0, 3.0)] and heard.backdrop is None


def test_swapped_scenes_exchange_the_sound_of_same_instrument_players():
    scene = _duplicate_scene()
    swapped = swapped_scenes(scene)
    assert len(swapped) == 2 and swapped[0] == scene
    assert [p.intervals for p in swapped[1].players] == [[(4.0, 10.0)], [(0.0, 10.0)]]
    assert [p.x for p in swapped[1].players] == [0.15, 0.85]  # places stay
    assert swapped_scenes(_offscreen_scene()) == [_offscreen_scene()]


@pytest.mark.parametrize("template, values, truth, vision, audio", [
    # Audio: vision counts the visible players as heard; audio hears the off-screen trumpet
    ("How many musical instruments were heard throughout the video?", (), "two", "two", "two"),
    ("Is there a <Object> sound?", ("violin",), "no", "yes", "no"),
    ("Is the <Object> louder than the <Object>?", ("trumpet", "cello"), "yes", UNKNOWN, "yes"),
    # Visual: audio imputes the heard instruments visible
    ("Is there a <Object> in the entire video?", ("trumpet",), "no", "no", "yes"),
    ("Where is the performance?", (), "outdoor", "outdoor", UNKNOWN),
    ("What kind of instrument is the <LRer> instrument?", ("leftest",), "violin", "violin", UNKNOWN),
    # Audio-Visual
    ("Is this sound from the instrument in the video?", (), "no", "yes", "yes"),
    ("Is there a voiceover?", (), "yes", "no", "yes"),
    ("How many instruments in the video did not sound from beginning to end?", (), "one", "zero", "zero"),
    ("Where is the <FL> sounding instrument?", ("last",), "right", UNKNOWN, UNKNOWN),
])
def test_signatures_on_a_scene_with_a_silent_and_an_offscreen_player(template, values, truth, vision, audio):
    scene = _offscreen_scene()
    assert answer(scene, template, values) == truth
    assert _signature(scene, "vision_only", template, values) == vision
    assert _signature(scene, "audio_only", template, values) == audio
    assert _signature(scene, "perfect", template, values) == truth


def test_perfect_perception_cannot_tell_two_violins_apart():
    scene = _duplicate_scene()
    where = "Where is the <FL> sounding instrument?"
    assert answer(scene, where, ["first"]) == "left"
    assert _signature(scene, "perfect", where, ("first",)) == ("left", "right")
    count = "How many sounding <Object> in the video?"  # invariant under the swap
    assert _signature(scene, "perfect", count, ("violin",)) == "two"


def test_audio_only_takes_the_question_word_for_a_named_instrument_place():
    scene = Scene("ms000003", 10, [Player("violin", 0.15, intervals=[(0.0, 10.0)], loudness_db=-7.0),
                                   Player("cello", 0.85, intervals=[(0.0, 10.0)], loudness_db=-19.0)])
    named = "Is the <Object> on the <LR> louder than the <Object> on the <LR>?"
    values = ("violin", "left", "cello", "right")
    assert answer(scene, named, values) == "yes"
    assert _signature(scene, "audio_only", named, values) == "yes"
    unnamed = "Is the instrument on the <LR> louder than the instrument on the <LR>?"
    assert _signature(scene, "audio_only", unnamed, ("left", "right")) == UNKNOWN
    assert _signature(scene, "vision_only", named, values) == UNKNOWN  # everyone imputed equally loud


def test_version_2_rules_read_the_order_of_entries_among_instruments_in_the_video():
    template = "What is the <TH> instrument that comes in?"
    assert answer(_offscreen_scene(version=1), template, ["first"]) == "trumpet"  # off screen, first heard
    v2 = _offscreen_scene(version=2)
    assert answer(v2, template, ["first"]) == "cello"  # the first instrument *in the video*
    assert _signature(v2, "audio_only", template, ("first",)) == "trumpet"  # audio cannot tell who is on screen


def test_calibrated_observer_learns_from_train_and_falls_back_sensibly():
    rows = [("Is there a <Object> sound?", "yes", "no")] * 3 + [("Is there a <Object> sound?", "yes", "yes")]
    rows += [("Is there a <Object> sound?", UNKNOWN, "yes")]
    observer = Observer.fit("vision_only", rows)
    assert observer.answer("Is there a <Object> sound?", "yes") == "no"  # the train majority of that signature
    assert observer.answer("Is there a <Object> sound?", UNKNOWN) == "yes"
    assert observer.answer("Is there a <Object> sound?", "no") == "no"  # unseen: its own perception
    assert observer.answer("Is there a <Object> sound?", ("maybe", "yes")) == "yes"  # options: the most frequent
    assert observer.answer("Where is the performance?", UNKNOWN) is None  # nothing known


def _records(scene, items, first_id):
    return [to_record(make_question(first_id + k, scene.video_id, template, values, answer(scene, template, values)))
            for k, (template, values) in enumerate(items)]


@pytest.fixture
def small_dataset():
    a, b = _offscreen_scene("ms000001"), _offscreen_scene("ms000002")
    b.players[0].intervals = [(0.0, 10.0)]  # here the violin plays: "is there a violin sound?" -> yes
    items = [("Is there a <Object> sound?", ["violin"]), ("Where is the performance?", []),
             ("Is there a voiceover?", [])]
    annotations = {"train": _records(a, items, 0) + _records(b, items[:1], 10), "test": _records(b, items, 20)}
    return {s.video_id: s for s in (a, b)}, annotations


def test_compute_ceilings_layout_and_values(small_dataset):
    scenes, annotations = small_dataset
    table = compute_ceilings(scenes, annotations)
    assert set(table) == {"train", "test", "templates"}
    for split in ("train", "test"):
        assert set(table[split]) == set(VIEWS)
        assert all(list(table[split][view]) == LABELS for view in VIEWS)
    test = table["test"]
    # train: the violin question is "no" once and "yes" once (ties go to the answer "yes"); vision sees a
    # violin in both ("yes") and learns the same majority; audio hears it only in b and answers right
    assert test["prior"]["Audio Counting"] == 100.0 and test["vision_only"]["Audio Counting"] == 100.0
    assert test["audio_only"]["Audio Counting"] == 100.0
    assert test["audio_only"]["Visual Location"] == 100.0  # unknown backdrop: the train majority (outdoor)
    assert test["perfect"]["Overall"] == 100.0
    assert test["prior"]["AV Counting"] is None  # no question in that row
    templates = table["templates"]["test"]
    # vision perceives "no voiceover" but train taught it that this perception goes with "yes": calibrated
    assert templates["Is there a voiceover?"] == {"cell": "AV Existential", "n": 1, "prior": 100.0,
                                                   "vision_only": 100.0, "audio_only": 100.0, "perfect": 100.0}
    assert "\n" in format_ceilings(table, "test") and "vision_only" in format_ceilings(table, "test")


def test_compute_ceilings_needs_a_train_split_and_the_scene_graphs(small_dataset):
    scenes, annotations = small_dataset
    with pytest.raises(McdError, match="calibrate"):
        compute_ceilings(scenes, {"test": annotations["test"]})
    with pytest.raises(McdError, match="no scene graph"):
        compute_ceilings({}, annotations)


def test_read_ceilings_from_a_manifest_from_scene_graphs_or_none(small_dataset, tmp_path):
    scenes, annotations = small_dataset
    (tmp_path / "json").mkdir()
    (tmp_path / "scenes").mkdir()
    for split, records in annotations.items():
        (tmp_path / "json" / f"avqa-{split}.json").write_text(json.dumps(records))
    for scene in scenes.values():
        scene.save(tmp_path / "scenes" / f"{scene.video_id}.json")
    computed = read_ceilings(tmp_path)  # no manifest: computed from the scene graphs
    assert computed == json.loads(json.dumps(compute_ceilings(scenes, annotations)))
    (tmp_path / "manifest.json").write_text(json.dumps({"ceilings": {"test": {"prior": {"Overall": 1.0}}}}))
    assert read_ceilings(tmp_path) == {"test": {"prior": {"Overall": 1.0}}}
    real = tmp_path / "real"
    (real / "json").mkdir(parents=True)
    assert read_ceilings(real) is None
