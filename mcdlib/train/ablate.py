"""Ablation grids: every variant × seed as its own run, then one table of mean ± std.

A grid file lists variants, one line per variant: a name and the ``key=value`` overrides that
turn the base settings (preset + ``--set``) into that variant::

    mcd: []                                   # the full model
    no_contrastive: [model.contrastive=off]
    late_audio: [model.name=late, model.modalities=a]

:func:`run_ablation` trains each variant with each seed into ``OUT/<variant>/seed<k>`` (a
normal run folder, ``train.seed = k``), scores its best checkpoint on the evaluation split with
the official evaluation, and writes ``OUT/ablation.csv`` and ``OUT/ablation.md``: the 13
official accuracies per variant (AVQA data: per question type, relation and overall) as mean ±
standard deviation over seeds, plus ``train``
(final-epoch train accuracy), ``val`` (val accuracy at the best epoch) and ``gap``
(train − val, the overfitting measure of the decision-level fusion study). It is resumable:
finished runs are skipped, interrupted ones resumed, scores already computed are reused.
Under ``torchrun`` every run is trained with DDP; rank 0 scores the runs and writes the table.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from mcdlib.config import Config, apply_overrides
from mcdlib.errors import ConfigError, McdError
from mcdlib.evaluation import REPORT_ROWS
from mcdlib.train.distributed import setup
from mcdlib.train.expectations import check_expectations, expectations_markdown
from mcdlib.train.loop import ModelFactory, progress_bar, train
from mcdlib.train.predict import evaluate_run
from mcdlib.train.run_folder import RunFolder, read_json

#: the 13 official lines, in order
ACCURACY_COLUMNS: tuple[str, ...] = tuple(row.label for row in REPORT_ROWS)
#: train-vs-val columns appended to the table
GAP_COLUMNS: tuple[str, ...] = ("train", "val", "gap")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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


@dataclass
class RunScores:
    """What the table needs from one finished run."""

    variant: str
    seed: int
    accuracies: dict[str, float | None]  # the table lines on the evaluation split (MUSIC-AVQA: 13)
    train: float | None  # final-epoch train accuracy
    val: float | None  # val accuracy at the best epoch

    @property
    def gap(self) -> float | None:
        return None if self.train is None or self.val is None else self.train - self.val

    def values(self) -> dict[str, float | None]:
        return {**self.accuracies, "train": self.train, "val": self.val, "gap": self.gap}


@dataclass
class AblationTable:
    """Mean and standard deviation per variant and column (None where no value exists)."""

    rows: list[dict[str, Any]] = field(default_factory=list)  # {"variant", "seeds", col: (mean, std)}
    columns: tuple[str, ...] = ACCURACY_COLUMNS + GAP_COLUMNS

    def to_markdown(self, digits: int = 2) -> str:
        head = ["variant", "seeds", *self.columns]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows:
            cells = [row["variant"], str(row["seeds"])]
            cells += [format_mean_std(*row[c], digits=digits) for c in self.columns]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["variant", "seeds"] + [f"{c} {s}" for c in self.columns for s in ("mean", "std")])
            for row in self.rows:
                values = [v for c in self.columns for v in row[c]]
                writer.writerow([row["variant"], row["seeds"]] + ["" if v is None else round(v, 4) for v in values])
        return path

    @classmethod
    def read_csv(cls, path: str | Path) -> "AblationTable":
        """Read back a table written by :meth:`write_csv` (``ablation.csv``)."""
        path = Path(path)
        if not path.is_file():
            raise McdError(f"{path}: no ablation table there; run `mcd ablate ... --out {path.parent}` first")
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header or header[:2] != ["variant", "seeds"] or (len(header) - 2) % 2:
                raise McdError(f"{path}: not an ablation table (expected 'variant,seeds,<column> mean,<column> std,...')")
            columns = tuple(h[:-len(" mean")] for h in header[2::2])
            if any(not h.endswith(" mean") for h in header[2::2]) or any(not h.endswith(" std") for h in header[3::2]):
                raise McdError(f"{path}: not an ablation table (columns must alternate '<name> mean', '<name> std')")
            rows = []
            for line_no, values in enumerate(reader, start=2):
                if not values:
                    continue
                if len(values) != len(header):
                    raise McdError(f"{path}: line {line_no} has {len(values)} fields, the header {len(header)}")
                try:
                    numbers = [None if v == "" else float(v) for v in values[2:]]
                    row: dict[str, Any] = {"variant": values[0], "seeds": int(values[1])}
                except ValueError as exc:
                    raise McdError(f"{path}: line {line_no}: {exc}") from None
                for i, column in enumerate(columns):
                    row[column] = (numbers[2 * i], numbers[2 * i + 1])
                rows.append(row)
        return cls(rows, columns)


# --------------------------------------------------------------------------- grid files


def read_grid(path: str | Path) -> list[Variant]:
    """Parse a grid file (YAML mapping: variant name → list of ``key=value`` overrides)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: grid file not found (see ablations/mcd.yaml for an example)")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse_grid(data, str(path))


