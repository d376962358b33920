"""The study protocol: every measure and every verdict behind mcdlib's comparisons, in one place.

Notebooks 05/06, ``mcd ablate``, ``mcd tune`` and BENCHMARKS.md only call this module.

**Per run** (:func:`score_run`), always at the *selected* checkpoint (the epoch with the best val
accuracy, ``checkpoints/best.pt``) and always in eval mode:

* the official accuracies on the evaluation split (``scores_<split>.json``);
* ``train``: accuracy on the train split (``run.json``'s ``train_eval_acc_at_best`` when the run
  was trained with ``train.eval_train=true``, else ``scores_train.json``: the same measure, the
  best weights scored on the train split); ``val``: val accuracy (``best_val_acc``);
  ``gap = train - val``, the overfitting measure of the decision-level fusion study;
* which question of the evaluation split it answered right (for the bootstrap).

**Per comparison** a *claim* "``a`` > ``b`` on ``metric``" (a table column, or a contrast
``drop[X] - drop[Y]`` = (a_X − b_X) − (a_Y − b_Y): "removing a sense costs X more than Y"):

* paired over seeds (the same seeds and data for both): the mean difference with a Student-t
  confidence interval (:func:`paired_difference`, 95 % by default);
* a second view within each seed: a paired bootstrap over the evaluation questions
  (:func:`paired_bootstrap`, percentile interval);
* the verdict: ``held`` when the interval excludes 0 on the claimed side, ``opposite`` when it
  excludes 0 on the other side, ``not shown`` otherwise (fewer than 2 seeds included), ``not
  tested`` when a variant is missing. Headline comparisons (MCD vs each baseline, each modality
  removal, each fusion variant) want 5 seeds, the other ablations 3.

**Expectations** (:data:`EXPECTATIONS`) are claims built from comparisons, each labelled
``KNOWN`` (the paper's: only "decision-level fusion overfits") or ``ours`` (mcdlib's
hypotheses); an expectation holds when every one of its comparisons held. Nothing is forced:
what did not hold is reported as such.

**Ceilings** (a report, never a target): next to each model's accuracy per official row, the
single-sense and perfect-perception ceilings of the data when the dataset provides them
(``mcdlib.scenes.ceilings.read_ceilings``).

**Tuning** (:func:`select_configuration`): each model's configuration is the one with the best
val accuracy among its configurations (ties: the first in grid order); the test split is never
read (see :mod:`mcdlib.train.tuning`).

:func:`run_ablation` trains a grid (:mod:`mcdlib.train.ablate`), scores it and writes
``ablation.csv``, ``ablation.md`` (table, comparisons, expectations, ceilings) and
``study.json``::

    {"protocol": {...}, "dataset": {...}, "tuning": {...} | null, "variants": [...],
     "comparisons": [{"a", "b", "metric", "diff_mean", "ci95": [lo, hi], "n_seeds", "verdict",
                      "claim", "headline", "seeds_wanted", "seeds", "a_mean", "b_mean", "sd",
                      "bootstrap": {...} | null}, ...],
     "expectations": [{"expectation", "label", "verdict", "comparisons": [...]}, ...],
     "ceilings": {...} | null, "ceilings_note": "..."}

>>> d = paired_difference([57.1, 58.0, 56.4], [52.3, 53.0, 52.5])
>>> round(d.diff_mean, 2), d.verdict
(4.57, 'held')
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from mcdlib.config import Config, DataConfig, load_config
from mcdlib.data.report_scheme import MUSIC_AVQA_SCHEME, ReportScheme
from mcdlib.errors import McdError
from mcdlib.evaluation import REPORT_ROWS, load_predictions, question_correctness
from mcdlib.train.ablate import (AblationRun, TunedSettings, Variant, plan_runs, read_tuned, run_state,
                                 train_runs)
from mcdlib.train.loop import ModelFactory
from mcdlib.train.predict import evaluate_run
from mcdlib.train.run_folder import RunFolder, read_json, read_metrics, write_json

#: verdicts
HELD, NOT_SHOWN, OPPOSITE, NOT_TESTED = "held", "not shown", "opposite", "not tested"
#: expectation labels: the paper's claim, or mcdlib's hypothesis
KNOWN, OURS = "KNOWN", "ours"
CONFIDENCE = 0.95
N_BOOT = 2000
#: seeds each kind of comparison wants
HEADLINE_SEEDS, OTHER_SEEDS = 5, 3
REFERENCE = "mcd"
#: the 13 official lines, in order
ACCURACY_COLUMNS: tuple[str, ...] = tuple(row.label for row in REPORT_ROWS)
#: the train-vs-val columns appended to the table (eval mode, selected checkpoint)
GAP_COLUMNS: tuple[str, ...] = ("train", "val", "gap")
SCENARIO_COLUMNS: tuple[str, ...] = ("Audio (all)", "Visual (all)", "Audio-Visual (all)")
BASELINES: tuple[str, ...] = ("late", "late_audio", "late_visual", "qonly", "avst")
MODALITY_REMOVALS: tuple[str, ...] = ("inputs_question_only", "inputs_question_audio", "inputs_question_visual")
FUSION_VARIANTS: tuple[str, ...] = ("fusion_concat", "fusion_add")
#: the variants of the headline comparisons (5 seeds); every other variant wants 3
HEADLINE_VARIANTS: tuple[str, ...] = (REFERENCE,) + BASELINES + MODALITY_REMOVALS + FUSION_VARIANTS
CEILING_VIEWS: tuple[str, ...] = ("prior", "vision_only", "audio_only", "perfect")
_CONTRAST = re.compile(r"^drop\[(.+)\] - drop\[(.+)\]$")


# =========================================================================== statistics


@dataclass(frozen=True)
class PairedDifference:
    """A paired difference a − b with its confidence interval and verdict (claim: a > b).

    ``method``: ``t`` (over seeds, Student-t interval) or ``bootstrap`` (over questions,
    percentile interval); ``n``: pairs (seeds or questions); ``sd``: the standard deviation of
    the paired differences (t) or of the bootstrap distribution.
    """

    diff_mean: float | None
    ci95: tuple[float | None, float | None]
    n: int
    verdict: str
    method: str = "t"
    confidence: float = CONFIDENCE
    sd: float | None = None

    def describe(self, digits: int = 2) -> str:
        """``+4.57 [2.10, 7.04]`` (or ``+4.57, no interval`` for a single pair)."""
        if self.diff_mean is None:
            return "-"
        lo, hi = self.ci95
        if lo is None:
            return f"{self.diff_mean:+.{digits}f}, no interval"
        return f"{self.diff_mean:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]"

    def to_dict(self) -> dict[str, Any]:
        return {"diff_mean": _round(self.diff_mean), "ci95": [_round(self.ci95[0]), _round(self.ci95[1])],
                "n": self.n, "verdict": self.verdict, "method": self.method, "confidence": self.confidence,
                "sd": _round(self.sd)}


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def verdict_of(lo: float | None, hi: float | None) -> str:
    """``held`` when the interval lies above 0, ``opposite`` below 0, else ``not shown``."""
    if lo is None or hi is None:
        return NOT_SHOWN
    if lo > 0:
        return HELD
    if hi < 0:
        return OPPOSITE
    return NOT_SHOWN


def _pairs(a, b) -> list[tuple[float, float]]:
    """Aligned (a, b) pairs: by key for two mappings (e.g. seed → value), by position otherwise;
    pairs with a missing or non-finite value are dropped."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        pairs = [(a[k], b[k]) for k in a if k in b]
    else:
        a, b = list(a), list(b)
        if len(a) != len(b):
            raise ValueError(f"paired values need one b per a: got {len(a)} and {len(b)}")
        pairs = list(zip(a, b))
    out = []
    for x, y in pairs:
        if x is None or y is None:
            continue
        x, y = float(x), float(y)
        if math.isfinite(x) and math.isfinite(y):
            out.append((x, y))
    return out


