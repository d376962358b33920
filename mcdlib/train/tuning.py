"""The equal tuning budget: every model gets the same number of configurations, picked on val.

A tuning file (``ablations/tuning.yaml``) names the models, a *shared* grid every model gets
(stage 1: the product of its axes, e.g. learning rate × schedule) and, per model, its *own*
options (stage 2: each one alone on top of the model's stage-1 pick, e.g. MCD's λ_con, λ_sa and
τ); every model must have the same number of own options, so every model gets the same
budget::

    models:                       # name: the overrides that define it
      mcd: []
      late: [model.name=late]
    shared:                       # axis: options (an option is one override or a list of them)
      lr: [train.lr=0.00025, train.lr=0.0005, train.lr=0.001]
      schedule: [[train.epochs=12, train.lr_step=8], [train.epochs=24, train.lr_step=16]]
    own:                          # model: options tried one at a time at its stage-1 pick
      mcd: [model.lambda_con=0.25, model.lambda_con=1.0]
      late: [model.header_dropout=0.0, model.header_dropout=0.4]

:func:`tune` trains every configuration with one seed into ``OUT/<model>.<key>-<value>...
/seed<k>`` (resumable, as ``mcd ablate``), picks each model's stage-1 configuration with
:func:`mcdlib.train.study.select_configuration` (best val accuracy; the test split is never
read), trains stage 2 at that pick, picks again among the stage-1 pick and its stage-2 runs,
and writes ``OUT/tuned.yaml`` (each model's chosen overrides and the budget: what ``mcd ablate
--tuned`` reads), ``OUT/tuning.md`` and ``OUT/tuning.json`` (every configuration's val
accuracy: the sweep, shown).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from mcdlib.config import Config
from mcdlib.errors import ConfigError
from mcdlib.train.ablate import Variant, plan_runs, read_yaml_file, run_state, train_runs
from mcdlib.train.loop import ModelFactory
from mcdlib.train.run_folder import write_json
from mcdlib.train.study import select_configuration, val_accuracy

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
Option = tuple[str, ...]


@dataclass(frozen=True)
class TuningGrid:
    """A parsed tuning file."""

    models: dict[str, Option]
    shared: tuple[tuple[str, tuple[Option, ...]], ...]
    own: dict[str, tuple[Option, ...]]
    source: str = "tuning grid"

    def shared_configurations(self) -> list[Option]:
        """Stage 1: the product of the shared axes (in file order)."""
        axes = [options for _, options in self.shared] or [((),)]
        return [tuple(o for option in combo for o in option) for combo in itertools.product(*axes)]

    @property
    def budget(self) -> dict[str, int]:
        shared = len(self.shared_configurations())
        own = len(next(iter(self.own.values()), ()))
        return {"shared": shared, "own": own, "configurations_per_model": shared + own}


def _option(value: Any, where: str) -> Option:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and "=" in v for v in values):
        raise ConfigError(f"{where}: expected key=value or a list of key=value overrides, got {value!r}")
    return tuple(v.strip() for v in values)


def parse_tuning_grid(data: Any, source: str = "tuning grid") -> TuningGrid:
    """A :class:`TuningGrid` from a loaded mapping (see the module docstring for the format)."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict) or not data["models"]:
        raise ConfigError(f"{source}: expected 'models: {{name: [key=value, ...]}}', 'shared: {{axis: [options]}}' "
                          "and 'own: {name: [options]}' (see ablations/tuning.yaml)")
    unknown = set(data) - {"models", "shared", "own"}
    if unknown:
        raise ConfigError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}; a tuning file has "
                          "models, shared and own")
    models = {}
    for name, overrides in data["models"].items():
        name = str(name)
        if _UNSAFE.search(name) or not name:
            raise ConfigError(f"{source}: model name {name!r} must be a folder name (letters, digits, '_', '-', '.')")
        models[name] = () if not overrides else _option(overrides, f"{source}: models.{name}")
    shared = []
    for axis, options in (data.get("shared") or {}).items():
        if not isinstance(options, list) or not options:
            raise ConfigError(f"{source}: shared.{axis}: expected a list of options")
        shared.append((str(axis), tuple(_option(o, f"{source}: shared.{axis}") for o in options)))
    own_data = data.get("own") or {}
    if not isinstance(own_data, dict):
        raise ConfigError(f"{source}: own: expected 'model: [options]'")
    extra = set(map(str, own_data)) - set(models)
    if extra:
        raise ConfigError(f"{source}: own names {', '.join(sorted(extra))}, which 'models' does not list")
    own = {m: tuple(_option(o, f"{source}: own.{m}") for o in (own_data.get(m) or [])) for m in models}
    counts = {m: len(options) for m, options in own.items()}
    if len(set(counts.values())) > 1:
        raise ConfigError(f"{source}: every model must get the same number of own options (the same budget); "
                          f"got {', '.join(f'{m} {n}' for m, n in counts.items())}")
    return TuningGrid(models, tuple(shared), own, source)


