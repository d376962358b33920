"""Training: the one loop (:func:`train`), checkpoints and resume, DDP, prediction, ablations.

* :mod:`mcdlib.train.loop` — :func:`train` (every model), shared step helpers;
* :mod:`mcdlib.train.checkpoint` — atomic checkpoints, config hash, compatibility checks;
* :mod:`mcdlib.train.distributed` — ``torchrun``/DDP setup (nccl on CUDA, gloo on CPU);
* :mod:`mcdlib.train.device` — ``device: auto`` and mixed precision;
* :mod:`mcdlib.train.metrics` — per-epoch losses and official accuracies;
* :mod:`mcdlib.train.run_folder` — the run folder layout, metrics.jsonl, run.json;
* :mod:`mcdlib.train.predict` — :func:`predict` and :func:`evaluate_run`;
* :mod:`mcdlib.train.ablate` — grid files, planning and training a grid;
* :mod:`mcdlib.train.study` — every measure and verdict: scores at the selected checkpoint,
  paired statistics, expectations, ceilings, :func:`run_ablation` (train, score, report);
* :mod:`mcdlib.train.tuning` — the equal tuning budget on val (``mcd tune``).
"""

from mcdlib.train.ablate import ensure_trained, read_grid
from mcdlib.train.study import run_ablation
from mcdlib.train.loop import train
from mcdlib.train.predict import evaluate_run, predict
from mcdlib.train.run_folder import RunFolder, read_curves, read_metrics

__all__ = ["train", "ensure_trained", "predict", "evaluate_run", "run_ablation", "read_grid", "RunFolder", "read_metrics",
           "read_curves"]
