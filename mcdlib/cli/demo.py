"""``mcd demo`` (what ``make demo`` runs): the main job on the built-in default data.

1. build the music-scenes dataset of the profile (cached when already built) and print its
   ``mcd data check`` table;
2. train MCD and the late-fusion baseline with the same preset (finished runs are reused,
   interrupted ones resumed);
3. print both official 13-line tables side by side (test split) and where the runs are.
"""

from __future__ import annotations

import time
from pathlib import Path

from mcdlib.config import apply_overrides, get_preset, preset_names


def register(sub) -> None:
    p = sub.add_parser("demo", help="build the default data, train MCD and late fusion, compare them",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=_raw())
    p.add_argument("--preset", choices=preset_names(), default="classroom",
                   help="music-scenes profile and run preset (default: %(default)s)")
    p.add_argument("--data-root", default="data", help="datasets go to DATA_ROOT/music_scenes/<preset>")
    p.add_argument("--runs", default="runs/demo", help="run folders go to RUNS/<preset>/<model>")
    p.add_argument("--models", default="mcd,late", help="comma-separated models to train (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="dataset and training seed")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override for the runs, e.g. train.epochs=4 (repeatable)")
    p.add_argument("--data-only", action="store_true", help="only build and check the dataset")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def _raw():
    import argparse

    return argparse.RawDescriptionHelpFormatter


def run(args) -> int:
    from mcdlib.cli.data_synth import format_summary, print_check
    from mcdlib.scenes.build import build_dataset
    from mcdlib.scenes.profiles import get_profile

    progress = not args.no_progress
    data_dir = Path(args.data_root) / "music_scenes" / args.preset
    print(f"== 1. the built-in music-scenes data ({args.preset}) -> {data_dir}")
    started = time.perf_counter()
    manifest = build_dataset(get_profile(args.preset), data_dir, seed=args.seed, progress=progress)
    print(format_summary(manifest, data_dir, time.perf_counter() - started))
    status = print_check(data_dir, progress=progress)
    if status or args.data_only:
        return status
    return _train_and_compare(args, data_dir, progress)


def _train_and_compare(args, data_dir: Path, progress: bool) -> int:
    from mcdlib.evaluation import compare_table
    from mcdlib.train import ensure_trained, evaluate_run

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    results = {}
    for number, model in enumerate(models, start=2):
        cfg = apply_overrides(get_preset(args.preset), [f"data.root={data_dir}", f"model.name={model}",
                                                         f"train.seed={args.seed}",
                                                         f"train.progress={str(progress).lower()}", *args.overrides])
        run_dir = Path(args.runs) / args.preset / model
        print(f"\n== {number}. train {model} ({args.preset} preset) -> {run_dir}")
        started = time.perf_counter()
        done = ensure_trained(cfg, run_dir, progress=progress)
        print(f"{model}: {done} in {time.perf_counter() - started:.1f} s")
        results[model] = evaluate_run(run_dir, "test", progress=False)
    print(f"\n== official evaluation, test split of {data_dir} (best val checkpoints)")
    print(compare_table(results, title=f"music scenes ({args.preset}) test accuracy (%)"))
    print("\nruns: " + ", ".join(str(Path(args.runs) / args.preset / m) for m in models))
    print("next: open the notebooks (make setup; .venv/bin/jupyter lab notebooks/), or "
          "`mcd ablate --grid ablations/mcd.yaml ...` for the ablations")
    return 0
