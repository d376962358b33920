"""AVQA evaluation: multiple-choice accuracy per question type, per relation and overall, through
the same counting code as MUSIC-AVQA (mcdlib.evaluation with a ReportScheme)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mcdlib.data.avqa import QUESTION_TYPES, avqa_scheme, make_avqa_question
from mcdlib.data.report_scheme import MUSIC_AVQA_SCHEME
from mcdlib.evaluation import (UnknownPredictionWarning, compare_table, evaluate, evaluate_indices,
                               load_predictions, save_predictions)
from mcdlib.errors import PredictionError


def questions():
    """Six questions: Which/Both x2, Which/View, Where/View x2, When/Both."""
    spec = [("Which", "Both", 0), ("Which", "Both", 1), ("Which", "View", 2), ("Where", "View", 3),
            ("Where", "View", 0), ("When", "Both", 1)]
    return [make_avqa_question(i, f"v{i}", i, f"question {i}?", ["dog", "cat", "car", "bell"], answer, qtype, relation)
            for i, (qtype, relation, answer) in enumerate(spec)]


def test_accuracy_per_type_relation_and_overall():
    qs = questions()
    # right: 0 (index), 1 (digit string), 2 (option text); wrong: 3, 4; 5 (index) right
    predictions = {"0": 0, "1": "1", "2": "car", "3": 0, "4": "cat", "5": 1}
    result = evaluate(predictions, qs, source="fixture")
    assert result.scheme == avqa_scheme(["Both", "View"]) and result.n == 6
    rows = {label: (acc, c, n) for label, acc, c, n in result.rows()}
    assert rows["Which"] == (100.0, 3, 3) and rows["Where"] == (0.0, 0, 2) and rows["When"] == (100.0, 1, 1)
    assert rows["Why"] == (None, 0, 0)
    assert rows["relation: Both"] == (100.0, 3, 3) and rows["relation: View"] == (33.33, 1, 3)
    assert result.overall == rows["Overall"][0] == 66.67
    assert result.row_accuracy("Where") == 0.0
    with pytest.raises(ValueError, match="row_accuracy"):
        result.accuracy("Audio", "Counting")
    payload = result.to_json()
    assert list(payload) == ["types", "relations", "Overall", "n"]
    assert list(payload["types"]) == list(QUESTION_TYPES) and payload["relations"] == {"Both": 100.0, "View": 33.33}
    table = result.table()
    assert table.startswith("AVQA accuracy: fixture (6 questions)") and "relation: View" in table


def test_predictions_naming_no_option_are_wrong_with_a_warning_and_bad_indices_are_errors():
    qs = questions()
    with pytest.warns(UnknownPredictionWarning, match="name no option"):
        result = evaluate({str(q.question_id): "zebra" for q in qs}, qs)
    assert result.overall == 0.0
    with pytest.raises(PredictionError, match="has options 0-3"):
        evaluate({str(q.question_id): 4 for q in qs}, qs)
    with pytest.raises(PredictionError, match="have no prediction"):
        evaluate({"0": 0}, qs)
    assert evaluate({"0": 0}, qs, missing="wrong").missing == 5
    with pytest.raises(PredictionError, match="not in"):
        evaluate({str(q.question_id): 0 for q in qs} | {"99": 0}, qs)
    with pytest.raises(PredictionError, match="expected an answer string"):
        evaluate({str(q.question_id): [0] for q in qs}, qs)


def test_predictions_files_hold_option_indices(tmp_path):
    qs = questions()
    path = save_predictions({q.question_id: q.answer_index for q in qs}, tmp_path / "p.json")
    assert json.loads(path.read_text())["3"] == 3
    assert evaluate(load_predictions(path), qs).overall == 100.0
    (tmp_path / "bad.json").write_text('{"1": true}')
    with pytest.raises(PredictionError, match="bad.json"):
        load_predictions(tmp_path / "bad.json")


def test_index_evaluation_with_a_scheme_matches_and_tables_compare():
    qs = questions()
    scheme = avqa_scheme(["Both", "View"])
    cells = [scheme.cell_index(q.cell) for q in qs]
    answers = np.array([q.answer_index for q in qs])
    predicted = answers.copy()
    predicted[[3, 4]] = (predicted[[3, 4]] + 1) % 4
    by_index = evaluate_indices(answers, predicted, cells, scheme=scheme)
    by_text = evaluate({str(q.question_id): int(p) for q, p in zip(qs, predicted)}, qs)
    assert by_index.rows() == by_text.rows()
    table = compare_table({"mcd": by_index, "qonly": by_text})
    assert table.splitlines()[0] == "AVQA accuracy (%)" and len(table.splitlines()) == 2 + len(scheme.rows) + 1
    music = evaluate_indices([0], [0], [0])
    assert music.scheme == MUSIC_AVQA_SCHEME
    with pytest.raises(ValueError, match="different question cells"):
        compare_table({"a": by_index, "b": music})