def t_quantile(probability: float, df: int) -> float:
    """The Student-t quantile (scipy)."""
    from scipy.stats import t

    return float(t.ppf(probability, df))


def paired_difference(a, b, confidence: float = CONFIDENCE) -> PairedDifference:
    """Mean of the paired differences a_i − b_i with a Student-t interval (n − 1 degrees of freedom).

    ``a`` and ``b``: per-seed values of the two things compared, as sequences in the same seed
    order or as mappings seed → value (aligned by seed). Identical runs give a zero-width
    interval at 0 (``not shown``); one pair gives the difference without an interval.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    diffs = np.array([x - y for x, y in _pairs(a, b)], dtype=np.float64)
    n = len(diffs)
    if n == 0:
        return PairedDifference(None, (None, None), 0, NOT_TESTED, "t", confidence)
    mean = float(diffs.mean())
    if n == 1:
        return PairedDifference(mean, (None, None), 1, NOT_SHOWN, "t", confidence)
    sd = float(diffs.std(ddof=1))
    if sd < 1e-12 * max(1.0, abs(mean)):  # identical differences: no spread (not float noise)
        sd = 0.0
    half = t_quantile(1 - (1 - confidence) / 2, n - 1) * sd / math.sqrt(n)
    lo, hi = mean - half, mean + half
    return PairedDifference(mean, (lo, hi), n, verdict_of(lo, hi), "t", confidence, sd)


def _bootstrap(statistic: Callable[[np.ndarray], np.ndarray], n: int, n_boot: int, seed: int,
               confidence: float) -> PairedDifference:
    """Percentile bootstrap of ``statistic(index rows [k, n]) -> [k]`` over n paired items."""
    if n == 0:
        return PairedDifference(None, (None, None), 0, NOT_TESTED, "bootstrap", confidence)
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    observed = float(statistic(np.arange(n)[None, :])[0])
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, 4_000_000 // max(n, 1)))
    stats = []
    for start in range(0, n_boot, chunk):
        stats.append(statistic(rng.integers(0, n, size=(min(chunk, n_boot - start), n))))
    values = np.concatenate(stats)
    values = values[np.isfinite(values)]
    if not len(values) or not math.isfinite(observed):
        return PairedDifference(None if not math.isfinite(observed) else observed, (None, None), n, NOT_SHOWN,
                                "bootstrap", confidence)
    alpha = (1 - confidence) / 2
    lo, hi = (float(v) for v in np.quantile(values, [alpha, 1 - alpha]))
    sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return PairedDifference(observed, (lo, hi), n, verdict_of(lo, hi), "bootstrap", confidence, sd)


def paired_bootstrap(correct_a, correct_b, n_boot: int = N_BOOT, seed: int = 0,
                     confidence: float = CONFIDENCE) -> PairedDifference:
    """Accuracy difference a − b (points) on the same questions, with a paired bootstrap interval.

    ``correct_a`` / ``correct_b``: 0/1 (or bool) per question, in the same question order (one
    seed of each model). The questions are resampled with replacement ``n_boot`` times (seeded);
    the interval is the percentile interval of the resampled differences.
    """
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"paired_bootstrap needs two 1-d arrays over the same questions, got shapes "
                         f"{a.shape} and {b.shape}")
    d = 100.0 * (a - b)
    return _bootstrap(lambda idx: d[idx].mean(axis=-1), len(d), n_boot, seed, confidence)


def _row_statistic(d: np.ndarray, cells: np.ndarray, metric: str,
                   scheme: ReportScheme = MUSIC_AVQA_SCHEME) -> Callable[[np.ndarray], np.ndarray] | None:
    """The bootstrap statistic of a metric on per-question differences d = 100·(a − b): the mean
    over a row's questions, or the difference of two rows' means for a contrast; None when the
    metric is not a row of the evaluation split's table (e.g. ``gap``; rows: ``scheme``)."""
    row_cells = {row.label: row.cells for row in scheme.rows}

    def row_mean(label: str):
        cells_of = row_cells.get(label)
        if cells_of is None:
            return None
        mask = np.isin(cells, cells_of).astype(np.float64)

        def mean(idx):
            m = mask[idx]
            with np.errstate(invalid="ignore", divide="ignore"):
                return (d[idx] * m).sum(-1) / m.sum(-1)
        return mean

    contrast = _CONTRAST.match(metric)
    if contrast:
        x, y = row_mean(contrast.group(1)), row_mean(contrast.group(2))
        return None if x is None or y is None else (lambda idx: x(idx) - y(idx))
    return row_mean(metric)


