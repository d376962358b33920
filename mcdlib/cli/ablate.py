"""``mcd ablate``: every variant of a grid file × every seed, then one mean ± std table.

    mcd ablate --grid ablations/mcd.yaml --data data/music_scenes/classroom --out runs/ablation
    mcd ablate --grid ablations/mcd.yaml --data DIR --out RUNS --seeds 0,1,2 --preset tiny

Rerunning the same command skips finished runs and resumes interrupted ones.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mcdlib.cli.train import add_settings_arguments, settings_from_args


def register(sub) -> None:
    p = sub.add_parser("ablate", help="run an ablation grid (variants x seeds) and tabulate it",
                       description="Train every variant of a grid file with every seed into "
                                   "RUNS/<variant>/seed<k>, score each best checkpoint with the official "
                                   "evaluation and write RUNS/ablation.csv and RUNS/ablation.md "
                                   "(mean ± std over seeds, plus train-vs-val gap). Resumable.")
    p.add_argument("--grid", metavar="FILE.yaml", required=True,
                   help="variants, one per line: name: [key=value, ...] (see ablations/mcd.yaml)")
    add_settings_arguments(p, with_model=False)
    p.add_argument("--out", metavar="RUNS", required=True, help="folder holding one run folder per variant and seed")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: %(default)s)")
    p.add_argument("--split", default="test", help="split the table reports (default: %(default)s)")
    p.add_argument("--only", default="", metavar="NAMES",
                   help="comma-separated variant names to run (default: every variant of the grid)")
    p.add_argument("--table-only", action="store_true",
                   help="train nothing: tabulate the runs already finished under RUNS")
    p.set_defaults(func=run)


def select_variants(variants, only: str, source):
    """The variants named in ``only`` (comma-separated), in grid order; all when empty."""
    from mcdlib.errors import ConfigError

    names = [n.strip() for n in only.split(",") if n.strip()]
    if not names:
        return variants
    known = {v.name for v in variants}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"{source}: no variant named {', '.join(map(repr, unknown))}; "
                          f"variants: {', '.join(v.name for v in variants)}")
    return [v for v in variants if v.name in names]


def run(args) -> int:
    from mcdlib.train.ablate import parse_seeds, read_grid, run_ablation
    from mcdlib.train.run_folder import lock_run
    from mcdlib.train.expectations import check_expectations, expectations_markdown

    variants = select_variants(read_grid(args.grid), args.only, args.grid)
    base = settings_from_args(args)
    # one mcd ablate per RUNS folder (every run folder inside is locked by its training/evaluation too)
    lock = lock_run(args.out, "mcd ablate") if int(os.environ.get("RANK", "0")) == 0 else contextlib.nullcontext()
    with lock:
        table = run_ablation(variants, base, args.out, parse_seeds(args.seeds), split=args.split,
                             source=str(args.grid), train_missing=not args.table_only)
    print(table.to_markdown())
    print("Expectations (tested, not forced):\n")
    print(expectations_markdown(check_expectations(table)))
    print(f"table written to {Path(args.out) / 'ablation.csv'} and {Path(args.out) / 'ablation.md'}")
    return 0