def parse_grid(data: Any, source: str = "grid") -> list[Variant]:
    """Variants from an already-loaded mapping (``read_grid`` for files)."""
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{source}: expected one line per variant, e.g. 'no_contrastive: [model.contrastive=off]'")
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


def plan_runs(variants: Sequence[Variant], base: Config, out_dir: str | Path, seeds: Sequence[int],
              source: str = "grid") -> list[AblationRun]:
    """Every (variant, seed) run with its settings; bad overrides fail here, before any training."""
    runs = []
    for variant in variants:
        try:
            cfg = apply_overrides(base, list(variant.overrides))
        except ConfigError as exc:
            raise ConfigError(f"{source}: variant {variant.name!r}: {exc}") from None
        for seed in seeds:
            seeded = apply_overrides(cfg, {"train.seed": seed})
            runs.append(AblationRun(variant.name, int(seed), Path(out_dir) / variant.name / f"seed{seed}", seeded))
    return runs


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


def score_run(run: AblationRun, split: str, datasets: Mapping[str, Any] | None = None,
              model_factory: ModelFactory | None = None, progress: bool | None = None) -> RunScores:
    """The run's accuracies on ``split``, every line of its table (cached in ``scores_<split>.json``)."""
    folder = RunFolder(run.run_dir)
    scores_path = folder.scores(split)
    fresh = scores_path.is_file() and scores_path.stat().st_mtime >= folder.best.stat().st_mtime
    if not fresh:
        evaluate_run(run.run_dir, split, dataset=(datasets or {}).get(split), model_factory=model_factory,
                     progress=progress)
    rows = read_json(scores_path)["rows"]
    status = folder.status()
    return RunScores(run.variant, run.seed, dict(rows),
                     status.get("final_train_acc"), status.get("best_val_acc"))


def run_ablation(variants: Sequence[Variant], base: Config, out_dir: str | Path, seeds: Sequence[int] = (0, 1, 2),
                 split: str = "test", progress: bool | None = None, *, train_missing: bool = True,
                 datasets: Mapping[str, Any] | None = None,
                 model_factory: ModelFactory | None = None, source: str = "grid") -> AblationTable:
    """Train and score every variant × seed (resumably) and write ``ablation.csv`` / ``.md``.

    ``datasets`` ({"train", "val", split}) and ``model_factory`` are passed to
    :func:`mcdlib.train.train` (in-memory data in notebooks, fakes in tests). With
    ``train_missing=False`` nothing is trained: the table covers the finished runs only (its
    ``seeds`` column says how many each variant has).
    """
    runs = plan_runs(variants, base, out_dir, seeds, source)
    if not train_missing:
        runs = [run for run in runs if run_state(run.run_dir) == "finished"]
    dist = setup(base.train.device)  # under torchrun: one process group for every run
    try:
        show = (base.train.progress if progress is None else progress) and dist.is_main
        scores = []
        bar = progress_bar(runs, enabled=show, desc="ablation", unit="run")
        for run in bar:
            bar.set_postfix_str(f"{run.variant} seed {run.seed}")
            try:
                train_one(run, progress=show, datasets=datasets, model_factory=model_factory)
                if dist.is_main:  # scoring writes files: rank 0 only
                    scores.append(score_run(run, split, datasets, model_factory, progress=show))
                dist.barrier()
            except McdError as exc:
                raise type(exc)(f"ablation run {run.run_dir} ({run.variant}, seed {run.seed}): {exc}") from None
    finally:
        dist.close()
    table = aggregate(scores)
    if not dist.is_main:
        return table
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table.write_csv(out / "ablation.csv")
    (out / "ablation.md").write_text(f"Ablation on the {split} split: mean ± std over seeds "
                                     f"{', '.join(map(str, seeds))} (accuracy %; train = final-epoch train "
                                     "accuracy, val = val accuracy at the best epoch, gap = train - val)\n\n"
                                     + table.to_markdown() + "\n## Expectations (tested, not forced)\n\n"
                                     + expectations_markdown(check_expectations(table)))
    return table


# --------------------------------------------------------------------------- table math


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (n-1; 0.0 for one value), ignoring None."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return None, None
    mean = sum(present) / len(present)
    if len(present) == 1:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in present) / (len(present) - 1)
    return mean, math.sqrt(var)


def aggregate(scores: Sequence[RunScores]) -> AblationTable:
    """One row per variant (in first-seen order): mean ± std of every column over its seeds.

    The accuracy columns are the table lines of the scores (the 13 official ones for MUSIC-AVQA,
    per type / relation / overall for AVQA), then :data:`GAP_COLUMNS`."""
    accuracy = list(dict.fromkeys(c for s in scores for c in s.accuracies)) or list(ACCURACY_COLUMNS)
    table = AblationTable(columns=tuple(accuracy) + GAP_COLUMNS)
    by_variant: dict[str, list[RunScores]] = {}
    for s in scores:
        by_variant.setdefault(s.variant, []).append(s)
    for variant, runs in by_variant.items():
        row: dict[str, Any] = {"variant": variant, "seeds": len(runs)}
        for column in table.columns:
            row[column] = mean_std([r.values().get(column) for r in runs])
        table.rows.append(row)
    return table


def format_mean_std(mean: float | None, std: float | None, digits: int = 2) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"
