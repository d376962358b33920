"""``mcd ablate``: every variant of a grid file × every seed, then the study (table, paired
statistics, expectations, ceilings).

    mcd ablate --grid ablations/mcd.yaml --data data/music_scenes/classroom --out runs/ablation
    mcd ablate --grid ablations/mcd.yaml --data DIR --out RUNS --seeds 0-4 --only @headline --tuned RUNS/tuning/tuned.yaml
    mcd ablate --grid ablations/mcd.yaml --data DIR --out RUNS --table-only      # ablation.md + study.json
    mcd ablate --grid ablations/mcd.yaml --data DIR --out RUNS --dry-run --epoch-seconds mcd=38,avst=10,late=2,qonly=1

Rerunning the same command skips finished runs and resumes interrupted ones.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mcdlib.cli.train import add_jobs_argument, add_settings_arguments, jobs_from_args, settings_from_args

GROUPS = {"@headline": "the variants of the headline comparisons (MCD, the baselines, the modality removals, "
                       "the fusion variants)",
          "@others": "every other variant of the grid"}


def register(sub) -> None:
    p = sub.add_parser("ablate", help="run an ablation grid (variants x seeds) and its study",
                       description="Train every variant of a grid file with every seed into "
                                   "RUNS/<variant>/seed<k>, score each selected (best-val) checkpoint with the "
                                   "official evaluation, and write RUNS/ablation.csv, RUNS/ablation.md (mean ± std, "
                                   "paired comparisons with 95 % intervals, expectations, ceilings) and "
                                   "RUNS/study.json. Resumable.")
    p.add_argument("--grid", metavar="FILE.yaml", required=True,
                   help="variants, one per line: name: [key=value, ...] (see ablations/mcd.yaml)")
    add_settings_arguments(p, with_model=False)
    p.add_argument("--out", metavar="RUNS", required=True, help="folder holding one run folder per variant and seed")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds or a range such as 0-4 (default: %(default)s)")
    p.add_argument("--split", default="test", help="split the table reports (default: %(default)s)")
    p.add_argument("--only", default="", metavar="NAMES",
                   help="comma-separated variant names to run (default: every variant of the grid); "
                        + "; ".join(f"{k}: {v}" for k, v in GROUPS.items()))
    p.add_argument("--tuned", metavar="TUNED.yaml", default=None,
                   help="each model's tuned settings from `mcd tune` (applied before each variant's overrides)")
    p.add_argument("--table-only", action="store_true",
                   help="train nothing: tabulate and test the runs already finished under RUNS")
    p.add_argument("--dry-run", action="store_true",
                   help="train nothing, write nothing: print the runs and epochs per model still to train")
    p.add_argument("--epoch-seconds", default="", metavar="MODEL=S,...",
                   help="with --dry-run: measured seconds per epoch per model (e.g. mcd=38,avst=10,late=2,qonly=1) "
                        "to print the CPU time of the plan")
    add_jobs_argument(p)
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples per comparison and seed "
                                                            "(default: %(default)s)")
    p.set_defaults(func=run)


def select_variants(variants, only: str, source):
    """The variants named in ``only`` (comma-separated names or the groups ``@headline`` /
    ``@others``), in grid order; all when empty."""
    from mcdlib.errors import ConfigError
    from mcdlib.train.study import HEADLINE_VARIANTS

    names = [n.strip() for n in only.split(",") if n.strip()]
    if not names:
        return variants
    known = {v.name for v in variants}
    wanted: set[str] = set()
    for name in names:
        if name == "@headline":
            wanted |= known & set(HEADLINE_VARIANTS)
        elif name == "@others":
            wanted |= known - set(HEADLINE_VARIANTS)
        elif name in known:
            wanted.add(name)
        else:
            raise ConfigError(f"{source}: no variant named {name!r}; variants: {', '.join(v.name for v in variants)} "
                              f"(groups: {', '.join(GROUPS)})")
    return [v for v in variants if v.name in wanted]


def run(args) -> int:
    from mcdlib.train.ablate import parse_epoch_seconds, parse_seeds, plan_runs, plan_summary, read_grid, read_tuned
    from mcdlib.train.run_folder import lock_run
    from mcdlib.train.study import comparisons_markdown, expectations_markdown, run_ablation

    if args.n_boot < 1:
        from mcdlib.errors import ConfigError

        raise ConfigError(f"--n-boot {args.n_boot}: give at least 1 bootstrap resample (default 2000)")
    jobs = jobs_from_args(args)
    variants = select_variants(read_grid(args.grid), args.only, args.grid)
    base = settings_from_args(args)
    seeds = parse_seeds(args.seeds)
    tuned = read_tuned(args.tuned) if args.tuned else None
    if args.dry_run:
        runs = plan_runs(variants, base, args.out, seeds, str(args.grid), tuned.overrides if tuned else None)
        print(f"{len(runs)} runs ({len(variants)} variants x {len(seeds)} seeds) in {args.out}:")
        print(plan_summary(runs, parse_epoch_seconds(args.epoch_seconds)))
        return 0
    # one mcd ablate per RUNS folder (every run folder inside is locked by its training/evaluation too)
    lock = lock_run(args.out, "mcd ablate") if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext()
    with lock:
        report = run_ablation(variants, base, args.out, seeds, split=args.split, source=str(args.grid),
                              train_missing=not args.table_only, tuned=tuned, n_boot=args.n_boot,
                              jobs=jobs)
    print(report.table.to_markdown())
    print("Comparisons (paired over seeds, 95 % Student-t interval):\n")
    print(comparisons_markdown(report.comparisons))
    print("Expectations (tested, not forced):\n")
    print(expectations_markdown(report.expectations))
    out = Path(args.out)
    print(f"written: {out / 'ablation.csv'}, {out / 'ablation.md'}, {out / 'study.json'}")
    return 0