def read_tuning_grid(path: str | Path) -> TuningGrid:
    """Parse a tuning file (see the module docstring)."""
    return parse_tuning_grid(read_yaml_file(path, "tuning file not found (see ablations/tuning.yaml)"), str(path))


def merged(*options: Option) -> Option:
    """Overrides merged key by key (a later value replaces an earlier one, in first-seen key order)."""
    out: dict[str, str] = {}
    for option in options:
        for o in option:
            key, value = o.split("=", 1)
            out[key.strip()] = value.strip()
    return tuple(f"{k}={v}" for k, v in out.items())


def configuration_name(model: str, overrides: Option) -> str:
    """The run folder name of a model's configuration: ``mcd.lr-0.0005.epochs-12.lr_step-8``."""
    parts = [model] + [f"{o.split('=', 1)[0].split('.')[-1]}-{o.split('=', 1)[1]}" for o in overrides]
    return _UNSAFE.sub("_", ".".join(parts))


@dataclass
class Candidate:
    """One configuration of one model."""

    model: str
    stage: int
    overrides: Option  # the tuning overrides (not those defining the model)
    name: str
    run_dir: Path
    val: float | None = None


@dataclass
class TuningResult:
    """Every configuration with its val accuracy, and each model's pick (None: budget incomplete)."""

    grid: TuningGrid
    seed: int
    candidates: list[Candidate] = field(default_factory=list)
    picks: dict[str, Candidate | None] = field(default_factory=dict)

    def tuned(self) -> dict[str, Any]:
        """The content of ``tuned.yaml``."""
        budget = {**self.grid.budget, "seed": self.seed, "split": "val",
                  "selected_by": "best val accuracy at the best-val epoch (ties: first in grid order); "
                                 "the test split is not read",
                  "shared_axes": {axis: [list(o) for o in options] for axis, options in self.grid.shared}}
        models = {m: {"defines": list(self.grid.models[m]), "overrides": list(p.overrides), "val": p.val,
                      "stage": p.stage, "run": str(p.run_dir)}
                  for m, p in self.picks.items() if p is not None}
        return {"budget": budget, "models": models,
                "incomplete": [m for m, p in self.picks.items() if p is None]}

    def to_markdown(self) -> str:
        b = self.grid.budget
        lines = [f"# Tuning on val (seed {self.seed})\n",
                 f"Budget: {b['configurations_per_model']} configurations per model ({b['shared']} shared: "
                 f"{' x '.join(axis for axis, _ in self.grid.shared) or 'none'}; {b['own']} of its own, one at a "
                 "time at its stage-1 pick). Picked by val accuracy at the best-val epoch; the test split is "
                 "never read.\n"]
        for model in self.grid.models:
            lines += [f"\n## {model}\n", "| stage | configuration | val | picked |", "|---|---|---|---|"]
            pick = self.picks.get(model)
            for c in (c for c in self.candidates if c.model == model):
                val = "not finished" if c.val is None else f"{c.val:.2f}"
                lines.append(f"| {c.stage} | {', '.join(c.overrides) or '(base)'} | {val} | "
                             f"{'**yes**' if pick is not None and c.name == pick.name else ''} |")
            if pick is None:
                lines.append("\nIncomplete: some configurations are not finished; no pick yet.")
        return "\n".join(lines) + "\n"

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        tuned = out / "tuned.yaml"
        tuned.write_text("# Written by `mcd tune` (mcdlib.train.tuning): each model's configuration picked on val.\n"
                         "# `mcd ablate --tuned` applies a model's overrides before each variant's own.\n"
                         + yaml.safe_dump(self.tuned(), sort_keys=False))
        (out / "tuning.md").write_text(self.to_markdown())
        write_json(out / "tuning.json", {"seed": self.seed, "budget": self.grid.budget, "candidates": [
            {"model": c.model, "stage": c.stage, "overrides": list(c.overrides), "run": str(c.run_dir), "val": c.val}
            for c in self.candidates], "picks": {m: (p.name if p else None) for m, p in self.picks.items()}})
        return {"tuned": tuned, "md": out / "tuning.md", "json": out / "tuning.json"}


