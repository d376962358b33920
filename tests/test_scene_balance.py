"""Balanced questions and splits: official record format, oracle agreement, type mix, weak
language priors (tiny and classroom), determinism."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mcdlib.data.music_avqa import read_annotations
from mcdlib.data.templates import CELLS, TEMPLATES, canonical_template
from mcdlib.data.vocab import REFERENCE_ANSWERS
from mcdlib.errors import ConfigError
from mcdlib.scenes.balance import (OFFICIAL_TEST_TEMPLATE_COUNTS, RECORD_KEYS, SPLITS, cell_mix,
                                   cell_shares, majority_baseline, make_annotations)
from mcdlib.scenes.profiles import get_profile
from mcdlib.scenes.questions import answer
from mcdlib.scenes.sampling import sample_scenes

#: the bounds on the language prior the default dataset promises (train majority, on test)
MAX_TEMPLATE_PRIOR = 0.50
MAX_CELL_PRIOR = 0.40


def _build(name, seed=0, overrides=None):
    profile = get_profile(name, overrides)
    scenes = sample_scenes(profile, seed)
    return profile, scenes, make_annotations(scenes, profile, seed)


@pytest.fixture(scope="module")
def tiny():
    return _build("tiny")


@pytest.fixture(scope="module")
def classroom():
    return _build("classroom")


def _all(annotations):
    return [r for split in SPLITS for r in annotations[split]]


@pytest.mark.parametrize("fixture", ["tiny", "classroom"])
def test_language_prior_is_weak(fixture, request):
    _, _, ann = request.getfixturevalue(fixture)
    assert majority_baseline(ann["train"], ann["test"], by="template") <= MAX_TEMPLATE_PRIOR
    assert majority_baseline(ann["train"], ann["test"], by="cell") <= MAX_CELL_PRIOR


def test_records_have_the_official_format(tiny, tmp_path):
    profile, scenes, ann = tiny
    records = _all(ann)
    assert set(ann) == set(SPLITS)
    assert abs(len(records) / profile.videos - profile.questions_per_video) < 0.5
    assert len({r["question_id"] for r in records}) == len(records)
    for r in records:
        assert tuple(r) == RECORD_KEYS
        assert isinstance(r["question_id"], int) and r["question_deleted"] == 0
        assert isinstance(r["type"], str) and tuple(json.loads(r["type"])) in CELLS
        assert isinstance(r["templ_values"], str) and isinstance(json.loads(r["templ_values"]), list)
        assert r["anser"] in REFERENCE_ANSWERS
    for split in SPLITS:  # the package's own reader accepts the files
        path = tmp_path / f"avqa-{split}.json"
        path.write_text(json.dumps(ann[split]))
        assert len(read_annotations(path)) == len(ann[split])


def test_oracle_agrees_with_every_record(classroom):
    _, scenes, ann = classroom
    by_id = {s.video_id: s for s in scenes}
    for r in _all(ann):
        assert answer(by_id[r["video_id"]], r["question_content"], r["templ_values"]) == r["anser"]


def test_split_by_video_keeps_videos_whole(classroom):
    profile, scenes, ann = classroom
    owner = {}
    for split in SPLITS:
        for r in ann[split]:
            assert owner.setdefault(r["video_id"], split) == split
    videos = Counter(owner.values())
    for split, fraction in zip(SPLITS, profile.split):
        assert abs(videos[split] / len(scenes) - fraction) < 0.01


def test_mix_follows_the_official_test_split(classroom):
    _, _, ann = classroom
    records = _all(ann)
    mix, target = cell_mix(records), cell_shares()
    for cell in CELLS:
        assert abs(mix[cell] - target[cell]) < 0.02, cell
    assert {canonical_template(r["question_content"]) for r in records} == {t.text for t in TEMPLATES}
    # within each template, no answer dominates
    per_template = {}
    for r in records:
        per_template.setdefault(r["question_content"], Counter())[r["anser"]] += 1
    for text, answers in per_template.items():
        total = sum(answers.values())
        share = answers.most_common(1)[0][1] / total
        assert share <= 0.5 + max(0.02, len(SPLITS) / total), (text, answers)  # one question of slack per split


def test_official_counts_match_the_official_file(shared_annotations):
    records = json.loads((shared_annotations / "json_update" / "avqa-test.json").read_text())
    counts = Counter(canonical_template(r["question_content"]) for r in records)
    assert counts == Counter(OFFICIAL_TEST_TEMPLATE_COUNTS)
    official = Counter(r["type"] for r in records)
    assert [official[json.dumps(list(c))] for c in CELLS] == [1017, 594, 1197, 1225, 988, 1265, 920, 1101, 822]


def test_deterministic_in_seed(tiny):
    profile, scenes, ann = tiny
    assert make_annotations(scenes, profile, 0) == ann
    assert make_annotations(scenes, profile, 1) != ann


def test_split_by_question_is_balanced_per_split():
    profile, scenes, ann = _build("tiny", overrides=["videos=200", "split_by=question"])
    sizes = {split: len(ann[split]) for split in SPLITS}
    total = sum(sizes.values())
    for split, fraction in zip(SPLITS, profile.split):
        assert abs(sizes[split] / total - fraction) < 0.02
    assert len({r["video_id"] for r in ann["train"]} & {r["video_id"] for r in ann["test"]}) > 0
    assert majority_baseline(ann["train"], ann["test"], by="template") <= MAX_TEMPLATE_PRIOR
    assert majority_baseline(ann["train"], ann["test"], by="cell") <= MAX_CELL_PRIOR
    by_id = {s.video_id: s for s in scenes}
    for r in _all(ann):
        assert answer(by_id[r["video_id"]], r["question_content"], r["templ_values"]) == r["anser"]


def test_majority_baseline_counts_the_prior():
    train = [{"question_content": "Is there a voiceover?", "type": '["Audio-Visual", "Existential"]',
              "anser": a} for a in ("yes", "yes", "no")]
    test = [dict(train[0], anser=a) for a in ("yes", "no", "no", "no")]
    assert majority_baseline(train, test) == pytest.approx(0.25)
    assert majority_baseline(train, test, by="cell") == pytest.approx(0.25)
    with pytest.raises(ConfigError, match="by='answer'"):
        majority_baseline(train, test, by="answer")


def test_bad_split_settings_are_reported(tiny):
    _, scenes, _ = tiny
    with pytest.raises(ConfigError, match="split=.*sum"):
        make_annotations(scenes, get_profile("tiny", ["split=[0.5,0.2,0.2]"]), 0)


# --------------------------------------------------------------------------- version 2: balance against the senses


def test_version_2_single_senses_stay_near_the_prior(classroom):
    """The targets of music scenes v2 on the classroom test split (ceilings: mcdlib.scenes.ceilings)."""
    from mcdlib.scenes.ceilings import compute_ceilings

    _, scenes, ann = classroom
    test = compute_ceilings(scenes, ann)["test"]
    prior, vision, audio, perfect = (test[v] for v in ("prior", "vision_only", "audio_only", "perfect"))
    for view, label in ((vision, "Audio (all)"), (vision, "Audio-Visual (all)"), (audio, "Visual (all)"),
                        (audio, "Audio-Visual (all)")):
        assert view[label] <= prior[label] + 10, (label, view[label], prior[label])
    assert perfect["Audio-Visual (all)"] >= 97 and perfect["Overall"] >= 97
    assert majority_baseline(ann["train"], ann["test"], by="template") <= 0.40


def test_balancing_against_the_senses_is_what_lowers_the_single_sense_ceilings():
    from mcdlib.scenes.ceilings import compute_ceilings

    def excess(overrides):
        profile, scenes, ann = _build("tiny", overrides=["videos=600", *overrides])
        test = compute_ceilings(scenes, ann)["test"]
        return (test["vision_only"]["Audio (all)"] - test["prior"]["Audio (all)"]
                + test["audio_only"]["Audio-Visual (all)"] - test["prior"]["Audio-Visual (all)"])

    assert excess(["balance_views=false"]) > excess([]) + 10


def test_view_balanced_chooser_caps_groups_and_agreement():
    import numpy as np

    from mcdlib.scenes.balance import ViewBalancedChooser
    from mcdlib.scenes.questions import Candidate

    template = "Is there a <Object> sound?"  # an Audio template: grouped by the vision-only perception
    chooser = ViewBalancedChooser(np.random.default_rng(0), template_share={template: 1.0})
    chosen = []
    for k in range(40):  # every scene offers only questions that vision alone answers right ("yes" seen, "yes")
        options = {template: [(Candidate(("violin",), "yes"), (("vision_only", "yes"),), True)]}
        chosen += chooser.choose(f"ms{k:06d}", options, 1)
    assert len(chosen) <= 2  # the group (vision perceives "yes") may not be all "yes"
    both = {template: [(Candidate(("violin",), "yes"), (("vision_only", "yes"),), True),
                       (Candidate(("cello",), "no"), (("vision_only", "yes"),), True)]}
    answers = [chooser.choose(f"mt{k:06d}", both, 1)[0].answer for k in range(40)]
    assert abs(answers.count("yes") - answers.count("no")) <= 3  # balanced within the group
