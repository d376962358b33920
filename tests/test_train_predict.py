"""Prediction from a run folder and its official scores (fakes; the real path is in the
integration test)."""

from __future__ import annotations

import json

import pytest

from fakes_train import FakeDataset, FakeModel, OtherFakeModel, fake_config, fake_datasets
from mcdlib.data.spec import toy_spec
from mcdlib.errors import FeatureError, RunError
from mcdlib.train import evaluate_run, predict, train
from mcdlib.train.run_folder import RunFolder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("predict") / "run"
    data = fake_datasets()
    train(fake_config(train__epochs=2), out, datasets=data, model_factory=FakeModel)
    return out, data


def test_predict_answers_every_question_and_writes_the_file(trained):
    run_dir, data = trained
    test = data["test"]
    answers = predict(run_dir, "test", dataset=test, model_factory=FakeModel)
    assert set(answers) == {str(q.question_id) for q in test.questions}
    assert set(answers.values()) <= set(test.answer_vocab.answers)
    assert json.loads(RunFolder(run_dir).predictions("test").read_text()) == answers
    # the last checkpoint answers too, and the files are overwritten
    assert len(predict(run_dir, "test", "last", dataset=test, model_factory=FakeModel)) == len(test)


def test_evaluate_run_scores_the_predictions(trained):
    run_dir, data = trained
    result = evaluate_run(run_dir, "test", dataset=data["test"], model_factory=FakeModel)
    answers = json.loads(RunFolder(run_dir).predictions("test").read_text())
    correct = sum(answers[str(q.question_id)] == q.answer for q in data["test"].questions)
    assert result.overall == round(100 * correct / len(data["test"]), 2)
    scores = json.loads(RunFolder(run_dir).scores("test").read_text())
    assert scores["rows"]["Overall"] == result.overall and len(scores["rows"]) == 13


def test_predict_refuses_features_of_another_size(trained):
    run_dir, _ = trained
    other = FakeDataset(8, toy_spec(audio_dim=5, grid=None, num_answers=6))
    with pytest.raises(FeatureError, match=r"audio_dim=8, data has 5"):
        predict(run_dir, "test", dataset=other, model_factory=FakeModel)


def test_predict_refuses_a_checkpoint_of_another_model(trained):
    run_dir, data = trained
    with pytest.raises(RunError, match="another model or config.*extra.weight"):
        predict(run_dir, "test", dataset=data["test"], model_factory=OtherFakeModel)


def test_predict_needs_a_run_folder(tmp_path):
    with pytest.raises(RunError, match="not a run folder"):
        predict(tmp_path, "test")
