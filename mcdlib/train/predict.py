"""Predictions and official scores of a trained run.

>>> answers = predict("runs/mcd", "test")           # doctest: +SKIP
>>> answers["12"]
'two'
>>> print(evaluate_run("runs/mcd", "test").table())  # doctest: +SKIP

:func:`predict` loads a run's checkpoint (``best`` by default) with the settings stored in it,
checks that the split's features have the dimensions the model was trained on, and writes
``<run>/predictions_<split>.json`` (question_id → answer, the format of
:func:`mcdlib.evaluation.load_predictions`; for AVQA multiple choice question id → the index
of the chosen option, an integer as AVQA's ``answer`` field). :func:`evaluate_run` scores those predictions
with the official evaluation against the split's own annotation records (types read from the
file being evaluated) and writes ``<run>/scores_<split>.json``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from mcdlib.config import Config, from_dict
from mcdlib.evaluation import EvaluationResult, evaluate, save_predictions
from mcdlib.data.fingerprint import dataset_fingerprint
from mcdlib.train.checkpoint import check_same_data, check_spec, load_checkpoint, load_model_state
from mcdlib.train.device import amp_settings, resolve_device
from mcdlib.train.loop import (ModelFactory, check_not_empty, default_model_factory, evaluate as run_model,
                               model_features, open_dataset)
from mcdlib.train.run_folder import RunFolder, lock_run, write_json


def run_config(run_dir: str | Path, checkpoint: str = "best", data_root: str | Path | None = None
               ) -> tuple[Config, dict[str, Any]]:
    """The settings a run's checkpoint was trained with (and the checkpoint itself).

    ``data_root`` points the run at its dataset when the dataset folder has moved.
    """
    run = RunFolder(run_dir)
    run.require_config()
    payload = load_checkpoint(run.checkpoint(checkpoint))
    cfg = from_dict(Config, payload["config"])
    if data_root is not None:
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, root=str(data_root)))
    return cfg, payload


def open_run_split(run_dir: str | Path, split: str, checkpoint: str = "best",
                   data_root: str | Path | None = None):
    """The ``split`` of the dataset a run was trained on (``AVQADataset`` with the run's settings)."""
    cfg, _ = run_config(run_dir, checkpoint, data_root)
    return open_dataset(cfg, split)


@dataclasses.dataclass
class LoadedRun:
    """A run's checkpoint as a model (on ``device``), its settings, a split and the answers."""

    model: torch.nn.Module
    cfg: Config
    dataset: Any
    answers: list[str]
    device: torch.device
    spec: Any


def load_trained_model(run_dir: str | Path, split: str, checkpoint: str = "best", *,
                       data_root: str | Path | None = None, dataset=None,
                       model_factory: ModelFactory | None = None, device: str | None = None,
                       progress: bool = True, allow_other_data: bool = False) -> LoadedRun:
    """The run's ``checkpoint`` loaded into a freshly built model, checked against the ``split``
    it will read (the same dataset as in training, by its fingerprint, unless
    ``allow_other_data``; feature dimensions, vocabularies); ``dataset``/``model_factory`` as in
    :func:`mcdlib.train.train`."""
    run = RunFolder(run_dir)
    cfg, payload = run_config(run_dir, checkpoint, data_root)
    source = run.checkpoint(checkpoint)
    opened = dataset is None
    dataset = (check_not_empty(dataset, split, cfg) if dataset is not None
               else open_dataset(cfg, split, progress=progress))
    if not allow_other_data and (opened or hasattr(dataset, "cfg")):
        from mcdlib.data.dataset import split_name

        check_same_data(payload.get("dataset"), dataset_fingerprint(cfg.data), source,
                        f"evaluate on {cfg.data.root} (pass --allow-other-data to do it anyway)",
                        [cfg.data.train_split, split_name(cfg.data, split)], cfg.data.annotations)
    check_spec(payload["spec"], dataset.spec, f"{source} vs the {split!r} split of {cfg.data.root}")
    spec = dataset.spec
    if payload.get("type_object_features") is not None:
        spec = dataclasses.replace(spec, type_object_features=payload["type_object_features"])
    torch_device = resolve_device(device or cfg.train.device)
    model = (model_factory or default_model_factory)(cfg.model, spec)
    load_model_state(model, payload["model"], source, payload["config"].get("model"), cfg.model)
    return LoadedRun(model.to(torch_device), cfg, dataset, list(payload["answers"]), torch_device, spec)


def predict(run_dir: str | Path, split: str, checkpoint: str = "best", *, data_root: str | Path | None = None,
            dataset=None, model_factory: ModelFactory | None = None, batch_size: int | None = None,
            device: str | None = None, progress: bool | None = None,
            allow_other_data: bool = False) -> dict[str, str | int]:
    """Answer every question of ``split`` with the run's ``checkpoint`` (``best``, ``last`` or a
    path); returns question_id (string) → answer (multiple choice: the option index) and writes
    ``<run>/predictions_<split>.json`` (holding the run folder's lock meanwhile).

    ``dataset`` and ``model_factory`` replace ``AVQADataset`` and ``build_model`` (as in
    :func:`mcdlib.train.train`). A dataset other than the one the run was trained on (its
    fingerprint) is refused unless ``allow_other_data``.
    """
    RunFolder(run_dir).require_config()
    with lock_run(run_dir, "mcd eval"):
        return _predict(run_dir, split, checkpoint, data_root, dataset, model_factory, batch_size, device,
                        progress, allow_other_data)


def _predict(run_dir, split, checkpoint, data_root, dataset, model_factory, batch_size, device, progress,
             allow_other_data) -> dict[str, str]:
    loaded = load_trained_model(run_dir, split, checkpoint, data_root=data_root, dataset=dataset,
                                model_factory=model_factory, device=device, allow_other_data=allow_other_data)
    model, cfg, dataset, torch_device = loaded.model, loaded.cfg, loaded.dataset, loaded.device
    answers = loaded.answers
    choices = bool(getattr(loaded.spec, "multiple_choice", False))
    predictions: dict[str, str | int] = {}

    def collect(batch: dict[str, torch.Tensor], logits: torch.Tensor) -> None:
        for qid, index in zip(batch["question_id"].tolist(), logits.argmax(-1).tolist()):
            predictions[str(qid)] = index if choices else answers[index]

    show = cfg.train.progress if progress is None else progress
    run_model(model, dataset, batch_size or cfg.train.batch_size, torch_device,
              amp_settings(torch_device, cfg.train.amp), progress=show, desc=f"predict {split}", on_batch=collect,
              features=model_features(cfg.model, model_factory))
    save_predictions(predictions, RunFolder(run_dir).predictions(split))
    return predictions


def evaluate_run(run_dir: str | Path, split: str = "test", checkpoint: str = "best", *,
                 data_root: str | Path | None = None, dataset=None, model_factory: ModelFactory | None = None,
                 progress: bool | None = None, allow_unfinished: bool = False,
                 allow_other_data: bool = False) -> EvaluationResult:
    """Predict ``split`` with the run's checkpoint and score it with the official evaluation.

    Writes ``predictions_<split>.json`` and ``scores_<split>.json`` (the 13 lines, the run's
    status and epochs done) in the run. An unfinished run (interrupted, killed) is refused
    unless ``allow_unfinished``; another dataset than the run's unless ``allow_other_data``.
    """
    run = RunFolder(run_dir)
    run.require_config()
    with lock_run(run_dir, "mcd eval"):
        status = run.require_finished(allow_unfinished)
        dataset = dataset if dataset is not None else open_run_split(run_dir, split, checkpoint, data_root)
        predictions = predict(run_dir, split, checkpoint, data_root=data_root, dataset=dataset,
                              model_factory=model_factory, progress=progress, allow_other_data=allow_other_data)
        result = evaluate(predictions, dataset.questions, source=f"{run.root} ({split}, {checkpoint} checkpoint)",
                          predictions_name=str(run.predictions(split)), unknown_answers="score",
                          annotations=getattr(dataset, "annotations", ""))
        write_json(run.scores(split), {"split": split, "checkpoint": checkpoint, "annotations": result.annotations,
                                       "n": result.n,
                                       "rows": {label: acc for label, acc, _, _ in result.rows()},
                                       "correct": list(result.correct), "total": list(result.total),
                                       "run_status": status.get("status"), "epochs_done": status.get("epochs_done")})
    return result