# =========================================================================== per-run measures


@dataclass
class Outcomes:
    """Which questions of a split one run answered right (sorted by question id)."""

    question_id: np.ndarray  # str
    correct: np.ndarray  # bool
    cell: np.ndarray  # cell index of ``scheme``
    scheme: ReportScheme = MUSIC_AVQA_SCHEME  # the dataset format's cells and rows


@dataclass
class RunScores:
    """What the study needs from one finished run."""

    variant: str
    seed: int
    accuracies: dict[str, float | None]  # the table lines on the evaluation split
    train: float | None  # eval-mode train accuracy at the selected checkpoint
    val: float | None  # val accuracy at the selected checkpoint
    outcomes: Outcomes | None = None  # per question of the evaluation split (bootstrap)

    @property
    def gap(self) -> float | None:
        return None if self.train is None or self.val is None else self.train - self.val

    def values(self) -> dict[str, float | None]:
        return {**self.accuracies, "train": self.train, "val": self.val, "gap": self.gap}


def _cached_scores(run_dir: str | Path, split: str, dataset=None, model_factory: ModelFactory | None = None,
                   progress: bool | None = None) -> dict[str, Any]:
    """``scores_<split>.json`` of the run's best checkpoint (recomputed when older than best.pt)."""
    folder = RunFolder(run_dir)
    path = folder.scores(split)
    fresh = (path.is_file() and folder.predictions(split).is_file()
             and path.stat().st_mtime >= folder.best.stat().st_mtime)
    if not fresh:
        evaluate_run(run_dir, split, dataset=dataset, model_factory=model_factory, progress=progress)
    return read_json(path)


def selected_accuracy(run_dir: str | Path, split: str, *, dataset=None, model_factory: ModelFactory | None = None,
                      progress: bool | None = None) -> float | None:
    """Eval-mode overall accuracy of the run's selected (best-val) checkpoint on ``split``.

    ``val``: ``run.json``'s ``best_val_acc``; ``train``: ``train_eval_acc_at_best`` when the run
    logged it (``train.eval_train``), else the best checkpoint scored on the train split
    (``scores_train.json``, computed once); any other split: ``scores_<split>.json``.
    """
    status = RunFolder(run_dir).status()
    if split == "val" and status.get("best_val_acc") is not None:
        return float(status["best_val_acc"])
    if split == "train" and status.get("train_eval_acc_at_best") is not None:
        return float(status["train_eval_acc_at_best"])
    return _cached_scores(run_dir, split, dataset, model_factory, progress)["rows"].get("Overall")


def selected_gap(run_dir: str | Path, *, dataset=None, model_factory: ModelFactory | None = None,
                 progress: bool | None = None) -> dict[str, float | None]:
    """``{"train", "val", "gap"}`` of one run at its selected checkpoint, in eval mode (the
    overfitting measure of the study; ``dataset``: the train split when it is in memory)."""
    train_acc = selected_accuracy(run_dir, "train", dataset=dataset, model_factory=model_factory, progress=progress)
    val_acc = selected_accuracy(run_dir, "val")
    return {"train": train_acc, "val": val_acc,
            "gap": None if train_acc is None or val_acc is None else train_acc - val_acc}


@lru_cache(maxsize=16)
def _split_questions(root: str, name: str, annotations: str, duplicates: str, fmt: str) -> tuple:
    """The questions of a split, in either format (cached: every run of a grid reads the same)."""
    from mcdlib.data.formats import get_format

    cfg = DataConfig(root=root, annotations=annotations, duplicates=duplicates, format=fmt)
    return tuple(get_format(cfg).load_split(cfg, name))


def question_outcomes(run_dir: str | Path, split: str, dataset=None) -> Outcomes | None:
    """Per-question correctness of the run's ``predictions_<split>.json`` (None when the
    predictions or the split's answers cannot be read: then there is no bootstrap view)."""
    folder = RunFolder(run_dir)
    try:
        predictions = load_predictions(folder.predictions(split))
        if dataset is not None and getattr(dataset, "questions", None) is not None:
            questions = list(dataset.questions)
        else:
            from mcdlib.data.dataset import split_name

            data = load_config(folder.require_config()).data
            questions = list(_split_questions(str(data.root), split_name(data, split), data.annotations,
                                              data.duplicates, getattr(data, "format", "auto")))
        correct, cells, scheme = question_correctness({int(k): v for k, v in predictions.items()}, questions,
                                                      str(folder.predictions(split)))
    except McdError:
        return None
    ids = np.array([str(q.question_id) for q in questions])
    order = np.argsort(ids, kind="stable")
    return Outcomes(ids[order], correct[order], cells[order], scheme)


