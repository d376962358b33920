"""Ablation grids: every variant × seed as its own run (planning and training; the measures are
:mod:`mcdlib.train.study`'s).

A grid file lists variants, one line per variant: a name and the ``key=value`` overrides that
turn the base settings (preset + ``--set``) into that variant::

    mcd: []                                   # the full model
    no_contrastive: [model.contrastive=off]
    late_audio: [model.name=late, model.modalities=a]

:func:`plan_runs` turns variants × seeds into runs in ``OUT/<variant>/seed<k>`` (a normal run
folder, ``train.seed = k``), optionally on top of each model's tuned settings (``tuned.yaml``
written by ``mcd tune``: base → tuned overrides → the variant's own overrides);
:func:`train_runs` trains them resumably (finished runs are skipped, interrupted ones resumed;
a finished run trained with other settings is refused, so a protocol never mixes
configurations). Under ``torchrun`` every run is trained with DDP. Scoring, tables and verdicts:
:func:`mcdlib.train.study.run_ablation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from mcdlib.config import Config, apply_overrides, load_config
from mcdlib.errors import ConfigError, McdError, RunError
from mcdlib.train.checkpoint import config_diff
from mcdlib.train.distributed import setup
from mcdlib.train.loop import ModelFactory, progress_bar, train
from mcdlib.train.run_folder import RunFolder

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: the cost of an epoch with ``train.eval_train`` relative to one without (an eval-mode forward
#: costs ~0.27 of a training step for MCD at the classroom size, measured side by side)
EVAL_TRAIN_COST = 1.25


@dataclass(frozen=True)
class Variant:
    """One line of a grid file."""

    name: str
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class AblationRun:
    """One variant trained with one seed."""

    variant: str
    seed: int
    run_dir: Path
    cfg: Config


# --------------------------------------------------------------------------- grid files


def read_yaml_file(path: str | Path, missing: str) -> Any:
    """The content of a YAML settings file (grid, tuning file, tuned.yaml); ``missing``: what to
    say after "<path>: " when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {missing}")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None


def read_grid(path: str | Path) -> list[Variant]:
    """Parse a grid file (YAML mapping: variant name → list of ``key=value`` overrides)."""
    data = read_yaml_file(path, "grid file not found (see ablations/mcd.yaml for an example)")
    return parse_grid(data, str(path))


def parse_grid(data: Any, source: str = "grid") -> list[Variant]:
    """Variants from an already-loaded mapping (``read_grid`` for files)."""
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{source}: expected one line per variant, e.g. 'no_contrastive: [model.contrastive=off]'")
    if isinstance(data.get("models"), dict):
        raise ConfigError(f"{source} is a tuning file (models / shared / own), not an ablation grid: "
                          f"run it with `mcd tune --grid {source} ...`")
    variants = []
    for name, overrides in data.items():
        name = str(name)
        if not _NAME.match(name):
            raise ConfigError(f"{source}: variant name {name!r} must be a folder name "
                              "(letters, digits, '_', '-', '.')")
        if overrides is None:
            overrides = []
        if isinstance(overrides, str):
            overrides = [overrides]
        if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
            raise ConfigError(f"{source}: variant {name!r}: expected a list of key=value overrides, "
                              f"got {overrides!r}")
        variants.append(Variant(name, tuple(o.strip() for o in overrides)))
    return variants


def tuned_overrides(variant: Variant, base: Config, tuned: Mapping[str, Sequence[str]] | None,
                    source: str = "grid") -> tuple[str, ...]:
    """The tuned settings a variant starts from: the entry named like the variant, else the entry
    of its model family (``model.name`` after its overrides: every MCD ablation uses MCD's)."""
    if not tuned:
        return ()
    if variant.name in tuned:
        return tuple(tuned[variant.name])
    try:
        family = apply_overrides(base, list(variant.overrides)).model.name
    except ConfigError as exc:
        raise ConfigError(f"{source}: variant {variant.name!r}: {exc}") from None
    if family not in tuned:
        raise ConfigError(f"{source}: variant {variant.name!r} (model {family!r}) has no tuned settings "
                          f"(tuned models: {', '.join(tuned)}); add {family!r} to the tuning grid and rerun "
                          "`mcd tune`, or leave out --tuned")
    return tuple(tuned[family])