def stage_candidates(grid: TuningGrid, model: str, stage: int, configurations: Sequence[Option], out_dir: Path,
                seed: int) -> list[Candidate]:
    out = []
    for overrides in configurations:
        name = configuration_name(model, overrides)
        out.append(Candidate(model, stage, overrides, name, out_dir / name / f"seed{seed}"))
    return out


def candidate_variants(grid: TuningGrid, candidates: Sequence[Candidate]) -> list[Variant]:
    return [Variant(c.name, merged(grid.models[c.model], c.overrides)) for c in candidates]


def tune(grid: TuningGrid, base: Config, out_dir: str | Path, seed: int = 0, progress: bool | None = None, *,
         train_missing: bool = True, only: Sequence[str] | None = None, datasets: Mapping[str, Any] | None = None,
         model_factory: ModelFactory | None = None, jobs: int = 1) -> TuningResult:
    """Both stages for every model (or ``only`` those), resumably; writes ``tuned.yaml``,
    ``tuning.md`` and ``tuning.json`` in ``out_dir``. With ``train_missing=False`` nothing is
    trained: the picks come from the finished runs (a model with an unfinished configuration
    gets no pick). ``jobs``: runs trained at a time, each in its own process."""
    out = Path(out_dir)
    models = [m for m in grid.models if not only or m in only]
    unknown = [m for m in (only or []) if m not in grid.models]
    if unknown:
        raise ConfigError(f"{grid.source}: no model named {', '.join(map(repr, unknown))}; "
                          f"models: {', '.join(grid.models)}")
    result = TuningResult(grid, seed)

    def run_stage(candidates: list[Candidate], desc: str) -> bool:
        runs = plan_runs(candidate_variants(grid, candidates), base, out, [seed], grid.source)
        if not train_missing:
            runs = [r for r in runs if run_state(r.run_dir) == "finished"]
        is_main = train_runs(runs, base, progress, datasets=datasets, model_factory=model_factory, desc=desc,
                             jobs=jobs)
        for c in candidates:
            c.val = val_accuracy(c.run_dir)
        result.candidates.extend(candidates)
        return is_main

    stage1 = {m: stage_candidates(grid, m, 1, grid.shared_configurations(), out, seed) for m in models}
    is_main = run_stage([c for m in models for c in stage1[m]], "tuning, stage 1")
    first = {m: select_configuration([(c, c.val) for c in stage1[m]]) for m in models}
    stage2: dict[str, list[Candidate]] = {}
    for m in models:
        if first[m] is not None and grid.own[m]:
            pick = stage1[m][first[m]]
            stage2[m] = stage_candidates(grid, m, 2, [merged(pick.overrides, o) for o in grid.own[m]], out, seed)
    if stage2:
        is_main = run_stage([c for m in models for c in stage2.get(m, [])], "tuning, stage 2") and is_main
    for m in models:
        if first[m] is None:
            result.picks[m] = None
            continue
        pool = [stage1[m][first[m]]] + stage2.get(m, [])
        if grid.own[m] and m not in stage2:
            result.picks[m] = None
            continue
        best = select_configuration([(c, c.val) for c in pool])
        result.picks[m] = None if best is None else pool[best]
    if is_main:
        result.write(out)
    return result


def protocol_commands(data: str | Path, out: str | Path = "runs/study", preset: str = "classroom",
                      sets: Sequence[str] = ("train.threads=1", "train.progress=false"), jobs: int = 2) -> list[str]:
    """The study protocol as commands: tune, the headline variants with 5 seeds, the other
    variants with 3, then the report (``--table-only`` writes ``study.json``). Default: two
    one-thread runs at a time (``--jobs 2``), about 1.3x faster than one two-thread run on 2 cores
    (docs/STUDY.md)."""
    common = f"--data {data} --preset {preset}" + "".join(f" --set {s}" for s in sets) + (
        f" --jobs {jobs}" if jobs > 1 else "")
    tuned = f"{out}/tuning/tuned.yaml"
    grid = "ablations/mcd.yaml"
    return [
        f"mcd tune --grid ablations/tuning.yaml {common} --out {out}/tuning",
        f"mcd ablate --grid {grid} --tuned {tuned} {common} --out {out} --seeds 0-4 --only @headline",
        f"mcd ablate --grid {grid} --tuned {tuned} {common} --out {out} --seeds 0-2 --only @others",
        f"mcd ablate --grid {grid} --tuned {tuned} {common} --out {out} --seeds 0-4 --table-only",
    ]
