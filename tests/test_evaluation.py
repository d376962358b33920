"""The official evaluation on hand-made questions (mcdlib.evaluation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from mcdlib.data.music_avqa import make_question
from mcdlib.evaluation import (
    REPORT_ROWS, UnknownPredictionWarning, compare_table, evaluate, evaluate_indices, load_predictions,
    save_predictions,
)
from mcdlib.errors import AnnotationError, PredictionError

AUDIO_COUNT = "Is there a <Object> sound?"          # Audio / Counting
VISUAL_LOC = "Where is the performance?"            # Visual / Location
AV_TEMPORAL = "Which <Object> makes the sound <FL>?"  # Audio-Visual / Temporal


@pytest.fixture
def questions():
    return [
        make_question(1, "v1", AUDIO_COUNT, ["piano"], "yes"),
        make_question(2, "v1", AUDIO_COUNT, ["drum"], "no"),
        make_question(3, "v2", AUDIO_COUNT, ["flute"], "yes"),
        make_question(4, "v2", VISUAL_LOC, [], "indoor"),
        make_question(5, "v3", AV_TEMPORAL, ["violin", "first"], "left"),
        make_question(6, "v3", AV_TEMPORAL, ["violin", "last"], "right"),
    ]


def test_official_rows_order():
    assert [r.label for r in REPORT_ROWS] == [
        "Audio Counting", "Audio Comparative", "Audio (all)", "Visual Counting", "Visual Location",
        "Visual (all)", "AV Existential", "AV Counting", "AV Location", "AV Comparative", "AV Temporal",
        "Audio-Visual (all)", "Overall"]


def test_cells_scenarios_and_overall_are_pooled_over_questions(questions):
    preds = {"1": "yes", "2": "yes", "3": "yes", "4": "indoor", "5": "left", "6": "left"}
    result = evaluate(preds, questions, source="toy.json")
    out = result.to_json()
    assert out["Audio"] == {"Counting": 66.67, "Comparative": None, "All": 66.67}
    assert out["Visual"] == {"Counting": None, "Location": 100.0, "All": 100.0}
    assert out["Audio-Visual"]["Temporal"] == 50.0 and out["Audio-Visual"]["All"] == 50.0
    # micro: 4 of 6 questions, not the mean of the cell accuracies (72.2)
    assert out["Overall"] == 66.67 and out["n"] == 6
    assert list(out) == ["Audio", "Visual", "Audio-Visual", "Overall", "n"]
    assert list(out["Audio-Visual"]) == ["Existential", "Counting", "Location", "Comparative", "Temporal", "All"]


def test_table_has_labelled_columns_and_13_lines(questions):
    preds = {q.question_id: q.answer for q in questions}  # int keys are accepted too
    table = evaluate(preds, questions, source="toy.json").table()
    lines = table.splitlines()
    assert "toy.json (6 questions)" in lines[0]
    assert lines[1].split() == ["row", "accuracy", "%", "correct", "/", "n"]
    assert len(lines) == 2 + 13
    assert lines[2].split() == ["Audio", "Counting", "100.00", "3", "/", "3"]
    assert lines[3].split() == ["Audio", "Comparative", "-", "0", "/", "0"]
    assert lines[-1].split() == ["Overall", "100.00", "6", "/", "6"]


def test_missing_predictions_error_or_wrong(questions):
    preds = {"1": "yes", "2": "no"}
    with pytest.raises(PredictionError, match=r"preds\.json: 4 of 6 questions of toy\.json have no prediction "
                                              r"\(3, 4, 5, 6\).*--missing wrong"):
        evaluate(preds, questions, source="toy.json", predictions_name="preds.json")
    result = evaluate(preds, questions, missing="wrong")
    assert result.missing == 4 and result.overall == 33.33
    assert "4 missing counted wrong" in result.table()


def test_unknown_ids_are_an_error(questions):
    preds = {str(q.question_id): q.answer for q in questions} | {"77": "yes", "78": "no"}
    with pytest.raises(PredictionError, match=r"2 question ids are not in toy\.json \(77, 78\)"):
        evaluate(preds, questions, source="toy.json")
    with pytest.raises(PredictionError, match="key 'abc' is not a question_id"):
        evaluate({"abc": "yes"}, questions)
    with pytest.raises(PredictionError, match="question_id 1 is 3"):
        evaluate({"1": 3}, questions, missing="wrong")


def test_answers_outside_vocabulary_are_wrong_with_a_warning(questions):
    preds = {str(q.question_id): q.answer for q in questions}
    preds["1"] = "banana"
    with pytest.warns(UnknownPredictionWarning, match="1 predicted answers are outside the 42-answer vocabulary"):
        result = evaluate(preds, questions)
    assert result.pooled([0]) == (2, 3)


def test_duplicated_questions_are_refused(questions):
    with pytest.raises(AnnotationError, match="occur more than once"):
        evaluate({}, questions + questions[:1], missing="wrong")


def test_evaluate_indices_matches_evaluate_and_accepts_tensors(questions):
    answers = [0, 1, 0, 2, 3, 4]
    predictions = [0, 0, 0, 2, 3, 3]
    cells = [0, 0, 0, 3, 8, 8]
    from_lists = evaluate_indices(answers, predictions, cells)
    from_tensors = evaluate_indices(torch.tensor(answers), torch.tensor(predictions), np.array(cells))
    preds = {"1": "yes", "2": "yes", "3": "yes", "4": "indoor", "5": "left", "6": "left"}
    assert from_lists.to_json() == from_tensors.to_json() == evaluate(preds, questions).to_json()
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_indices([0], [0, 1], [0])
    with pytest.raises(ValueError, match=r"cell indices must lie in 0\.\.8"):
        evaluate_indices([0], [0], [9])


def test_compare_table_side_by_side(questions):
    perfect = evaluate({q.question_id: q.answer for q in questions}, questions)
    half = evaluate_indices([0, 1, 0, 2, 3, 4], [0, 0, 0, 2, 3, 3], [0, 0, 0, 3, 8, 8])
    lines = compare_table({"MCD": perfect, "AVST baseline": half}).splitlines()
    assert lines[1].split() == ["row", "MCD", "AVST", "baseline"]
    assert lines[-2].split() == ["Overall", "100.00", "66.67"]
    assert lines[-1].split() == ["n", "6", "6"]


def test_predictions_files(tmp_path, questions):
    path = save_predictions({q.question_id: q.answer for q in questions}, tmp_path / "p.json")
    assert json.loads(path.read_text())["1"] == "yes"
    assert evaluate(load_predictions(path), questions).overall == 100.0
    result = evaluate(load_predictions(path), questions)
    saved = json.loads(result.save_json(tmp_path / "scores.json").read_text())
    assert saved == result.to_json()
    for content, message in [("", "is empty"), ("[1]", "top-level JSON value is a list"),
                             ("{\"1\": \"yes\"", "not valid JSON at line 1")]:
        (tmp_path / "bad.json").write_text(content)
        with pytest.raises(PredictionError, match=message):
            load_predictions(tmp_path / "bad.json")
    with pytest.raises(PredictionError, match="not found"):
        load_predictions(tmp_path / "none.json")
