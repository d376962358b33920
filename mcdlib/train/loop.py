"""The one training loop, for MCD, its ablations and the baselines alike.

>>> from mcdlib.config import get_preset, apply_overrides
>>> cfg = apply_overrides(get_preset("tiny"), ["data.root=data/music_scenes/tiny"])
>>> summary = train(cfg, "runs/tiny_mcd")            # doctest: +SKIP
>>> summary = train(cfg, "runs/tiny_mcd", resume=True)  # continue an interrupted run

What one epoch does: reseed (from ``train.seed``, the epoch and the rank, so an interrupted and
resumed run draws the same dropout masks as an uninterrupted one), iterate this rank's shard of
the train split in the dataset's seeded order (assembled ahead on a background thread,
:mod:`mcdlib.train.prefetch`), forward under autocast (CUDA only), add the cross-entropy on
``logits`` to the model's already-weighted auxiliary ``losses`` (or, in AVST's grounding stage,
take the matching loss alone: :mod:`mcdlib.train.stages`), stop on a non-finite loss or gradient,
clip, step Adam, then step the step-decay schedule; validate (with ``train.eval_train``, also
score the train split in eval mode: the honest train-val gap curve); append the epoch record to
``metrics.jsonl``; save ``checkpoints/last.pt`` (and ``best.pt`` when the val accuracy improved).
The run folder layout is described in :mod:`mcdlib.train.run_folder`.

No step waits for the device: the non-finite check accumulates a flag on the device and reads it
every :data:`CHECK_EVERY` steps on CUDA and at the end of the epoch (every step on the CPU,
where reading costs nothing); the progress bar's running loss is read as often.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Collection, Iterator, Mapping

import torch
import torch.nn.functional as F

from mcdlib.config import Config, save_yaml, to_dict
from mcdlib.errors import ConfigError, RunError
from mcdlib.data.fingerprint import dataset_fingerprint
from mcdlib.train.checkpoint import (capture_rng_state, check_resumable, check_same_data, check_spec,
                                     config_hash, load_checkpoint, load_model_state, restore_rng_state,
                                     save_checkpoint)
from mcdlib.train.device import AmpSettings, amp_settings
from mcdlib.train.distributed import Distributed, setup
from mcdlib.train.metrics import EpochMeter
from mcdlib.train.prefetch import Prefetcher, move_batch
from mcdlib.train.stages import has_partial_objective, stage_of, starts_stage, training_stages
from mcdlib.utils.io import torch_threads
from mcdlib.train.run_folder import (RunFolder, append_metrics, lock_run, package_versions, read_metrics,
                                     write_json, write_metrics)

ModelFactory = Callable[[Any, Any], torch.nn.Module]

#: steps between two host reads of the divergence flag on CUDA (every step on the CPU)
CHECK_EVERY = 50
#: batches assembled ahead of the training step (0: on the training thread)
PREFETCH_DEPTH = 2


# --------------------------------------------------------------------------- shared helpers


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A ``tqdm.auto`` bar (notebook or terminal), or a silent one when ``enabled`` is False."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled, dynamic_ncols=True, **kwargs)


def to_device(batch: Mapping[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """Move every tensor of a batch dict to ``device`` (float16 features become float32 there)."""
    return move_batch(batch, device, non_blocking=device.type == "cuda")


def make_optimizer(params, lr: float, weight_decay: float = 0.0) -> torch.optim.Adam:
    """The loop's Adam: the fused implementation (one kernel per parameter instead of about ten
    elementwise passes; the same update rule) where the parameters' device supports it, else torch's default."""
    params = list(params)
    try:
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def host_check_interval(device: torch.device) -> int:
    """Steps between two host reads of the divergence flag: every step on the CPU (free), else
    :data:`CHECK_EVERY` (a read waits for the device to finish its queued work)."""
    return 1 if device.type == "cpu" else CHECK_EVERY


def device_batches(dataset, device: torch.device, **kwargs) -> Prefetcher:
    """``dataset.iter_batches(**kwargs)`` prefetched onto ``device``; on CUDA the features travel
    as float16 (when the dataset offers ``half``) and are cast on the device."""
    if device.type == "cuda" and "half" in inspect.signature(dataset.iter_batches).parameters:
        kwargs["half"] = True
    return Prefetcher(dataset.iter_batches(**kwargs), device, depth=PREFETCH_DEPTH)


def forward_losses(model: torch.nn.Module, batch: dict[str, torch.Tensor], device: torch.device,
                   amp: AmpSettings) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
    """One forward pass: (cross-entropy, the model's weighted auxiliary losses, logits)."""
    with amp.autocast(device):
        out = model(batch)
    logits = out["logits"].float()
    ce = F.cross_entropy(logits, batch["answer"])
    aux = {name: value.float() for name, value in (out.get("losses") or {}).items()}
    return ce, aux, logits


class Divergence:
    """The first non-finite step of an epoch, tracked on the device (no host read per step)."""

    def __init__(self, device: torch.device):
        self.first = torch.zeros((), dtype=torch.long, device=device)  # 0: none yet
        self.kind = torch.zeros((), dtype=torch.long, device=device)  # bit 0: loss, bit 1: gradient norm

    def update(self, step: int, loss: torch.Tensor, grad_norm: torch.Tensor | None = None) -> None:
        kind = (~torch.isfinite(loss.detach())).long()
        if grad_norm is not None:
            kind = kind + 2 * (~torch.isfinite(grad_norm.detach())).long()
        new = (self.first == 0) & (kind > 0)
        self.first = torch.where(new, step, self.first)
        self.kind = torch.where(new, kind, self.kind)

    def read(self) -> tuple[int | None, bool, bool]:
        """(first bad step or None, the loss was non-finite there, the gradient norm was)."""
        first, kind = int(self.first), int(self.kind)
        return first or None, bool(kind & 1), bool(kind & 2)


def open_datasets(cfg: Config, roles: tuple[str, ...] = ("train", "val"), dist: Distributed | None = None,
                  progress: bool = True, model_factory: ModelFactory | None = None) -> dict[str, Any]:
    """``AVQADataset`` for each split role (``train``/``val``/``test`` or a file's split name).

    Missing packed features are packed first (resumable); later splits share the first one's
    answer and question vocabularies. Under DDP rank 0 packs and builds the caches, then the
    other ranks read them.
    """
    from mcdlib.data.dataset import AVQADataset, ensure_packed

    dist = dist or Distributed()
    data_cfg = data_config_for(cfg, model_factory)

    def open_all() -> dict[str, Any]:
        first = AVQADataset(data_cfg, roles[0], progress=progress)
        out = {roles[0]: first}
        for role in roles[1:]:
            out[role] = AVQADataset(data_cfg, role, first.answer_vocab, first.question_vocab, progress=progress)
        return out

    if dist.is_main:
        ensure_packed(data_cfg, progress=progress)
        datasets = open_all()
    dist.barrier()
    if not dist.is_main:
        datasets = open_all()
    return datasets


def data_config_for(cfg: Config, model_factory: ModelFactory | None = None):
    """``cfg.data`` as the model needs it: a model that reads no grid gets no grid (so a large
    grid folder such as res18_14x14 is neither packed nor loaded for it), and a model that needs
    one (AVST) is refused with the fix when none resolves, instead of training on a one-cell grid."""
    from mcdlib.data.features import feature_names, resolve_data_config

    needed = model_features(cfg.model, model_factory)
    if needed is None:
        return cfg.data
    resolved = resolve_data_config(cfg.data)
    if "visual_grid" in needed and resolved.visual_grid is None:
        folders = ", ".join(feature_names(resolved.root)) or "none"
        raise ConfigError(
            f"model.name={cfg.model.name} needs a visual grid feature (per second [G, D] cells or a [D, H, W] map) "
            f"but none resolves in {resolved.root / 'feats'} (folders: {folders}); extract one "
            "(data_scripts/extract_features.py --visual-encoder resnet18 writes res18_14x14), link the official "
            f"res18_14x14 folder into {resolved.root / 'feats'}, or name a grid folder with "
            "--set data.visual_grid_feature=NAME")
    if "visual_grid" not in needed and resolved.visual_grid is not None:
        return dataclasses.replace(cfg.data, visual_grid_feature="none")
    return cfg.data


def data_summary(dataset, cfg: Config) -> dict[str, Any]:
    """What a run read: dataset folder, annotation format and version, feature names, seconds,
    segments, text encoder."""
    data = getattr(dataset, "data", None)
    fmt = getattr(dataset, "format", None)
    return {
        "root": str(cfg.data.root),
        "format": getattr(fmt, "name", None) or getattr(cfg.data, "format", "auto"),
        "annotations": getattr(dataset, "annotations", None) or cfg.data.annotations,
        "features": ({"audio": data.audio, "visual": data.visual, "visual_grid": data.visual_grid}
                     if data is not None else None),
        "seconds": getattr(data, "seconds", None), "segments": getattr(data, "segments", cfg.data.segments),
        "text_model": getattr(dataset, "text_model", cfg.data.text_model),
    }


def open_dataset(cfg: Config, split: str, progress: bool = True):
    """One split (see :func:`open_datasets`)."""
    return open_datasets(cfg, (split,), progress=progress)[split]


def check_not_empty(dataset, split: str, cfg: Config):
    if len(dataset) == 0:
        from mcdlib.data.formats import get_format

        where = get_format(cfg.data).split_path(cfg.data.root, split,
                                                getattr(dataset, "annotations", None) or cfg.data.annotations)
        raise RunError(f"{where}: the {split!r} split holds no questions; check the annotation file "
                       "(mcd data check) or choose another split in data.*_split")
    return dataset


def answers_of(dataset, cfg: Config) -> list[str]:
    """The dataset's answer vocabulary (class index → answer text)."""
    vocab = getattr(dataset, "answer_vocab", None)
    if vocab is None:
        from mcdlib.data.vocab import AnswerVocab

        vocab = AnswerVocab(order=cfg.data.answer_order, unknown=cfg.data.unknown_answers)
    return list(vocab.answers)


def model_features(model_cfg, model_factory: ModelFactory | None = None) -> frozenset[str] | None:
    """The deep features the loader must load for this model (all of them for a custom factory)."""
    from mcdlib.models import feature_inputs

    return feature_inputs(model_cfg) if model_factory is None else None


def default_model_factory(model_cfg, spec) -> torch.nn.Module:
    from mcdlib.models import build_model

    return build_model(model_cfg, spec)


@torch.no_grad()
def evaluate(model: torch.nn.Module, dataset, batch_size: int, device: torch.device, amp: AmpSettings,
             dist: Distributed | None = None, progress: bool = False, desc: str = "val",
             on_batch: Callable[[dict, torch.Tensor], None] | None = None,
             features: Collection[str] | None = None) -> EpochMeter:
    """One pass over this rank's shard of ``dataset`` in eval mode; ``on_batch(batch, logits)``;
    ``features``: the deep features to load (:func:`mcdlib.models.feature_inputs`)."""
    dist = dist or Distributed(device=device)
    model.eval()
    meter = EpochMeter(getattr(dataset, "scheme", None))
    total = dataset.num_batches(batch_size, dist.world_size, False)
    with device_batches(dataset, device, batch_size=batch_size, shuffle=False, seed=0, epoch=0, rank=dist.rank,
                        world_size=dist.world_size, drop_last=False, features=features) as batches:
        for batch in progress_bar(batches, enabled=progress and dist.is_main, desc=desc, leave=False,
                                  unit="batch", total=total):
            ce, aux, logits = forward_losses(model, batch, device, amp)
            meter.update(ce, aux, logits, batch)
            if on_batch is not None:
                on_batch(batch, logits)
    return meter


def epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """The torch seed of one epoch on one rank (dropout masks do not depend on resumption)."""
    return (seed * 1_000_003 + epoch * 7919 + rank) % (2**63 - 1)


def resolve_deterministic(setting: bool | None, device: torch.device) -> bool:
    """``train.deterministic``: as set, or (None, the default) on for the CPU and off on CUDA."""
    return device.type != "cuda" if setting is None else bool(setting)


@contextlib.contextmanager
def deterministic_mode(enabled: bool, device: torch.device) -> Iterator[None]:
    """``torch.use_deterministic_algorithms`` for the duration (restored afterwards).

    torch's debugging aid that fills every new uninitialised tensor with NaN in this mode
    (``torch.utils.deterministic.fill_uninitialized_memory``) is switched off: no mcdlib code reads
    uninitialised memory, and the fill cost a third of a classroom MCD epoch on the CPU
    (BENCHMARKS.md, "Training speed"). Results stay bit-identical run to run."""
    import torch.utils.deterministic as det

    before = torch.are_deterministic_algorithms_enabled()
    fill_before = det.fill_uninitialized_memory
    if enabled and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(enabled, warn_only=device.type != "cpu")
    det.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
        det.fill_uninitialized_memory = fill_before


def format_seconds(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


# --------------------------------------------------------------------------- the loop


def train(cfg: Config, out_dir: str | Path, resume: bool = False, progress: bool | None = None, *,
          datasets: Mapping[str, Any] | None = None, model_factory: ModelFactory | None = None) -> dict:
    """Train ``cfg`` into the run folder ``out_dir`` and return its ``run.json`` summary.

    ``resume=True`` continues the run from ``checkpoints/last.pt`` (the settings must match the
    run's, except the number of epochs and where/how it runs) and reaches the same weights and
    metrics as an uninterrupted run. ``progress`` overrides ``cfg.train.progress``.
    ``datasets`` ({"train": ..., "val": ...}) and ``model_factory(model_cfg, spec)`` replace
    ``AVQADataset`` and :func:`mcdlib.models.build_model` (in-memory data in notebooks, fakes in
    tests). Launched by ``torchrun``, every process calls this; only rank 0 writes files.
    """
    dist = setup(cfg.train.device)
    try:
        deterministic = resolve_deterministic(cfg.train.deterministic, dist.device)
        with (lock_run(out_dir, "mcd train") if dist.is_main else contextlib.nullcontext()), \
                deterministic_mode(deterministic, dist.device), torch_threads(cfg.train.threads):
            trainer = Trainer(cfg, out_dir, dist, progress=cfg.train.progress if progress is None else progress,
                              datasets=datasets, model_factory=model_factory)
            return trainer.fit(resume=resume)
    finally:
        dist.close()


class Trainer:
    """State of one run (use :func:`train`; this class keeps the steps readable and testable)."""

    def __init__(self, cfg: Config, out_dir: str | Path, dist: Distributed, progress: bool = True,
                 datasets: Mapping[str, Any] | None = None, model_factory: ModelFactory | None = None):
        self.cfg = cfg
        self.run = RunFolder(out_dir)
        self.dist = dist
        self.device = dist.device
        self.progress = bool(progress) and dist.is_main
        self.amp = amp_settings(self.device, cfg.train.amp)
        own_data = datasets is None  # read from cfg.data: fingerprinted (mcdlib.data.fingerprint)
        datasets = datasets if datasets is not None else open_datasets(cfg, ("train", "val"), dist, self.progress,
                                                                        model_factory)
        self.train_data = check_not_empty(datasets["train"], cfg.data.train_split, cfg)
        self.val_data = check_not_empty(datasets["val"], cfg.data.val_split, cfg)
        self.spec = self.train_data.spec
        self.data_info = data_summary(self.train_data, cfg)
        check_spec(self.spec.to_dict(), self.val_data.spec, f"{cfg.data.val_split} split vs {cfg.data.train_split} split")
        self.answers = answers_of(self.train_data, cfg)
        self.dataset_fp = dataset_fingerprint(cfg.data) if own_data else None
        self.stages = training_stages(cfg)
        self.check_every = host_check_interval(self.device)
        torch.manual_seed(cfg.train.seed)
        self.model = (model_factory or default_model_factory)(cfg.model, self.spec).to(self.device)
        self.features = model_features(cfg.model, model_factory)
        self.new_optimizer()
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp.use_scaler)
        self._ddp: torch.nn.Module | None = None
        self.hash = config_hash(cfg)
        self.epochs_done = 0
        self.best_epoch: int | None = None
        self.best_acc: float | None = None
        self.elapsed = 0.0
        self.time_to_best = 0.0
        self.started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    # ------------------------------------------------------------------ setup

    def new_optimizer(self) -> None:
        """A fresh Adam and step-decay schedule (at the start, and at the start of a training stage)."""
        cfg = self.cfg.train
        self.optimizer = make_optimizer(self.model.parameters(), cfg.lr, cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=max(cfg.lr_step, 1),
                                                         gamma=cfg.lr_gamma)

    @property
    def wrapped(self) -> torch.nn.Module:
        """The model as trained: DDP-wrapped under torchrun, else the model itself."""
        if not self.dist.active:
            return self.model
        if self._ddp is None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(self.model, device_ids=ids,
                                                find_unused_parameters=self._has_unused_parameters())
        return self._ddp

    def _has_unused_parameters(self) -> bool:
        """Whether some parameters get no gradient (ablations switch components off, AVST's grounding
        stage trains only its matching layers): one trial forward/backward on a val batch, with the
        RNG state and gradients left as they were."""
        if has_partial_objective(self.stages):
            return True
        batch = to_device(next(iter(self.val_data.iter_batches(min(self.cfg.train.batch_size, 8), shuffle=False,
                                                               features=self.features))), self.device)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            ce, aux, _ = forward_losses(self.model, batch, self.device, self.amp)
            (ce + sum(aux.values())).backward()
        unused = any(p.requires_grad and p.grad is None for p in self.model.parameters())
        self.model.zero_grad(set_to_none=True)
        return unused

    def prepare_folder(self, resume: bool) -> None:
        """Fresh run: refuse to overwrite one. Resume: restore everything from ``last.pt``."""
        if resume:
            if not self.run.last.is_file():
                raise RunError(f"{self.run.root}: nothing to resume (no {self.run.last}); "
                               "drop --resume to start a new run there")
            self.restore(load_checkpoint(self.run.last, map_location=self.device))
        elif self.run.last.is_file():
            raise RunError(f"{self.run.root} already holds a run; pass --resume (resume=True) to continue it, "
                           "or choose another --out folder to start fresh")
        if self.dist.is_main:
            self.run.root.mkdir(parents=True, exist_ok=True)
            save_yaml(self.cfg, self.run.config)
            kept = [r for r in read_metrics(self.run.metrics) if r["epoch"] <= self.epochs_done]
            write_metrics(self.run.metrics, kept)
        self.dist.barrier()

    def restore(self, payload: dict[str, Any]) -> None:
        source = self.run.last
        check_resumable(payload, self.cfg, source, self.run.root)
        check_same_data(payload.get("dataset"), self.dataset_fp, source, "resume",
                        [self.cfg.data.train_split, self.cfg.data.val_split], self.cfg.data.annotations)
        if self.cfg.train.epochs < int(payload["epoch"]):
            raise RunError(f"{source}: cannot resume to train.epochs={self.cfg.train.epochs}: the run has already "
                           f"done {payload['epoch']} epochs; set train.epochs to {payload['epoch']} or more")
        check_spec(payload["spec"], self.spec, source)
        load_model_state(self.model, payload["model"], source, payload["config"].get("model"), self.cfg.model)
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        if payload.get("scaler"):
            self.scaler.load_state_dict(payload["scaler"])
        restore_rng_state(payload["rng"])
        self.epochs_done = int(payload["epoch"])
        best = payload.get("best") or {}
        self.best_epoch, self.best_acc = best.get("epoch"), best.get("acc")
        self.elapsed = float(payload.get("elapsed_s", 0.0))
        self.time_to_best = float(best.get("elapsed_s", 0.0))
        self.started = payload.get("started", self.started)

    # ------------------------------------------------------------------ one epoch

    def train_epoch(self, epoch: int) -> dict[str, Any]:
        """Train one epoch (1-based ``epoch``); the epoch record of the train split."""
        cfg, dist = self.cfg.train, self.dist
        torch.manual_seed(epoch_seed(cfg.seed, epoch, dist.rank))
        model = self.wrapped
        model.train()
        meter = EpochMeter(getattr(self.train_data, "scheme", None))
        stage = stage_of(self.stages, epoch)
        total = self.train_data.num_batches(cfg.batch_size, dist.world_size, False)
        if dist.active:  # every rank must take the same number of steps (DDP all-reduces each one)
            total = min(dist.gather(total))
        prefetcher = device_batches(self.train_data, self.device, batch_size=cfg.batch_size, shuffle=True,
                                    seed=cfg.seed, epoch=epoch, rank=dist.rank, world_size=dist.world_size,
                                    features=self.features)
        bar = progress_bar(prefetcher, enabled=self.progress, desc=f"epoch {epoch}/{cfg.epochs}", leave=False,
                           unit="batch", total=total)
        params = [p for p in self.model.parameters() if p.requires_grad]
        diverged = Divergence(self.device)
        with prefetcher:
            for step, batch in zip(range(1, total + 1), bar):
                ce, aux, logits = forward_losses(model, batch, self.device, self.amp)
                loss = stage.loss(ce, aux)
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.unscale_(self.optimizer)
                if cfg.grad_clip > 0:
                    grad_norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
                else:
                    grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
                diverged.update(step, loss, None if self.amp.use_scaler else grad_norm)
                if step % self.check_every == 0:
                    self._stop_if_diverged(epoch, diverged, loss, grad_norm, aux)
                self.scaler.step(self.optimizer)
                self.scaler.update()
                meter.update(ce, aux, logits, batch)
                if self.progress and step % max(10, self.check_every) == 0:
                    bar.set_postfix(loss=f"{meter.running_loss():.3f}")
        bar.close()
        if meter.count:
            self._stop_if_diverged(epoch, diverged, loss, grad_norm, aux)
        if meter.count == 0:
            raise RunError(f"{self.run.root}: epoch {epoch}: the train split gave no batches "
                           f"({len(self.train_data)} questions, batch size {cfg.batch_size})")
        return meter.summary(dist)

    def _stop_if_diverged(self, epoch: int, diverged: "Divergence", loss: torch.Tensor, grad_norm: torch.Tensor,
                          aux: dict[str, torch.Tensor]) -> None:
        """Stop on a non-finite loss or gradient seen since the epoch began (fp16 overflow is the
        scaler's business); reads the device flag (a host-device synchronisation)."""
        step, bad_loss, bad_grad = diverged.read()
        if not self.dist.any(step is not None):
            return
        step = step or 0
        parts = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in aux.items())
        what = f"loss {float(loss.detach()):.4g}" + (f" (aux: {parts})" if parts else "")
        if not bad_loss:
            what = f"gradient norm {float(grad_norm):.4g}" if bad_grad else "another rank's loss"
        if not (bad_loss or bad_grad):
            step = "?"
        if self.run.last.is_file():
            good = f"the last good checkpoint is {self.run.last} (epoch {self.epochs_done})"
        else:
            good = "no checkpoint was written yet"
        raise RunError(f"{self.run.root}: training diverged at epoch {epoch}, step {step}: non-finite {what}; "
                       f"{good}. Lower train.lr, set train.grad_clip (e.g. 1.0) or check the features "
                       "for NaN, then train into a new --out folder")

    # ------------------------------------------------------------------ checkpoints and records

    def payload(self, epoch: int) -> dict[str, Any]:
        return {
            "epoch": epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.amp.use_scaler else {},
            "rng": capture_rng_state(), "config": to_dict(self.cfg), "config_hash": self.hash,
            "spec": self.spec.to_dict(), "type_object_features": self.spec.type_object_features,
            "answers": list(self.answers),
            "best": {"epoch": self.best_epoch, "acc": self.best_acc, "elapsed_s": self.time_to_best},
            "elapsed_s": self.elapsed, "started": self.started, "dataset": self.dataset_fp,
        }

    def summary(self, status: str, error: str | None = None) -> dict[str, Any]:
        records = read_metrics(self.run.metrics) if self.run.metrics.is_file() else []
        last = records[-1] if records else {}
        best = next((r for r in records if r["epoch"] == self.best_epoch), {})
        n_params = sum(p.numel() for p in self.model.parameters())
        out = {
            "status": status, "run_dir": str(self.run.root), "model": self.cfg.model.name,
            "preset": self.cfg.preset, "config_hash": self.hash, "data": self.data_info,
            "epochs_done": self.epochs_done, "epochs": self.cfg.train.epochs,
            "best_epoch": self.best_epoch, "best_val_acc": self.best_acc,
            "best_val_cells": (best.get("val") or {}).get("cells"),
            "train_acc_at_best": (best.get("train") or {}).get("acc"),
            "train_eval_acc_at_best": (best.get("train_eval") or {}).get("acc"),
            "final_train_acc": (last.get("train") or {}).get("acc"),
            "final_val_acc": (last.get("val") or {}).get("acc"),
            "timings": {"total_s": round(self.elapsed, 3), "time_to_best_s": round(self.time_to_best, 3),
                        "mean_epoch_s": round(self.elapsed / max(len(records), 1), 3)},
            "device": str(self.device), "amp": self.amp.name, "world_size": self.dist.world_size,
            "parameters": n_params, "versions": package_versions(), "started": self.started,
            "dataset": self.dataset_fp,
            "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        if error:
            out["error"] = error
        return out

    def write_status(self, status: str, error: str | None = None) -> dict[str, Any]:
        summary = self.summary(status, error)
        if self.dist.is_main:
            try:
                write_json(self.run.run_json, summary)
            except OSError as exc:  # e.g. the disk is full: say so, keep the error that got us here
                if status == "running":
                    raise RunError(f"{self.run.run_json}: cannot write the run status ({exc.strerror or exc}); "
                                   f"free disk space, then resume: mcd train --out {self.run.root} --resume") from None
                print(f"mcd: warning: could not record status {status!r} in {self.run.run_json} "
                      f"({exc.strerror or exc})", file=sys.stderr)
        return summary

    def end_epoch(self, epoch: int, train_rec: dict, val_rec: dict | None, seconds: float, lr: float,
                  train_eval_rec: dict | None = None) -> None:
        """Record the epoch, update the best epoch, write checkpoints (rank 0 only)."""
        self.elapsed += seconds
        improved = val_rec is not None and (self.best_acc is None or val_rec["acc"] > self.best_acc)
        if improved:
            self.best_epoch, self.best_acc, self.time_to_best = epoch, val_rec["acc"], self.elapsed
        self.epochs_done = epoch
        if self.dist.is_main:
            record = {"epoch": epoch, "stage": stage_of(self.stages, epoch).name, "lr": lr, "train": train_rec,
                      "val": val_rec}
            if self.cfg.train.eval_train:
                record["train_eval"] = train_eval_rec
            append_metrics(self.run.metrics, {**record, "best": improved, "epoch_s": round(seconds, 3),
                                              "elapsed_s": round(self.elapsed, 3)})
            payload = self.payload(epoch)
            save_checkpoint(self.run.last, payload)
            if improved:
                save_checkpoint(self.run.best, payload)
            self.write_status("running")
        self.dist.barrier()

    # ------------------------------------------------------------------ driver

    def fit(self, resume: bool = False) -> dict[str, Any]:
        self.prepare_folder(resume)
        if self.dist.is_main and self.progress:
            print(f"{self.cfg.model.name}: data {format_data(self.data_info)}")
        cfg = self.cfg.train
        status, error = "interrupted", None
        try:
            epochs = progress_bar(range(self.epochs_done + 1, cfg.epochs + 1), enabled=self.progress,
                                  desc=f"{self.cfg.model.name}", unit="epoch", initial=self.epochs_done,
                                  total=cfg.epochs)
            for epoch in epochs:
                start = time.perf_counter()
                if starts_stage(self.stages, epoch):  # e.g. AVST after its grounding stage
                    self.new_optimizer()
                lr = self.optimizer.param_groups[0]["lr"]
                try:
                    train_rec = self.train_epoch(epoch)
                    val_rec = train_eval_rec = None
                    if epoch % max(cfg.eval_every, 1) == 0 or epoch == cfg.epochs:
                        val_rec = evaluate(self.model, self.val_data, cfg.batch_size, self.device, self.amp,
                                           self.dist, self.progress, features=self.features).summary(self.dist)
                        if cfg.eval_train:  # the same weights in eval mode on the train split
                            train_eval_rec = evaluate(self.model, self.train_data, cfg.batch_size, self.device,
                                                      self.amp, self.dist, self.progress, desc="train (eval mode)",
                                                      features=self.features).summary(self.dist)
                except torch.cuda.OutOfMemoryError:
                    raise RunError(
                        f"{self.run.root}: CUDA out of memory at batch size {cfg.batch_size} (epoch {epoch}); "
                        f"try --set train.batch_size={max(cfg.batch_size // 2, 1)} in a new --out folder") from None
                self.scheduler.step()
                self.end_epoch(epoch, train_rec, val_rec, time.perf_counter() - start, lr, train_eval_rec)
                if val_rec is not None:
                    epochs.set_postfix(val_acc=f"{val_rec['acc']:.2f}", best=self.best_epoch)
            epochs.close()
            status = "finished"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}" if not isinstance(exc, RunError) else str(exc)
            raise
        finally:
            summary = self.write_status(status, error)
        if self.dist.is_main:
            print(format_summary(summary))
        return summary


