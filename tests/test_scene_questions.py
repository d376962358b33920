"""The 33 templates answered from scene graphs: hand-built scenes with hand-computed answers,
spelling against the official files, and the candidates of sampled scenes."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

from mcdlib.data.music_avqa import MAX_QUESTION_TOKENS, reference_tokens
from mcdlib.data.templates import PLACEHOLDER_FILLERS, TEMPLATES, canonical_template
from mcdlib.data.vocab import REFERENCE_ANSWERS
from mcdlib.errors import AnnotationError
from mcdlib.scenes import questions
from mcdlib.scenes.profiles import get_profile
from mcdlib.scenes.questions import (RULES, answer, answer_or_none, candidates, column_of,
                                     count_word, file_spelling, scene_candidates)
from mcdlib.scenes.sampling import sample_scenes
from mcdlib.scenes.scene import Player, Scene


def _p(instrument, x, intervals, db=-13.0, rhythm=2.0, visible=True):
    return Player(instrument, x, visible=visible, intervals=[tuple(map(float, i)) for i in intervals],
                  loudness_db=db, rhythm=rhythm)


#: hand-built scenes (T = 10 s); comments give the facts the expected answers rest on
SCENES = {
    # violin left from 0, piano middle from 3, cello right 5-8, flute off screen from 6;
    # loudness -7 / -19 / -13 / -25 dB; rhythm 4 / 1 / 2 / 8; outdoor, voiceover
    "trio": Scene("hand_trio", 10, [
        _p("violin", 0.15, [(0, 10)], db=-7, rhythm=4),
        _p("piano", 0.50, [(3, 10)], db=-19, rhythm=1),
        _p("cello", 0.85, [(5, 8)], db=-13, rhythm=2),
        _p("flute", 0.5, [(6, 10)], db=-25, rhythm=8, visible=False),
    ], backdrop="outdoor", voiceover=[(1.0, 3.0)]),
    # violin left from 2 (-13 dB), silent guzheng middle, violin right 0-6 (-19 dB); indoor
    "violins": Scene("hand_violins", 10, [
        _p("violin", 0.17, [(2, 10)], db=-13, rhythm=2.0),
        _p("guzheng", 0.50, [], db=-7, rhythm=1.0),
        _p("violin", 0.83, [(0, 6)], db=-19, rhythm=2.1),
    ]),
    # one accordion in the middle, always playing
    "solo": Scene("hand_solo", 10, [_p("accordion", 0.5, [(0, 10)])]),
    # two violins start together (left 0-10 at -7 dB, middle 0-5 at -13 dB), drum right from 6
    "sync": Scene("hand_sync", 10, [
        _p("violin", 0.17, [(0, 10)], db=-7),
        _p("violin", 0.50, [(0, 5)], db=-13),
        _p("drum", 0.83, [(6, 10)], db=-19),
    ]),
    # four players at quarters (columns left, middle, middle, right): trumpet from 0 (-7 dB),
    # tuba from 2 (-13 dB), silent banjo, erhu from 4 (-19 dB)
    "quartet": Scene("hand_quartet", 10, [
        _p("trumpet", 0.12, [(0, 10)], db=-7),
        _p("tuba", 0.38, [(2, 10)], db=-13),
        _p("banjo", 0.62, []),
        _p("erhu", 0.88, [(4, 10)], db=-19),
    ]),
}

T = [t.text for t in TEMPLATES]
#: (scene, template index in the official order, templ_values, hand-computed answer or None)
CASES = [
    # Audio Counting
    ("trio", 0, [], "four"), ("violins", 0, [], "two"), ("solo", 0, [], "one"),
    ("trio", 1, ["flute"], "yes"), ("trio", 1, ["drum"], "no"), ("violins", 1, ["guzheng"], "no"),
    ("trio", 2, ["violin", "flute"], "yes"), ("trio", 2, ["violin", "drum"], "no"),
    ("violins", 2, ["violin", "guzheng"], "no"), ("trio", 2, ["violin", "violin"], None),
    # Audio Comparative
    ("trio", 3, ["violin", "piano"], "yes"), ("trio", 3, ["flute", "cello"], "no"),
    ("violins", 3, ["violin", "guzheng"], None), ("trio", 3, ["violin", "drum"], None),
    ("trio", 4, ["violin", "flute"], "no"), ("trio", 4, ["cello", "piano"], "yes"),
    ("trio", 5, ["violin", "cello"], "yes"), ("trio", 5, ["flute", "piano"], "no"),
    ("trio", 5, ["cello", "flute"], None),  # 3 s against 4 s: too close
    # Visual Counting
    ("trio", 6, [], "three"), ("violins", 6, [], "two"),
    ("trio", 7, ["violin"], "one"), ("trio", 7, ["flute"], "zero"), ("violins", 7, ["violin"], "two"),
    ("trio", 8, ["violin", "cello"], "yes"), ("trio", 8, ["violin", "flute"], "no"),
    ("trio", 9, ["flute"], "no"), ("trio", 9, ["piano"], "yes"),
    # Visual Location
    ("trio", 10, ["right", "violin"], "piano"), ("trio", 10, ["left", "cello"], "piano"),
    ("trio", 10, ["left", "violin"], None), ("trio", 10, ["middle", "violin"], None),
    ("violins", 10, ["left", "guzheng"], "violin"), ("violins", 10, ["right", "violin"], None),
    ("quartet", 10, ["right", "trumpet"], "tuba"), ("quartet", 10, ["left", "erhu"], "banjo"),
    ("solo", 11, [], "accordion"), ("trio", 11, [], None),
    ("trio", 12, [], "outdoor"), ("violins", 12, [], "indoor"),
    ("trio", 13, ["leftest"], "violin"), ("trio", 13, ["rightest"], "cello"),
    ("quartet", 13, ["rightest"], "erhu"), ("solo", 13, ["leftest"], None),
    # Audio-Visual Existential
    ("trio", 14, [], "no"), ("violins", 14, [], "yes"),
    ("trio", 15, [], "yes"), ("violins", 15, [], "no"),
    ("trio", 16, ["violin"], "yes"), ("trio", 16, ["piano"], "no"), ("violins", 16, ["guzheng"], "no"),
    ("trio", 16, ["flute"], None), ("violins", 16, ["violin"], None),
    # Audio-Visual Counting
    ("trio", 17, ["violin"], "one"), ("trio", 17, ["flute"], "zero"),
    ("violins", 17, ["violin"], "two"), ("violins", 17, ["guzheng"], "zero"),
    ("trio", 18, [], "zero"), ("violins", 18, [], "one"), ("quartet", 18, [], "one"),
    ("trio", 19, [], "three"), ("violins", 19, [], "two"),
    ("trio", 20, [], "three"), ("violins", 20, [], "one"),
    # Audio-Visual Location
    ("trio", 21, ["first", "left"], "yes"), ("trio", 21, ["first", "middle"], "no"),
    ("trio", 21, ["last", "right"], "no"),  # the last sound is the off-screen flute
    ("violins", 21, ["first", "right"], "yes"), ("violins", 21, ["last", "left"], "yes"),
    ("quartet", 21, ["first", "middle"], None), ("sync", 21, ["first", "left"], None),
    ("trio", 22, ["loudest"], "left"), ("trio", 22, ["lowest"], None),
    ("violins", 22, ["lowest"], "right"), ("solo", 22, ["loudest"], None),
    ("sync", 23, ["drum"], "violin"), ("sync", 23, ["violin"], None), ("trio", 23, ["violin"], None),
    ("trio", 24, ["right", "first"], "piano"), ("trio", 24, ["left", "first"], None),
    ("trio", 24, ["right", "last"], None), ("violins", 24, ["left", "first"], "guzheng"),
    # Audio-Visual Comparative
    ("trio", 25, ["violin", "left", "cello", "right"], "yes"),
    ("trio", 25, ["piano", "middle", "cello", "right"], "no"),
    ("trio", 25, ["piano", "left", "cello", "right"], None),
    ("trio", 26, ["middle", "left"], "no"), ("violins", 26, ["left", "right"], "yes"),
    ("violins", 26, ["middle", "left"], None), ("quartet", 26, ["left", "right"], "yes"),
    ("quartet", 26, ["middle", "right"], None),
    ("trio", 27, ["left", "right"], "yes"), ("violins", 27, ["left", "right"], None),
    ("trio", 28, ["piano", "middle", "violin", "left"], "no"),
    ("trio", 28, ["cello", "right", "piano", "middle"], "yes"),
    # Audio-Visual Temporal
    ("trio", 29, ["first"], "violin"), ("trio", 29, ["second"], "piano"),
    ("trio", 29, ["third"], "cello"), ("trio", 29, ["fourth"], "flute"), ("trio", 29, ["fifth"], None),
    ("violins", 29, ["second"], "violin"), ("sync", 29, ["first"], None), ("sync", 29, ["third"], "drum"),
    ("trio", 30, ["first"], "left"), ("trio", 30, ["last"], None),
    ("violins", 30, ["first"], "right"), ("quartet", 30, ["last"], "right"), ("solo", 30, ["first"], "middle"),
    ("violins", 31, ["violin", "first"], "right"), ("violins", 31, ["violin", "last"], "left"),
    ("sync", 31, ["violin", "first"], "simultaneously"), ("trio", 31, ["violin", "first"], None),
    ("trio", 32, ["before", "piano"], "violin"), ("trio", 32, ["after", "cello"], "flute"),
    ("trio", 32, ["after", "piano"], None), ("trio", 32, ["before", "violin"], None),
    ("sync", 32, ["before", "drum"], "violin"), ("violins", 32, ["after", "violin"], None),
]


@pytest.mark.parametrize("scene, index, values, expected", CASES,
                         ids=[f"{c[0]}-{c[1]}-{'-'.join(c[2])}" for c in CASES])
def test_hand_built_answers(scene, index, values, expected):
    got = answer_or_none(SCENES[scene], T[index], values)
    assert got == expected
    if expected is not None:  # the same question is also offered as a candidate
        offered = {c.templ_values: c.answer for c in candidates(SCENES[scene], T[index])}
        assert offered.get(tuple(values), expected) == expected


def test_every_template_has_a_hand_computed_answer():
    answered = {T[i] for _, i, _, expected in CASES if expected is not None}
    assert answered == set(T)


def test_oracle_raises_naming_the_video():
    with pytest.raises(AnnotationError, match="hand_trio.*not well defined"):
        answer(SCENES["trio"], T[29], ["fifth"])
    with pytest.raises(AnnotationError, match="takes 2 templ_values"):
        answer(SCENES["trio"], T[2], ["violin"])
    with pytest.raises(AnnotationError, match="cannot fill <LR>"):
        answer(SCENES["trio"], T[26], ["up", "left"])
    with pytest.raises(AnnotationError, match="not one of the 33"):
        answer(SCENES["trio"], "Is it loud?", [])


def test_oracle_reads_file_spelling_and_json_values():
    assert answer(SCENES["violins"], "How many sounding <Object> in the video\uff1f", '["violin"]') == "two"
    assert answer(SCENES["violins"], "Are there <Object> and <Object> sound? ",
                  json.dumps(["violin", "guzheng"])) == "no"


def test_file_spellings_match_official_files(shared_annotations):
    records = json.loads((shared_annotations / "json_update" / "avqa-test.json").read_text())
    official = {r["question_content"] for r in records}
    assert official == {file_spelling(t) for t in TEMPLATES}
    for t in TEMPLATES:
        assert canonical_template(file_spelling(t)) == t.text


def test_helpers():
    assert [count_word(n) for n in (0, 4, 10, 11)] == ["zero", "four", "ten", "more than ten"]
    assert [column_of(x) for x in (0.0, 0.33, 0.34, 0.66, 0.67, 1.0)] == \
        ["left", "left", "middle", "middle", "right", "right"]
    assert list(RULES) == T


def test_module_examples():
    assert doctest.testmod(questions).failed == 0


def test_candidates_of_sampled_scenes_are_valid_questions():
    """Over 150 sampled scenes: answers in the 42-answer vocabulary, fillers valid, questions at
    most 14 reference tokens, every template asked somewhere."""
    scenes = sample_scenes(get_profile("tiny", ["videos=150"]), seed=5)
    rng = np.random.default_rng(0)
    seen = set()
    for scene in scenes:
        for text, found in scene_candidates(scene, rng).items():
            rule = RULES[text]
            seen.add(text)
            for cand in found:
                assert cand.answer in REFERENCE_ANSWERS, (scene.video_id, text, cand)
                for placeholder, value in zip(rule.template.placeholders, cand.templ_values, strict=True):
                    assert value in PLACEHOLDER_FILLERS[placeholder]
                assert len(reference_tokens(file_spelling(text), cand.templ_values)) <= MAX_QUESTION_TOKENS
    assert seen == set(T)