def score_run(run: AblationRun, split: str = "test", datasets: Mapping[str, Any] | None = None,
              model_factory: ModelFactory | None = None, progress: bool | None = None) -> RunScores:
    """The run's official accuracies on ``split``, its eval-mode train and val accuracies at the
    selected checkpoint and its per-question outcomes (every score cached in the run folder)."""
    datasets = datasets or {}
    rows = _cached_scores(run.run_dir, split, datasets.get(split), model_factory, progress)["rows"]
    train_acc = selected_accuracy(run.run_dir, "train", dataset=datasets.get("train"), model_factory=model_factory,
                                  progress=progress)
    val_acc = selected_accuracy(run.run_dir, "val", model_factory=model_factory, progress=progress)
    return RunScores(run.variant, run.seed, dict(rows), train_acc, val_acc,
                     question_outcomes(run.run_dir, split, datasets.get(split)))


def gap_curve(records: Sequence[Mapping[str, Any]], train: str = "auto") -> list[float | None]:
    """Train minus val accuracy per epoch, in points (None where an epoch has no such value).

    ``train``: ``eval`` (the ``train_eval`` records of ``train.eval_train``: the same weights in
    eval mode, the honest curve), ``running`` (the running accuracy of the training epoch:
    dropout on, weights moving) or ``auto`` (eval when the run logged it, else running).
    """
    if train not in ("auto", "eval", "running"):
        raise ValueError(f"train must be auto, eval or running, got {train!r}")
    if train == "auto":
        train = curve_source(records)
    key = "train_eval" if train == "eval" else "train"
    out = []
    for r in records:
        t, v = (r.get(key) or {}).get("acc"), (r.get("val") or {}).get("acc")
        out.append(None if t is None or v is None else t - v)
    return out


def curve_source(records: Sequence[Mapping[str, Any]]) -> str:
    """``eval`` when the run logged eval-mode train accuracies, else ``running``."""
    return "eval" if any(r.get("train_eval") for r in records) else "running"


# =========================================================================== the table


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
            cells += [format_mean_std(*row.get(c, (None, None)), digits=digits) for c in self.columns]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def row(self, variant: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["variant"] == variant), None)

    def write_csv(self, path: str | Path) -> Path:
        path = Path(path)
        with open(path, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["variant", "seeds"] + [f"{c} {s}" for c in self.columns for s in ("mean", "std")])
            for row in self.rows:
                values = [v for c in self.columns for v in row.get(c, (None, None))]
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

    The accuracy columns are the lines of the scores (the 13 official ones for MUSIC-AVQA), then
    :data:`GAP_COLUMNS`."""
    accuracy = list(dict.fromkeys(c for s in scores for c in s.accuracies)) or list(ACCURACY_COLUMNS)
    table = AblationTable(columns=tuple(accuracy) + GAP_COLUMNS)
    for variant, runs in group_by_variant(scores).items():
        row: dict[str, Any] = {"variant": variant, "seeds": len(runs)}
        for column in table.columns:
            row[column] = mean_std([r.values().get(column) for r in runs.values()])
        table.rows.append(row)
    return table


def group_by_variant(scores: Sequence[RunScores]) -> dict[str, dict[int, RunScores]]:
    """variant → seed → scores, variants in first-seen order."""
    out: dict[str, dict[int, RunScores]] = {}
    for s in scores:
        out.setdefault(s.variant, {})[s.seed] = s
    return out


def format_mean_std(mean: float | None, std: float | None, digits: int = 2) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


# =========================================================================== comparisons


@dataclass(frozen=True)
class Comparison:
    """The claim "``a`` > ``b`` on ``metric``", tested paired over seeds.

    ``metric``: a table column (an official line, ``train``, ``val`` or ``gap``) or a contrast
    ``drop[X] - drop[Y]``, whose per-seed value is (a_X − b_X) − (a_Y − b_Y).
    """

    a: str
    b: str
    metric: str
    headline: bool = False

    @property
    def claim(self) -> str:
        contrast = _CONTRAST.match(self.metric)
        if contrast:
            return (f"removing what {self.b} lacks costs {contrast.group(1)} more than {contrast.group(2)} "
                    f"(drops vs {self.a})")
        return f"{self.a} > {self.b} on {self.metric}"

    @property
    def seeds_wanted(self) -> int:
        return HEADLINE_SEEDS if self.headline else OTHER_SEEDS

    def value(self, scores: RunScores) -> float | None:
        """The per-seed quantity of one side whose paired difference (a − b) is tested."""
        values = scores.values()
        contrast = _CONTRAST.match(self.metric)
        if contrast:
            x, y = values.get(contrast.group(1)), values.get(contrast.group(2))
            return None if x is None or y is None else x - y
        return values.get(self.metric)


@dataclass
class ComparisonResult:
    """A comparison's paired t-interval over seeds and its per-seed bootstrap views."""

    comparison: Comparison
    t: PairedDifference
    seeds: list[int]
    a_mean: float | None = None
    b_mean: float | None = None
    bootstrap: list[tuple[int, PairedDifference]] = field(default_factory=list)
    n_boot: int = N_BOOT
    missing: tuple[str, ...] = ()  # variants without a finished run (verdict: not tested)

    @property
    def verdict(self) -> str:
        return self.t.verdict

    def to_json(self) -> dict[str, Any]:
        c = self.comparison
        boot = None
        if self.bootstrap:
            verdicts = [d.verdict for _, d in self.bootstrap]
            boot = {"n_boot": self.n_boot, "over": "questions of the evaluation split, within each seed",
                    "held_seeds": verdicts.count(HELD), "opposite_seeds": verdicts.count(OPPOSITE),
                    "per_seed": [{"seed": s, "diff": _round(d.diff_mean), "ci95": [_round(d.ci95[0]), _round(d.ci95[1])],
                                  "n_questions": d.n, "verdict": d.verdict} for s, d in self.bootstrap]}
        return {"a": c.a, "b": c.b, "metric": c.metric, "diff_mean": _round(self.t.diff_mean),
                "ci95": [_round(self.t.ci95[0]), _round(self.t.ci95[1])], "n_seeds": self.t.n,
                "verdict": self.verdict, "claim": c.claim, "headline": c.headline, "seeds_wanted": c.seeds_wanted,
                "seeds": self.seeds, "a_mean": _round(self.a_mean), "b_mean": _round(self.b_mean),
                "sd": _round(self.t.sd), "confidence": self.t.confidence, "bootstrap": boot}

    def bootstrap_summary(self) -> str:
        if not self.bootstrap:
            return "-"
        verdicts = [d.verdict for _, d in self.bootstrap]
        text = f"{verdicts.count(HELD)}/{len(verdicts)} held"
        if verdicts.count(OPPOSITE):
            text += f", {verdicts.count(OPPOSITE)} opposite"
        return text