def plan_runs(variants: Sequence[Variant], base: Config, out_dir: str | Path, seeds: Sequence[int],
              source: str = "grid", tuned: Mapping[str, Sequence[str]] | None = None) -> list[AblationRun]:
    """Every (variant, seed) run with its settings; bad overrides fail here, before any training.

    ``tuned`` (model name → overrides, :func:`mcdlib.train.study.read_tuned`) is applied before
    each variant's own overrides (see :func:`tuned_overrides`).
    """
    runs = []
    for variant in variants:
        try:
            cfg = apply_overrides(base, list(tuned_overrides(variant, base, tuned, source)) + list(variant.overrides))
        except ConfigError as exc:
            raise ConfigError(f"{source}: variant {variant.name!r}: {exc}") from None
        for seed in seeds:
            seeded = apply_overrides(cfg, {"train.seed": seed})
            runs.append(AblationRun(variant.name, int(seed), Path(out_dir) / variant.name / f"seed{seed}", seeded))
    return runs


@dataclass(frozen=True)
class TunedSettings:
    """``tuned.yaml`` (written by ``mcd tune``): each tuned model's overrides and the budget."""

    overrides: dict[str, tuple[str, ...]]
    budget: dict[str, Any]
    source: str = ""
    models: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "budget": self.budget, "models": self.models or
                {name: {"overrides": list(o)} for name, o in self.overrides.items()}}


