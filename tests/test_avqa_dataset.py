"""AVQA data through the one data path: AVQADataset batches with options, the three models of the
comparison trained by the one loop, predictions, mcd train / mcd eval / mcd data check on an
AVQA-format folder (fixture in the real record format, hash text encoder)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from avqa_fixture import write_avqa_fixture
from mcdlib.cli import main
from mcdlib.config import DataConfig, apply_overrides, get_preset
from mcdlib.data.avqa import QUESTION_TYPES, avqa_scheme
from mcdlib.data.dataset import AVQADataset, KIND_KEYWORD, KIND_TYPE, ensure_packed, question_vocab_path
from mcdlib.data.text_cache import keyword_text
from mcdlib.models import build_model, toy_model_config
from mcdlib.train import evaluate_run, read_metrics, train
from mcdlib.train.predict import predict


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = write_avqa_fixture(tmp_path_factory.mktemp("avqa"), n_videos=6, split_sizes={"train": 32, "val": 12})
    ensure_packed(DataConfig(root=str(root)), progress=False)
    return root


@pytest.fixture(scope="module")
def cfg(root):
    return DataConfig(root=str(root), text_model="hash")


@pytest.fixture(scope="module")
def train_split(cfg):
    return AVQADataset(cfg, "train", progress=False)


def test_the_format_is_detected_and_the_batch_carries_the_options(train_split, cfg):
    ds = train_split
    assert ds.format.name == "avqa" and ds.scheme == avqa_scheme(["Both", "View"])
    assert ds.data.segments == 8  # data.segments=10 resolves to the 8 clips of the features
    batch = ds.batch([0, 3, 5])
    assert batch["options"].shape == (3, 4, ds.text_cache.dim) and batch["options"].dtype == torch.float32
    q = ds.questions[3]
    np.testing.assert_allclose(batch["options"][1].numpy(), ds.text_cache.object_vectors(list(q.options)))
    assert batch["answer"].tolist() == [ds.questions[i].answer_index for i in (0, 3, 5)]
    assert batch["type_index"][1] == ds.scheme.cell_index(q.cell)
    assert batch["audio"].shape == (3, 8, 8) and batch["visual"].shape == (3, 8, 12)
    # text objects: the content words, then the question type and relation
    kinds = batch["text_objects_kind"][1]
    n_kw = len(q.keywords)
    assert (kinds[:n_kw] == KIND_KEYWORD).all() and (kinds[n_kw:n_kw + 2] == KIND_TYPE).all()
    expected = ds.text_cache.object_vectors([keyword_text(k) for k in q.keywords] + list(q.type_labels))
    np.testing.assert_allclose(batch["text_objects"][1, :n_kw + 2].numpy(), expected)
    assert batch["q_ids"].shape == (3, ds.question_len) and ds.question_len >= 14


def test_spec_describes_multiple_choice_and_the_type_cells(train_split, cfg):
    spec = train_split.spec
    assert spec.multiple_choice and spec.num_answers == 4 and spec.num_cells == 16
    assert spec.type_object_features.shape == (16, 2, train_split.text_cache.dim)
    np.testing.assert_allclose(spec.type_object_features[1].numpy(),
                               train_split.text_cache.object_vectors(["Which", "View"]))
    val = AVQADataset(cfg, "val", train_split.answer_vocab, train_split.question_vocab, progress=False)
    assert val.spec.to_dict() | {"max_objects": 0} == spec.to_dict() | {"max_objects": 0}
    assert question_vocab_path(cfg).name.startswith("question_vocab-avqa-json-train")
    with pytest.raises(Exception, match="AVQA releases only train and val"):
        AVQADataset(cfg, "test", progress=False)


@pytest.mark.parametrize("name", ["mcd", "late", "qonly", "avst"])
def test_every_model_scores_the_options(train_split, name):
    model = build_model(toy_model_config(name=name), train_split.spec)
    logits = model(train_split.batch(np.arange(6)))["logits"]
    assert logits.shape == (6, 4) and torch.isfinite(logits).all()


def test_mcd_late_and_qonly_train_predict_and_evaluate(root, tmp_path):
    base = apply_overrides(get_preset("tiny"), {"data.root": str(root), "data.text_model": "hash",
                                                 "data.test_split": "val", "train.epochs": 1,
                                                 "train.progress": False, "train.device": "cpu"})
    for name in ("mcd", "late", "qonly"):
        run = tmp_path / name
        summary = train(apply_overrides(base, {"model.name": name}), run)
        assert summary["status"] == "finished"
        record = read_metrics(run)[-1]
        assert list(record["val"]["cells"]) == [*QUESTION_TYPES, "relation: Both", "relation: View", "Overall"]
        predictions = predict(run, "val", progress=False)
        assert len(predictions) == 12 and all(isinstance(v, int) and 0 <= v < 4 for v in predictions.values())
        result = evaluate_run(run, "val", progress=False)
        assert result.scheme.name == "AVQA" and result.n == 12
        assert result.overall == record["val"]["acc"]  # the best epoch is the only epoch
        scores = json.loads((run / "scores_val.json").read_text())
        assert scores["rows"]["Overall"] == result.overall


def test_cli_train_detects_the_format_and_eval_scores_files_and_runs(root, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", str(root), "--preset", "tiny", "--model", "qonly", "--set", "data.text_model=hash",
                 "--set", "train.epochs=1", "--set", "train.progress=false", "--out", str(run)]) == 0
    assert main(["eval", "--run", str(run), "--split", "val", "--json", str(tmp_path / "val.json")]) == 0
    out = capsys.readouterr().out
    assert "AVQA accuracy" in out and "Come From" in out and "relation: View" in out
    assert list(json.loads((tmp_path / "val.json").read_text()))[:4] == ["types", "relations", "Overall", "n"]
    predictions = run / "predictions_val.json"
    assert main(["eval", "--annotations", str(root / "json" / "val_qa.json"), "--predictions", str(predictions)]) == 0
    assert "Overall" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text(json.dumps({k: 9 for k in json.loads(predictions.read_text())}))
    assert main(["eval", "--annotations", str(root / "json" / "val_qa.json"), "--predictions",
                 str(tmp_path / "bad.json")]) == 2
    assert "has options 0-3" in capsys.readouterr().err


def test_data_check_reports_an_avqa_folder(root, tmp_path, capsys):
    assert main(["data", "check", str(root)]) == 0
    out = capsys.readouterr().out
    assert "(AVQA, multiple choice)" in out and "answer at option 3" in out and "OK: no problems found" in out
    records = json.loads((root / "json" / "val_qa.json").read_text())
    records[0]["multi_choice"] = ["a", "a", "b", "c"]
    records.append(dict(records[1]))
    (tmp_path / "val_qa.json").write_text(json.dumps(records))
    assert main(["data", "check", str(tmp_path / "val_qa.json"), "--json", str(tmp_path / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "give the same option text twice" in out and "occur more than once" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["files"][0]["format"] == "avqa" and report["files"][0]["unique_ids"] == len(records) - 1