def compare(comparison: Comparison, by_variant: Mapping[str, Mapping[int, RunScores]],
            confidence: float = CONFIDENCE, n_boot: int = N_BOOT, boot_seed: int = 0) -> ComparisonResult:
    """Test one comparison on the scores (variant → seed → :class:`RunScores`)."""
    runs_a, runs_b = by_variant.get(comparison.a), by_variant.get(comparison.b)
    if not runs_a or not runs_b:
        missing = tuple(v for v in dict.fromkeys((comparison.a, comparison.b)) if not by_variant.get(v))
        return ComparisonResult(comparison, PairedDifference(None, (None, None), 0, NOT_TESTED, "t", confidence), [],
                                n_boot=n_boot, missing=missing)
    seeds = sorted(set(runs_a) & set(runs_b))
    a = {s: comparison.value(runs_a[s]) for s in seeds}
    b = {s: comparison.value(runs_b[s]) for s in seeds}
    t = paired_difference(a, b, confidence)
    used = [s for s in seeds if a[s] is not None and b[s] is not None]
    result = ComparisonResult(comparison, t, used, mean_std([a[s] for s in used])[0], mean_std([b[s] for s in used])[0],
                              n_boot=n_boot)
    for s in used:
        view = bootstrap_runs(runs_a[s], runs_b[s], comparison.metric, n_boot, boot_seed + s, confidence)
        if view is not None:
            result.bootstrap.append((s, view))
    return result


def bootstrap_runs(a: RunScores, b: RunScores, metric: str = "Overall", n_boot: int = N_BOOT, seed: int = 0,
                   confidence: float = CONFIDENCE) -> PairedDifference | None:
    """The paired bootstrap of ``metric`` between two runs over their common evaluation
    questions (None when a run has no outcomes or the metric is not a row of the split)."""
    if a.outcomes is None or b.outcomes is None:
        return None
    common, ia, ib = np.intersect1d(a.outcomes.question_id, b.outcomes.question_id, return_indices=True)
    if not len(common):
        return None
    d = 100.0 * (a.outcomes.correct[ia].astype(np.float64) - b.outcomes.correct[ib].astype(np.float64))
    statistic = _row_statistic(d, a.outcomes.cell[ia], metric, a.outcomes.scheme)
    if statistic is None:
        return None
    return _bootstrap(statistic, len(d), n_boot, seed, confidence)


def compare_runs(run_a: str | Path, run_b: str | Path, split: str = "test", metric: str = "Overall",
                 n_boot: int = N_BOOT, seed: int = 0, confidence: float = CONFIDENCE, dataset=None
                 ) -> PairedDifference:
    """Two trained runs (one seed each) compared on their ``split`` predictions with the paired
    bootstrap over questions (both runs must have ``predictions_<split>.json``: ``evaluate_run``)."""
    outcomes = []
    for run in (run_a, run_b):
        found = question_outcomes(run, split, dataset)
        if found is None:
            raise McdError(f"{run}: no readable predictions_{split}.json and answers; score the run first "
                           f"(mcd eval --run {run} --split {split})")
        outcomes.append(RunScores("", 0, {}, None, None, found))
    view = bootstrap_runs(outcomes[0], outcomes[1], metric, n_boot, seed, confidence)
    if view is None:
        rows = ", ".join(outcomes[0].outcomes.scheme.row_labels)
        raise McdError(f"{metric!r} is not a row of the {split} split's table; choose one of {rows}")
    return view


# =========================================================================== expectations


@dataclass(frozen=True)
class Expectation:
    """A claim made of comparisons (all must hold), labelled KNOWN (the paper's) or ours."""

    text: str
    label: str
    comparisons: tuple[Comparison, ...]
    note: str = ""


def _drops(variant: str, most: str) -> tuple[Comparison, ...]:
    return tuple(Comparison(REFERENCE, variant, f"drop[{most}] - drop[{other}]", headline=True)
                 for other in SCENARIO_COLUMNS if other != most)


#: what the study tests; only the decision-level fusion claim is the paper's (KNOWN)
EXPECTATIONS: tuple[Expectation, ...] = (
    *[Expectation(f"decision-level fusion ({f}) overfits more than MCD's header: larger train - val gap",
                  KNOWN, (Comparison(f, REFERENCE, "gap", headline=True),),
                  "the paper discards decision-level fusion and reports that removing deep audio-visual "
                  "features at inference mitigates overfitting")
      for f in FUSION_VARIANTS],
    *[Expectation(f"MCD beats {b} overall", OURS, (Comparison(REFERENCE, b, "Overall", headline=True),))
      for b in ("late", "qonly", "avst", "inputs_question_only")],
    Expectation("removing audio (inputs_question_visual) hurts Audio questions most", OURS,
                _drops("inputs_question_visual", "Audio (all)")),
    Expectation("removing vision (inputs_question_audio) hurts Visual questions most", OURS,
                _drops("inputs_question_audio", "Visual (all)")),
)