def read_tuned(path: str | Path) -> TunedSettings:
    """Read ``tuned.yaml``: ``{"budget": {...}, "models": {name: {"overrides": [key=value, ...], ...}}}``."""
    path = Path(path)
    data = read_yaml_file(path, "tuned settings not found; run `mcd tune --grid ablations/tuning.yaml ... "
                                f"--out {path.parent}` first") or {}
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict) or not models:
        raise ConfigError(f"{path}: expected 'models: {{name: {{overrides: [key=value, ...]}}}}' (written by mcd tune)")
    overrides = {}
    for name, entry in models.items():
        values = (entry or {}).get("overrides") if isinstance(entry, dict) else None
        if not isinstance(values, list) or not all(isinstance(o, str) and "=" in o for o in values):
            raise ConfigError(f"{path}: model {name!r}: expected 'overrides: [key=value, ...]', got {values!r}")
        overrides[str(name)] = tuple(values)
    return TunedSettings(overrides, dict(data.get("budget") or {}), str(path), models)


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` → ``[0, 1, 2]``; also ``"0-4"``."""
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in str(text).split(","))):
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                seeds.extend(range(int(lo), int(hi) + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers such as 0,1,2 (or 0-4)") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: give at least one seed, each once")
    return seeds


# --------------------------------------------------------------------------- running


def run_state(run_dir: str | Path) -> str:
    """``finished``, ``interrupted`` (a checkpoint to resume from) or ``new``."""
    run = RunFolder(run_dir)
    if run.is_finished():
        return "finished"
    return "interrupted" if run.last.is_file() else "new"


def ensure_trained(cfg: Config, run_dir: str | Path, progress: bool | None = None,
                   datasets: Mapping[str, Any] | None = None, model_factory: ModelFactory | None = None) -> str:
    """Load-if-cached-else-train: skip a finished run, resume an interrupted one, else train.

    Returns what was done: ``skipped``, ``resumed`` or ``trained``. (A finished run folder
    trained with other settings is not checked here: :func:`mcdlib.train.train` does that
    when it resumes.)
    """
    state = run_state(run_dir)
    if state == "finished":
        return "skipped"
    train(cfg, run_dir, resume=state == "interrupted", progress=progress, datasets=datasets,
          model_factory=model_factory)
    return "resumed" if state == "interrupted" else "trained"


def train_one(run: AblationRun, progress: bool | None = None, datasets: Mapping[str, Any] | None = None,
              model_factory: ModelFactory | None = None) -> str:
    """Train (or resume, or skip) one run of a grid; returns what was done."""
    return ensure_trained(run.cfg, run.run_dir, progress, datasets, model_factory)


def check_planned(run: AblationRun) -> None:
    """Refuse a finished run folder whose settings are not the planned ones (another preset,
    other tuned settings, another number of epochs): a study never mixes configurations."""
    folder = RunFolder(run.run_dir)
    if not folder.config.is_file():
        return
    saved = load_config(folder.config)
    diffs = config_diff(saved, run.cfg)
    if saved.train.epochs != run.cfg.train.epochs:
        diffs.append(f"train.epochs: {saved.train.epochs!r} -> {run.cfg.train.epochs!r}")
    if diffs:
        shown = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
        raise RunError(f"{run.run_dir} was trained with other settings than planned ({shown}); choose another "
                       "--out folder for these settings, or delete that run folder to retrain it")


def train_runs(runs: Sequence[AblationRun], base: Config, progress: bool | None = None, *,
               datasets: Mapping[str, Any] | None = None, model_factory: ModelFactory | None = None,
               after_each=None, desc: str = "ablation", jobs: int = 1) -> bool:
    """Train (or resume, or skip) every run, in order; ``after_each(run)`` runs on rank 0 after
    each one (e.g. scoring). Under torchrun: one process group for every run. Returns whether
    this process is rank 0 (the one that writes tables).

    ``jobs`` > 1: that many runs train at a time, each in its own process (see
    :func:`train_runs_parallel`); ``after_each`` then runs for every run once all are trained."""
    if jobs > 1:
        train_runs_parallel(runs, jobs, progress=base.train.progress if progress is None else progress,
                            desc=desc, in_memory=datasets is not None or model_factory is not None)
        for run in runs:
            if after_each is not None:
                after_each(run)
        return True
    dist = setup(base.train.device)
    try:
        show = (base.train.progress if progress is None else progress) and dist.is_main
        bar = progress_bar(runs, enabled=show, desc=desc, unit="run")
        for run in bar:
            bar.set_postfix_str(f"{run.variant} seed {run.seed}")
            try:
                if run_state(run.run_dir) == "finished":
                    check_planned(run)
                train_one(run, progress=show, datasets=datasets, model_factory=model_factory)
                if dist.is_main and after_each is not None:  # scoring writes files: rank 0 only
                    after_each(run)
                dist.barrier()
            except McdError as exc:
                raise type(exc)(f"{desc} run {run.run_dir} ({run.variant}, seed {run.seed}): {exc}") from None
    finally:
        dist.close()
    return dist.is_main


def _train_in_worker(run: AblationRun, threads: int) -> tuple[str, str, str]:
    """One run in a worker process of :func:`train_runs_parallel`: (done, error class, message)."""
    if run.cfg.train.threads == 0:  # torch's default would give every worker every core
        import torch

        torch.set_num_threads(threads)
    try:
        return train_one(run, progress=False), "", ""
    except McdError as exc:
        return "failed", type(exc).__name__, str(exc)


def prepare_data(runs: Sequence[AblationRun], progress: bool = True) -> None:
    """Pack the features and build the caches (text, vocabularies) every run's data needs, once,
    here: parallel workers then only read them, never build the same files at the same time."""
    from mcdlib.train.loop import data_config_for, open_datasets

    seen: set[str] = set()
    for run in runs:
        key = repr(data_config_for(run.cfg))
        if key not in seen:
            seen.add(key)
            try:
                open_datasets(run.cfg, ("train", "val"), progress=progress)
            except McdError as exc:
                raise type(exc)(f"run {run.run_dir} ({run.variant}, seed {run.seed}): {exc}") from None


def train_runs_parallel(runs: Sequence[AblationRun], jobs: int, progress: bool = True, desc: str = "ablation",
                        in_memory: bool = False) -> None:
    """Train the unfinished ``runs`` ``jobs`` at a time, each in its own (spawned) process.

    The data (packed features, caches) is prepared here first (:func:`prepare_data`). Each run
    folder is locked by its own training and each run is seeded by itself, so with a set
    ``train.threads`` every run ends bit-identical to training the runs one after the other; a run
    with ``train.threads=0`` gets ``cpu_count // jobs`` threads (the last bits may then differ from
    a run using every core). After a failure no new run starts, the runs already training finish,
    then the failure is raised naming its run (rerun to resume). Ctrl-C reaches the workers too:
    each checkpoints and stops. Not under torchrun, not with in-memory datasets or model factories
    (a worker reads the data from ``data.root``)."""
    import multiprocessing
    import os
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    from mcdlib import errors

    if in_memory:
        raise ConfigError("--jobs > 1 trains each run in its own process from data.root: "
                          "not with in-memory datasets or a model factory (use jobs=1)")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("--jobs > 1 is not for torchrun (DDP already uses every process): use --jobs 1")
    todo = []
    for run in runs:
        if run_state(run.run_dir) == "finished":
            check_planned(run)
        else:
            todo.append(run)
    if not todo:
        return
    prepare_data(todo, progress)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    queue = list(todo)
    running: dict[Any, AblationRun] = {}
    failure: McdError | None = None
    bar = progress_bar(total=len(todo), enabled=progress, desc=f"{desc} ({jobs} at a time)", unit="run")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=multiprocessing.get_context("spawn"))
    try:
        while queue or running:
            while queue and len(running) < jobs:  # never more in flight than workers: nothing waits queued
                run = queue.pop(0)
                running[pool.submit(_train_in_worker, run, threads)] = run
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                run = running.pop(future)
                try:
                    status, kind, message = future.result()
                except Exception as exc:  # the worker died (out of memory, killed) or raised outside McdError
                    status, kind = "failed", "RunError"
                    message = (f"its process stopped ({type(exc).__name__}: {exc}); rerun the command to resume "
                               "it from its last checkpoint")
                if status == "failed":
                    error = getattr(errors, kind, McdError)
                    error = error if isinstance(error, type) and issubclass(error, McdError) else McdError
                    failure = failure or error(f"{desc} run {run.run_dir} ({run.variant}, seed {run.seed}): {message}")
                    queue.clear()  # no new run; those training finish
                    continue
                bar.update(1)
                bar.set_postfix_str(f"{run.variant} seed {run.seed} {status}")
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C the workers checkpoint and stop themselves
        raise
    finally:
        bar.close()
    pool.shutdown(wait=True)
    if failure is not None:
        raise failure


# --------------------------------------------------------------------------- the cost of a plan


def plan_summary(runs: Sequence[AblationRun], epoch_seconds: Mapping[str, float] | None = None) -> str:
    """What a plan will train: runs and epochs per model family (finished runs cost nothing), and
    the CPU time when ``epoch_seconds`` (model name → seconds per epoch, measured) is given."""
    families: dict[str, dict[str, float]] = {}
    for run in runs:
        state = run_state(run.run_dir)
        done = int(RunFolder(run.run_dir).status().get("epochs_done") or 0) if state == "interrupted" else 0
        row = families.setdefault(run.cfg.model.name, {"runs": 0, "finished": 0, "epochs": 0})
        row["runs"] += 1
        row["finished"] += state == "finished"
        left = 0 if state == "finished" else max(run.cfg.train.epochs - done, 0)
        row["epochs"] += left * (EVAL_TRAIN_COST if run.cfg.train.eval_train else 1.0)
    lines = [f"{'model':<8}{'runs':>6}{'finished':>10}{'epochs to train':>17}" + ("   CPU time" if epoch_seconds else "")]
    total = 0.0
    for name, row in families.items():
        line = f"{name:<8}{row['runs']:>6}{row['finished']:>10}{row['epochs']:>17.0f}"
        if epoch_seconds:
            if name not in epoch_seconds:
                line += "   (no --epoch-seconds for it)"
            else:
                seconds = row["epochs"] * float(epoch_seconds[name])
                total += seconds
                line += f"   {seconds / 3600:7.2f} h"
        lines.append(line)
    if epoch_seconds:
        lines.append(f"total {total / 3600:.2f} CPU-process hours (an eval_train epoch counted as "
                     f"{EVAL_TRAIN_COST} epochs)")
    return "\n".join(lines)


def parse_epoch_seconds(text: str) -> dict[str, float]:
    """``"mcd=38,avst=10"`` → ``{"mcd": 38.0, "avst": 10.0}``."""
    out = {}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        name, _, value = part.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"--epoch-seconds {text!r}: expected model=seconds pairs such as mcd=38,avst=10") from None
    return out