def format_data(data: dict[str, Any]) -> str:
    """``ROOT, annotations V, features audio=A visual=V grid=G`` (a run's :func:`data_summary`)."""
    features = data.get("features") or {}
    names = " ".join(f"{k.replace('visual_grid', 'grid')}={v or '-'}" for k, v in features.items())
    form = " (AVQA multiple choice)" if data.get("format") == "avqa" else ""
    return f"{data['root']}{form}, annotations {data['annotations']}" + (f", features {names}" if names else "")


def format_summary(summary: dict[str, Any]) -> str:
    """The short text printed at the end of a run."""
    t = summary["timings"]
    lines = [f"run {summary['run_dir']}: {summary['model']} ({summary['status']}), "
             f"{summary['epochs_done']}/{summary['epochs']} epochs in {format_seconds(t['total_s'])} "
             f"on {summary['device']} (x{summary['world_size']})"]
    if summary.get("data"):
        lines.append(f"  data: {format_data(summary['data'])}")
    if summary.get("best_epoch") is not None:
        lines.append(f"  best epoch {summary['best_epoch']}: val acc {summary['best_val_acc']:.2f} "
                     f"(reached after {format_seconds(t['time_to_best_s'])}); "
                     f"final train acc {summary['final_train_acc']:.2f}")
        lines.append(f"  checkpoints: {Path(summary['run_dir']) / 'checkpoints' / 'best.pt'} "
                     f"(evaluate: mcd eval --run {summary['run_dir']} --split test)")
    return "\n".join(lines)
