"""The music scenes rendered as AVQA (mcdlib.scenes.avqa_format, mcd data synth --format avqa):
hand-built scenes with hand-derived answers, options drawn from the scene, and a small build
read back by the AVQA reader with every answer recomputed from the scene graphs."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from mcdlib.cli import main
from mcdlib.data.avqa import QUESTION_TYPES, read_avqa_annotations
from mcdlib.data.templates import INSTRUMENTS
from mcdlib.errors import ConfigError, McdError
from mcdlib.scenes.avqa_format import KINDS, draw_options, make_avqa_questions, scene_questions
from mcdlib.scenes.build import Parts, build_dataset, manifest_key
from mcdlib.scenes.profiles import get_profile
from mcdlib.scenes.scene import Player, Scene


def _p(instrument, x, intervals, db=-13.0, visible=True):
    return Player(instrument, x, visible=visible, intervals=[tuple(map(float, i)) for i in intervals], loudness_db=db)


#: violin left from 0 (-7 dB), piano middle from 2 (-19 dB), silent cello right, flute off screen from 7.5
TRIO = Scene("hand_trio", 10, [
    _p("violin", 0.15, [(0, 10)], db=-7),
    _p("piano", 0.50, [(2, 10)], db=-19),
    _p("cello", 0.85, []),
    _p("flute", 0.5, [(7.5, 10)], db=-25, visible=False),
])


def answers(kind: str, scene: Scene = TRIO) -> dict[str, str]:
    return {q.text: q.answer for q in scene_questions(scene, INSTRUMENTS).get(kind, [])}


def test_hand_built_scene_answers():
    seen = [q for q in scene_questions(TRIO, INSTRUMENTS)["which_seen"]]
    assert [q.answer for q in seen] == ["cello", "piano", "violin"] and all(q.own == ("flute",) for q in seen)
    heard = [q for q in scene_questions(TRIO, INSTRUMENTS)["which_heard"]]
    assert [q.answer for q in heard] == ["flute", "piano", "violin"] and all(q.own == ("cello",) for q in heard)
    assert not {"violin", "piano", "cello", "flute"} & set(heard[0].fill)  # fill: instruments the scene lacks
    assert answers("which_column") == {
        "Which instrument is played on the left of the stage?": "violin",
        "Which instrument is played in the middle of the stage?": "piano",
        "Which instrument is played on the right of the stage?": "cello"}
    assert answers("which_loudest") == {"Which instrument sounds the loudest?": "violin"}
    assert answers("come_from") == {"Where does the sound of the violin come from?": "the left",
                                    "Where does the sound of the piano come from?": "the middle",
                                    "Where does the sound of the flute come from?": "off screen"}
    happening = answers("happening")
    assert happening["What is the performer on the right doing?"] == "holding the cello without playing"
    assert happening["What is the performer on the left doing?"] == "playing the violin"
    where = answers("where")
    assert where["Where is the piano on the stage?"] == "in the middle"
    assert where["Where is the tuba on the stage?"] == "not in the video"
    assert "Where is the flute on the stage?" not in where  # heard off screen: not well defined
    assert answers("before_next") == {"Which instrument starts playing right after the violin?": "piano",
                                      "Which instrument starts playing right after the piano?": "flute"}
    assert answers("when") == {"When does the violin start playing?": "at the beginning",
                               "When does the piano start playing?": "at the beginning",
                               "When does the flute start playing?": "near the end",
                               "When does the cello start playing?": "it never plays"}


def test_ambiguous_questions_are_not_asked():
    close = Scene("close", 10, [_p("violin", 0.15, [(0, 10)], db=-10), _p("piano", 0.85, [(0.5, 10)], db=-12)])
    assert answers("which_loudest", close) == {}  # 2 dB apart: not decidable from the sound
    assert answers("before_next", close) == {}  # onsets 0.5 s apart
    boundary = Scene("boundary", 9, [_p("violin", 0.5, [(3.2, 9)])])
    assert answers("when", boundary) == {}  # 0.2 s after the end of the first third


def test_options_are_four_distinct_with_scene_instruments_first():
    rng = np.random.default_rng(0)
    which = scene_questions(TRIO, INSTRUMENTS, rng)["which_column"][0]
    options, index = draw_options(which, rng)
    assert len(set(options)) == 4 and options[index] == which.answer
    assert set(options) == {"violin", "piano", "cello", "flute"}  # the scene's own instruments
    after_violin = scene_questions(TRIO, INSTRUMENTS, rng)["before_next"][0]
    options, index = draw_options(after_violin, rng)
    assert "violin" not in options and {"piano", "cello", "flute"} <= set(options)
    positions = Counter(draw_options(which, rng)[1] for _ in range(400))
    assert set(positions) == {0, 1, 2, 3} and min(positions.values()) > 70


def test_generated_questions_cover_the_kinds_with_balanced_positions():
    profile = get_profile("tiny", ["videos=120"])
    from mcdlib.scenes.sampling import sample_scenes

    scenes = sample_scenes(profile, 0)
    split = make_avqa_questions(scenes, profile, seed=0)
    assert make_avqa_questions(scenes, profile, seed=0) == split  # deterministic
    questions = [q for qs in split.values() for q in qs]
    assert len({q.question_id for q in questions}) == len(questions)
    kinds = Counter((q.qtype, q.relation) for q in questions)
    assert set(kinds) == {(k.qtype, k.relation) for k in KINDS}
    assert {q.qtype for q in questions} == set(QUESTION_TYPES) - {"Why", "Used For"}
    positions = Counter(q.answer_index for q in questions)
    assert all(abs(n - len(questions) / 4) < 0.25 * len(questions) / 4 for n in positions.values())  # uniform
    videos = {s: {q.video_id for q in qs} for s, qs in split.items()}
    assert not (videos["train"] & videos["val"]) and not (videos["train"] & videos["test"])
    with pytest.raises(ConfigError, match="at least 5 instruments"):
        make_avqa_questions(scenes, get_profile("tiny", ["instruments=violin,cello"]), seed=0)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "avqa"
    status = main(["data", "synth", "--profile", "tiny", "--set", "videos=16", "--format", "avqa",
                   "--out", str(out), "--no-progress"])
    assert status == 0
    return out


def test_synth_writes_avqa_files_that_the_reader_reads_and_the_scenes_answer(built):
    assert not list((built / "json").glob("avqa-*.json"))
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["annotation_format"] == "avqa" and manifest["complete"]
    assert set(manifest["hashes"]["annotations"]) == {"json/train_qa.json", "json/val_qa.json", "json/test_qa.json"}
    pool = INSTRUMENTS
    for split in ("train", "val", "test"):
        records = json.loads((built / "json" / f"{split}_qa.json").read_text())
        assert records and list(records[0]) == ["id", "video_name", "video_id", "question_text", "multi_choice",
                                                "answer", "question_relation", "question_type"]
        for q in read_avqa_annotations(built / "json" / f"{split}_qa.json"):
            scene = Scene.load(built / "scenes" / f"{q.video_id}.json")
            right = {c.answer for found in scene_questions(scene, pool).values() for c in found if c.text == q.text}
            # the oracle: the stored answer is right, and it is the only right option
            assert q.answer in right and len(right & set(q.options)) == 1, (q.video_id, q.text)
            assert len(set(q.options)) == 4
        assert manifest["counts"]["splits"][split]["questions"] == len(records)


def test_the_avqa_build_is_cached_and_keyed_apart_from_the_music_avqa_one(built, capsys):
    profile = get_profile("tiny", ["videos=16"])
    again = build_dataset(profile, built, annotation_format="avqa", progress=False)
    assert again["cached"]
    music_key = manifest_key(profile, 0, Parts.for_profile(profile).describe())
    assert again["key"] != music_key
    with pytest.raises(McdError, match="holds another music-scenes build"):
        build_dataset(profile, built, progress=False)  # the MUSIC-AVQA rendering is another build
    with pytest.raises(ConfigError, match="choose music_avqa or avqa"):
        build_dataset(profile, built, annotation_format="nope", progress=False)


def test_the_comparison_grid_trains_and_scores_mcd_late_and_qonly_on_the_rendering(built, tmp_path):
    """The seconds-long check of ablations/avqa_comparison.yaml (tiny sizes, one seed, one epoch)."""
    from pathlib import Path

    from mcdlib.config import apply_overrides, get_preset
    from mcdlib.train.ablate import read_grid
    from mcdlib.train.study import run_ablation

    grid = Path(__file__).resolve().parents[1] / "ablations" / "avqa_comparison.yaml"
    variants = read_grid(grid)
    assert [v.name for v in variants] == ["mcd", "late", "qonly"]
    base = apply_overrides(get_preset("tiny"), {"data.root": str(built), "data.text_model": "hash",
                                                 "train.epochs": 1, "train.progress": False, "train.device": "cpu"})
    report = run_ablation(variants, base, tmp_path / "runs", seeds=[0], progress=False, n_boot=200)
    table = report.table
    assert [row["variant"] for row in table.rows] == ["mcd", "late", "qonly"]
    assert table.columns[:8] == QUESTION_TYPES and "relation: Audio" in table.columns and "Overall" in table.columns
    assert all(row["Overall"][0] is not None for row in table.rows)
    # per-question outcomes of AVQA runs: the paired bootstrap over questions works on the AVQA table
    for score in report.scores:
        assert score.outcomes is not None and score.outcomes.scheme.name == "AVQA"
        assert 100 * score.outcomes.correct.mean() == pytest.approx(score.accuracies["Overall"], abs=0.01)
    late = report.comparison("mcd", "late")
    assert late is not None and late.bootstrap
    assert "MCD beats late overall" in (tmp_path / "runs" / "ablation.md").read_text()