def comparisons_for(variants: Sequence[str]) -> list[Comparison]:
    """Every comparison of the study for the variants present: the expectations' (always listed,
    ``not tested`` when a variant is missing), MCD vs each baseline, each modality removal
    (overall and per scenario), each fusion variant (overall), and MCD vs every other variant
    (overall, 3 seeds)."""
    out: list[Comparison] = [c for e in EXPECTATIONS for c in e.comparisons]
    extra: list[Comparison] = []
    for v in variants:
        if v == REFERENCE:
            continue
        headline = v in HEADLINE_VARIANTS
        extra.append(Comparison(REFERENCE, v, "Overall", headline))
        if v in MODALITY_REMOVALS:
            extra += [Comparison(REFERENCE, v, s, True) for s in SCENARIO_COLUMNS]
    if REFERENCE not in variants:
        extra = []
    for c in extra:
        if c not in out:
            out.append(c)
    return out


@dataclass
class ExpectationResult:
    expectation: Expectation
    results: list[ComparisonResult]

    @property
    def verdict(self) -> str:
        verdicts = [r.verdict for r in self.results]
        if NOT_TESTED in verdicts:
            return NOT_TESTED
        if all(v == HELD for v in verdicts):
            return HELD
        if OPPOSITE in verdicts:
            return OPPOSITE
        return NOT_SHOWN

    def evidence(self) -> str:
        parts = []
        for r in self.results:
            c = r.comparison
            what = c.metric if _CONTRAST.match(c.metric) else f"{c.a} - {c.b} on {c.metric}"
            if r.missing:
                parts.append(f"{what}: not tested (the table lacks {' and '.join(r.missing)})")
            elif r.verdict == NOT_TESTED:
                parts.append(f"{what}: not tested (no seed with a value on both sides)")
            else:
                parts.append(f"{what}: {r.t.describe()} ({r.t.n} seeds; bootstrap {r.bootstrap_summary()})")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {"expectation": self.expectation.text, "label": self.expectation.label, "verdict": self.verdict,
                "note": self.expectation.note,
                "comparisons": [{"a": r.comparison.a, "b": r.comparison.b, "metric": r.comparison.metric,
                                 "verdict": r.verdict} for r in self.results]}


def check_expectations(results: Sequence[ComparisonResult]) -> list[ExpectationResult]:
    """Each expectation judged from the comparison results (matched by a, b and metric)."""
    by_key = {(r.comparison.a, r.comparison.b, r.comparison.metric): r for r in results}
    out = []
    for e in EXPECTATIONS:
        found = [by_key.get((c.a, c.b, c.metric)) or compare(c, {}) for c in e.comparisons]
        out.append(ExpectationResult(e, found))
    return out


def expectations_markdown(results: Sequence[ExpectationResult]) -> str:
    lines = ["| expectation | label | verdict | evidence (a − b, mean [95 % CI] over seeds) |", "|---|---|---|---|"]
    lines += [f"| {r.expectation.text} | {r.expectation.label} | {r.verdict} | {r.evidence()} |" for r in results]
    return "\n".join(lines) + "\n"


