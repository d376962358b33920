"""The reader, vocabularies and evaluation on the official MUSIC-AVQA annotation files
(../shared/data/music_avqa; skipped when absent)."""

from __future__ import annotations

import json
import warnings
from collections import Counter, defaultdict

import pytest

from mcdlib.cli import main
from mcdlib.data.music_avqa import (
    DuplicateQuestionWarning, find_duplicates, load_split, parse_records, read_records,
)
from mcdlib.data.templates import TEMPLATES, find_template
from mcdlib.data.vocab import AnswerVocab, QuestionVocab
from mcdlib.evaluation import evaluate

pytestmark = pytest.mark.shared_data

#: (annotation folder, split) → records in the file
SHIPPED = {
    ("json_update", "test"): 9129, ("json_update", "val"): 4568,
    ("json", "test"): 9185, ("json", "val"): 4595,
    ("json", "test_real"): 7402, ("json", "test_fake"): 1783,
    ("json", "val_real"): 3698, ("json", "val_fake"): 897, ("json", "train_fake"): 6233,
}


@pytest.fixture(scope="module")
def all_questions(shared_annotations):
    """Every record of every shipped file, duplicates kept, keyed by (folder, split)."""
    return {key: parse_records(read_records(shared_annotations / key[0] / f"avqa-{key[1]}.json"))
            for key in SHIPPED}


def test_record_counts_of_every_shipped_file(all_questions):
    assert {key: len(qs) for key, qs in all_questions.items()} == SHIPPED
    # the real and fake subsets partition the original test and val files
    for split in ("test", "val"):
        ids = Counter(q.question_id for q in all_questions[("json", split)])
        parts = Counter(q.question_id for part in ("real", "fake") for q in all_questions[("json", f"{split}_{part}")])
        assert ids == parts


def test_per_type_counts_of_the_corrected_test_split(shared_annotations):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DuplicateQuestionWarning)  # the corrected file has none
        questions = load_split(shared_annotations, "test", annotations="json_update")
    assert Counter(q.cell for q in questions) == {
        ("Audio", "Counting"): 1017, ("Audio", "Comparative"): 594,
        ("Visual", "Counting"): 1197, ("Visual", "Location"): 1225,
        ("Audio-Visual", "Existential"): 988, ("Audio-Visual", "Counting"): 1265,
        ("Audio-Visual", "Location"): 920, ("Audio-Visual", "Comparative"): 1101,
        ("Audio-Visual", "Temporal"): 822,
    }


def test_duplicated_ids_of_the_original_files(shared_annotations, all_questions):
    for split, n in (("test", 55), ("val", 27)):
        found = find_duplicates(all_questions[("json", split)])
        assert len(found) == n
        assert all(len(qs) == 2 and qs[0].answer != qs[1].answer for qs in found.values())
        with pytest.warns(DuplicateQuestionWarning, match=f"{n} question ids occur more than once"):
            unique = load_split(shared_annotations, split, annotations="json", duplicates="first")
        assert len(unique) == SHIPPED[("json", split)] - n
    assert not find_duplicates(all_questions[("json_update", "test")])


def test_exactly_the_33_templates_each_in_its_cell(all_questions):
    spellings = {q.template: q.cell for qs in all_questions.values() for q in qs}
    assert len(spellings) == 33  # quirks (U+FF1F, trailing "? ") are single spellings
    assert {find_template(t) for t in spellings} == set(TEMPLATES)
    assert all(find_template(t).cell == cell for t, cell in spellings.items())


def test_tokens_at_most_14_and_the_93_word_vocabulary(all_questions):
    questions = [q for qs in all_questions.values() for q in qs]
    assert max(len(q.tokens) for q in questions) == 14
    assert all(q.text.endswith("?") and "<" not in q.text for q in questions)
    # the reference builds it over train (not shipped here); built over the union of the shipped
    # files, and over the corrected val + test alone, it has the same 93 words
    union = QuestionVocab.build(questions)
    corrected = QuestionVocab.build(all_questions[("json_update", "val")] + all_questions[("json_update", "test")])
    assert len(union) == len(corrected) == 93
    assert set(union.words) == set(corrected.words) and union.words[:4] == ["<pad>", "How", "many", "musical"]


def test_every_answer_in_the_42_answer_vocabulary(all_questions):
    vocab = AnswerVocab()
    answers = {q.answer for qs in all_questions.values() for q in qs}
    assert answers <= set(vocab.answers)
    assert set(vocab.answers) - answers == {"ten"}  # 'ten' occurs only in train
    assert len(vocab.encode(all_questions[("json_update", "test")])) == 9129


def test_per_cell_majority_baseline_matches_an_independent_count(shared_annotations):
    """Majority answer per (scenario, type) on corrected val, predicted on corrected test; the
    expected accuracies are counted here with plain json/collections, not mcdlib.evaluation."""
    def raw(split):
        return json.loads((shared_annotations / "json_update" / f"avqa-{split}.json").read_text())

    by_cell = defaultdict(Counter)
    for r in raw("val"):
        by_cell[tuple(json.loads(r["type"]))][r["anser"]] += 1
    majority = {cell: counts.most_common(1)[0][0] for cell, counts in by_cell.items()}
    test = raw("test")
    predictions = {str(r["question_id"]): majority[tuple(json.loads(r["type"]))] for r in test}

    hits, totals = Counter(), Counter()
    for r in test:
        scenario, qtype = json.loads(r["type"])
        ok = predictions[str(r["question_id"])] == r["anser"]
        for key in ((scenario, qtype), (scenario, "All"), ("Overall",)):
            hits[key] += ok
            totals[key] += 1
    expected = {s: {} for s in ("Audio", "Visual", "Audio-Visual")}
    for key in totals:
        if len(key) == 2:
            expected[key[0]][key[1]] = round(100 * hits[key] / totals[key], 2)
    expected["Overall"] = round(100 * hits[("Overall",)] / totals[("Overall",)], 2)
    expected["n"] = len(test)

    result = evaluate(predictions, load_split(shared_annotations, "test", annotations="json_update"))
    assert result.to_json() == expected
    assert abs(result.overall - 35.8) < 0.5  # the published per-type majority prior (docs/DATASETS.md)


def test_data_check_of_the_shared_folder(shared_annotations, capsys):
    assert main(["data", "check", str(shared_annotations), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "55 question ids occur more than once" in out and "OK: no problems found" in out
