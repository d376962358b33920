"""``mcd tune``: the same tuning budget for every model, picked on val (never on test).

    mcd tune --grid ablations/tuning.yaml --data data/music_scenes/classroom --out runs/study/tuning
    mcd tune --grid ablations/tuning.yaml --data DIR --out RUNS/tuning --select-only   # picks from finished runs
    mcd tune --grid ablations/tuning.yaml --data DIR --out RUNS/tuning --dry-run

Writes RUNS/tuning/tuned.yaml (read by ``mcd ablate --tuned``), tuning.md and tuning.json.
Rerunning the same command skips finished runs and resumes interrupted ones.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mcdlib.cli.train import add_jobs_argument, add_settings_arguments, jobs_from_args, settings_from_args


def register(sub) -> None:
    p = sub.add_parser("tune", help="tune every model with the same budget on val (writes tuned.yaml)",
                       description="Stage 1: every model trains each configuration of the tuning file's shared "
                                   "grid (e.g. learning rate x schedule); stage 2: each of its own options, one at "
                                   "a time, at its stage-1 pick. Each model's pick is the configuration with the "
                                   "best val accuracy (the test split is never read). Writes RUNS/tuned.yaml, "
                                   "RUNS/tuning.md and RUNS/tuning.json. Resumable.")
    p.add_argument("--grid", metavar="FILE.yaml", required=True,
                   help="tuning file: models, shared grid, own options (see ablations/tuning.yaml)")
    add_settings_arguments(p, with_model=False)
    p.add_argument("--out", metavar="RUNS", required=True, help="folder of the tuning runs and tuned.yaml")
    p.add_argument("--seed", type=int, default=0, help="the seed of every tuning run (default: %(default)s)")
    p.add_argument("--only", default="", metavar="MODELS", help="comma-separated models to tune (default: all)")
    p.add_argument("--select-only", action="store_true",
                   help="train nothing: pick from the finished runs (models with unfinished ones get no pick)")
    p.add_argument("--dry-run", action="store_true",
                   help="train nothing, write nothing: print stage 1's runs and the budget")
    p.add_argument("--epoch-seconds", default="", metavar="MODEL=S,...",
                   help="with --dry-run: measured seconds per epoch per model, to print stage 1's CPU time")
    add_jobs_argument(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from mcdlib.train.ablate import parse_epoch_seconds, plan_runs, plan_summary
    from mcdlib.train.tuning import stage_candidates, candidate_variants, read_tuning_grid, tune

    jobs = jobs_from_args(args)
    grid = read_tuning_grid(args.grid)
    base = settings_from_args(args)
    only = [m.strip() for m in args.only.split(",") if m.strip()] or None
    budget = grid.budget
    print(f"budget: {budget['configurations_per_model']} configurations per model ({budget['shared']} shared, "
          f"{budget['own']} own), seed {args.seed}, picked on val")
    if args.dry_run:
        models = [m for m in grid.models if not only or m in only]
        candidates = [c for m in models for c in stage_candidates(grid, m, 1, grid.shared_configurations(),
                                                               Path(args.out), args.seed)]
        runs = plan_runs(candidate_variants(grid, candidates), base, args.out, [args.seed], grid.source)
        print(f"stage 1: {len(runs)} runs in {args.out}; stage 2: {budget['own']} more runs per model at its "
              "stage-1 pick's schedule")
        print(plan_summary(runs, parse_epoch_seconds(args.epoch_seconds)))
        return 0
    from mcdlib.train.run_folder import lock_run

    # one mcd tune per RUNS folder (it writes tuned.yaml; every run folder inside is locked by its training too)
    lock = lock_run(args.out, "mcd tune") if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext()
    with lock:
        result = tune(grid, base, args.out, seed=args.seed, train_missing=not args.select_only, only=only,
                      jobs=jobs)
    print(result.to_markdown())
    missing = [m for m, p in result.picks.items() if p is None]
    print(f"written: {Path(args.out) / 'tuned.yaml'}, tuning.md, tuning.json"
          + (f"; no pick yet for {', '.join(missing)} (unfinished configurations)" if missing else ""))
    return 0