def comparisons_markdown(results: Sequence[ComparisonResult]) -> str:
    lines = ["| a | b | metric | a | b | a − b [95 % CI] | seeds | verdict | bootstrap per seed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.comparison
        fmt = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        seeds = f"{r.t.n}" + (f" (of {c.seeds_wanted} wanted)" if r.t.n < c.seeds_wanted else "")
        lines.append(f"| {c.a} | {c.b} | {c.metric} | {fmt(r.a_mean)} | {fmt(r.b_mean)} | {r.t.describe()} | "
                     f"{seeds} | {r.verdict} | {r.bootstrap_summary()} |")
    return "\n".join(lines) + "\n"


# =========================================================================== ceilings


def dataset_ceilings(dataset_dir: str | Path | None) -> tuple[dict | None, str]:
    """The dataset's ceilings table (``mcdlib.scenes.ceilings.read_ceilings``) and a note saying
    where it came from or why there is none."""
    if dataset_dir is None:
        return None, "no dataset folder given: no ceilings"
    try:
        from mcdlib.scenes.ceilings import read_ceilings
    except ModuleNotFoundError as exc:
        if exc.name != "mcdlib.scenes.ceilings":
            raise
        return None, "this mcdlib has no ceilings module (mcdlib.scenes.ceilings): no ceilings reported"
    try:
        table = read_ceilings(dataset_dir)
    except McdError as exc:
        return None, f"ceilings not available: {exc}"
    if not table:
        return None, f"{dataset_dir} provides no ceilings (real data, or a build without scene graphs)"
    return table, f"ceilings of {dataset_dir} (mcdlib.scenes.ceilings; a report of the data, never a target)"


def ceilings_report(table: AblationTable, ceilings: Mapping | None, split: str = "test",
                    variants: Sequence[str] | None = None) -> dict | None:
    """Per official row: the ceilings of each view and, per model, its mean accuracy, its
    distance to perfect perception and its margin over the best single-sense observer."""
    if not ceilings or split not in ceilings:
        return None
    views = {v: dict(ceilings[split].get(v) or {}) for v in CEILING_VIEWS if v in ceilings[split]}
    labels = [c for c in table.columns if c not in GAP_COLUMNS and any(c in views[v] for v in views)]
    chosen = [r for r in table.rows if variants is None or r["variant"] in variants]
    models: dict[str, dict[str, dict[str, float | None]]] = {}
    for row in chosen:
        per = {}
        for label in labels:
            acc = row.get(label, (None, None))[0]
            perfect = views.get("perfect", {}).get(label)
            senses = [views.get(v, {}).get(label) for v in ("vision_only", "audio_only")]
            senses = [s for s in senses if s is not None]
            per[label] = {"acc": _round(acc, 2),
                          "to_perfect": None if acc is None or perfect is None else round(perfect - acc, 2),
                          "over_best_single_sense": None if acc is None or not senses else round(acc - max(senses), 2)}
        models[row["variant"]] = per
    return {"split": split, "labels": labels, "views": {v: {lab: views[v].get(lab) for lab in labels} for v in views},
            "models": models}


def ceilings_markdown(report: Mapping | None, note: str) -> str:
    if not report:
        return f"No ceilings: {note}.\n"
    views = list(report["views"])
    models = list(report["models"])
    head = ["row", *views, *[f"{m} (to perfect)" for m in models]]
    lines = [f"Ceilings of the data on the {report['split']} split ({note}); each model's mean accuracy "
             "with its distance to perfect perception in brackets.\n",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
    for label in report["labels"]:
        cells = [label] + [fmt(report["views"][v].get(label)) for v in views]
        for m in models:
            entry = report["models"][m][label]
            cells.append("-" if entry["acc"] is None else f"{entry['acc']:.1f} ({fmt(entry['to_perfect'])})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# =========================================================================== the report


def dataset_info(dataset_dir: str | Path | None) -> dict[str, Any]:
    """Which data the study ran on (the manifest's format and benchmark version)."""
    info: dict[str, Any] = {"root": None if dataset_dir is None else str(dataset_dir)}
    manifest = Path(dataset_dir) / "manifest.json" if dataset_dir is not None else None
    if manifest is not None and manifest.is_file():
        try:
            data = json.loads(manifest.read_text())
        except (OSError, json.JSONDecodeError):
            data = {}
        info["format"] = data.get("format")
        info["profile"] = (data.get("profile") or {}).get("name")
        if "version" in data:
            info["version"], info["version_note"] = data["version"], "recorded in manifest.json"
        elif data.get("format") == "music-scenes":
            info["version"], info["version_note"] = 1, "not recorded: a build that predates versioning (v1)"
    return info


@dataclass
class StudyReport:
    """Everything the study computed from a set of finished runs."""

    scores: list[RunScores]
    table: AblationTable
    comparisons: list[ComparisonResult]
    expectations: list[ExpectationResult]
    split: str = "test"
    confidence: float = CONFIDENCE
    n_boot: int = N_BOOT
    dataset: dict[str, Any] = field(default_factory=dict)
    tuning: dict[str, Any] | None = None
    ceilings: dict | None = None
    ceilings_note: str = ""

    @property
    def rows(self) -> list[dict[str, Any]]:  # the table's rows (convenience)
        return self.table.rows

    def comparison(self, a: str, b: str, metric: str = "Overall") -> ComparisonResult | None:
        return next((r for r in self.comparisons if (r.comparison.a, r.comparison.b, r.comparison.metric)
                     == (a, b, metric)), None)

    def to_json(self) -> dict[str, Any]:
        by_variant = group_by_variant(self.scores)
        return {
            "protocol": {
                "split": self.split, "confidence": self.confidence, "checkpoint": "selected: best val accuracy",
                "paired_over": "seeds (same seeds, same data)", "interval": "Student-t on the paired differences",
                "bootstrap": {"n_boot": self.n_boot, "over": f"{self.split} questions, within each seed",
                              "interval": "percentile"},
                "verdicts": {HELD: "the interval excludes 0 on the claimed side",
                             OPPOSITE: "the interval excludes 0 on the other side",
                             NOT_SHOWN: "the interval includes 0 (or fewer than 2 seeds)",
                             NOT_TESTED: "a variant is missing"},
                "seeds_wanted": {"headline": HEADLINE_SEEDS, "other": OTHER_SEEDS},
                "gap": "eval-mode train accuracy minus val accuracy, both at the selected checkpoint"},
            "dataset": self.dataset, "tuning": self.tuning,
            "variants": [{"variant": v, "seeds": sorted(runs)} for v, runs in by_variant.items()],
            "comparisons": [r.to_json() for r in self.comparisons],
            "expectations": [r.to_json() for r in self.expectations],
            "ceilings": self.ceilings, "ceilings_note": self.ceilings_note,
        }

    def to_markdown(self) -> str:
        seeds = sorted({s.seed for s in self.scores})
        version = self.dataset.get("version")
        data = f"{self.dataset.get('root')}" + (f" (music scenes v{version}; {self.dataset.get('version_note')})"
                                                 if version is not None else "")
        tuning = "no tuning file: every model uses the base settings (the budget is the preset's schedule)"
        if self.tuning:
            b = self.tuning.get("budget", {})
            tuning = (f"each model tuned on val with the same budget ({b.get('configurations_per_model', '?')} "
                      f"configurations per model, seed {b.get('seed', '?')}; {self.tuning.get('source', '')})")
        parts = [
            f"# Study on the {self.split} split\n",
            f"Data: {data}. Seeds present: {', '.join(map(str, seeds))}. Selected checkpoint: best val accuracy. "
            f"Tuning: {tuning}.\n",
            "Accuracy % as mean ± sample std over seeds; train = eval-mode train accuracy and val = val accuracy, "
            "both at the selected checkpoint; gap = train − val.\n",
            self.table.to_markdown(),
            f"\n## Comparisons\n\nPaired over seeds (same seeds, same data): mean difference a − b with a Student-t "
            f"{self.confidence:.0%} interval; verdict *held* when the interval excludes 0 on the claimed side (a > b), "
            f"*opposite* when it excludes 0 on the other side, else *not shown*. Second view: a paired bootstrap over "
            f"the {self.split} questions within each seed ({self.n_boot} resamples). Headline comparisons want "
            f"{HEADLINE_SEEDS} seeds, the others {OTHER_SEEDS}.\n",
            comparisons_markdown(self.comparisons),
            "\n## Expectations (tested, not forced)\n\nKNOWN = the paper's claim; ours = mcdlib's hypothesis.\n",
            expectations_markdown(self.expectations),
            "\n## Distance to the ceiling (a report, never a target)\n\n",
            ceilings_markdown(self.ceilings, self.ceilings_note),
        ]
        return "\n".join(parts)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """``ablation.csv``, ``ablation.md`` and ``study.json`` in ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"csv": self.table.write_csv(out / "ablation.csv"), "md": out / "ablation.md",
                 "json": out / "study.json"}
        paths["md"].write_text(self.to_markdown())
        write_json(paths["json"], self.to_json())
        return paths


def study(scores: Sequence[RunScores], split: str = "test", *, confidence: float = CONFIDENCE,
          n_boot: int = N_BOOT, dataset_dir: str | Path | None = None, tuning: Mapping | None = None,
          ceiling_variants: Sequence[str] | None = None) -> StudyReport:
    """Every measure and verdict of the study from the scores of finished runs."""
    table = aggregate(scores)
    by_variant = group_by_variant(scores)
    results = [compare(c, by_variant, confidence, n_boot) for c in comparisons_for(list(by_variant))]
    ceilings, note = dataset_ceilings(dataset_dir)
    shown = ceiling_variants if ceiling_variants is not None else [v for v in by_variant if v in HEADLINE_VARIANTS]
    return StudyReport(list(scores), table, results, check_expectations(results), split, confidence, n_boot,
                       dataset_info(dataset_dir), dict(tuning) if tuning else None,
                       ceilings_report(table, ceilings, split, shown), note)


def run_ablation(variants: Sequence[Variant], base: Config, out_dir: str | Path, seeds: Sequence[int] = (0, 1, 2),
                 split: str = "test", progress: bool | None = None, *, train_missing: bool = True,
                 datasets: Mapping[str, Any] | None = None, model_factory: ModelFactory | None = None,
                 source: str = "grid", tuned: TunedSettings | str | Path | None = None,
                 confidence: float = CONFIDENCE, n_boot: int = N_BOOT, jobs: int = 1) -> StudyReport:
    """Train (resumably) and score every variant × seed, then write ``ablation.csv``,
    ``ablation.md`` and ``study.json`` in ``out_dir``.

    ``tuned``: ``tuned.yaml`` from ``mcd tune`` (or its :class:`~mcdlib.train.ablate.TunedSettings`):
    each variant starts from its model's tuned settings. ``datasets`` ({"train", "val", split})
    and ``model_factory`` are passed to :func:`mcdlib.train.train` (in-memory data, fakes). With
    ``train_missing=False`` nothing is trained: the study covers the finished runs only. ``jobs``:
    runs trained at a time, each in its own process (:func:`~mcdlib.train.ablate.train_runs_parallel`).
    """
    if tuned is not None and not isinstance(tuned, TunedSettings):
        tuned = read_tuned(tuned)
    runs = plan_runs(variants, base, out_dir, seeds, source, tuned.overrides if tuned else None)
    if not train_missing:
        runs = [run for run in runs if run_state(run.run_dir) == "finished"]
    scores: list[RunScores] = []
    show = base.train.progress if progress is None else progress
    is_main = train_runs(runs, base, progress, datasets=datasets, model_factory=model_factory,
                         after_each=lambda run: scores.append(score_run(run, split, datasets, model_factory, show)),
                         jobs=jobs)
    # in-memory datasets (notebooks, tests) need not come from data.root: no manifest, no ceilings
    report = study(scores, split, confidence=confidence, n_boot=n_boot,
                   dataset_dir=None if datasets is not None else base.data.root,
                   tuning=tuned.to_json() if tuned else None)
    if is_main:
        report.write(out_dir)
    return report


def select_configuration(candidates: Sequence[tuple[Any, float | None]]) -> int | None:
    """The tuning rule: the index of the candidate with the best val accuracy (ties: the first,
    i.e. grid order); None when any candidate has no val accuracy (an incomplete budget)."""
    if not candidates or any(val is None for _, val in candidates):
        return None
    best = max(val for _, val in candidates)
    return next(i for i, (_, val) in enumerate(candidates) if val == best)


def val_accuracy(run_dir: str | Path) -> float | None:
    """The selection measure of a finished run: val accuracy at its best epoch (None otherwise)."""
    folder = RunFolder(run_dir)
    return folder.status().get("best_val_acc") if folder.is_finished() else None


def read_study(path: str | Path) -> dict[str, Any]:
    """``study.json`` as written by :meth:`StudyReport.write`."""
    path = Path(path)
    if path.is_dir():
        path = path / "study.json"
    if not path.is_file():
        raise McdError(f"{path}: no study there; run `mcd ablate ... --table-only --out {path.parent}` first")
    return read_json(path)


def fusion_curves(run_dirs: Mapping[str, str | Path]) -> dict[str, dict[str, list]]:
    """Per run: epoch, train (eval mode when logged, else running), val and gap series, and
    which train accuracy was used (``source``) - the decision-level fusion study's curves."""
    out = {}
    for name, run_dir in run_dirs.items():
        records = read_metrics(run_dir)
        source = curve_source(records)
        key = "train_eval" if source == "eval" else "train"
        out[name] = {"epoch": [r["epoch"] for r in records],
                     "train": [(r.get(key) or {}).get("acc") for r in records],
                     "val": [(r.get("val") or {}).get("acc") for r in records],
                     "gap": gap_curve(records, source), "source": source}
    return out
