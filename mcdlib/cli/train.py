"""``mcd train``: train one model (MCD, an ablation or a baseline) into a run folder.

    mcd train --data data/music_scenes/classroom --model mcd --out runs/mcd
    mcd train --data DIR --model late --preset tiny --set model.modalities=a --out runs/late_a
    mcd train --out runs/mcd --resume                      # continue an interrupted run
    torchrun --nproc_per_node 2 -m mcdlib train --data DIR --model mcd --out runs/mcd_ddp
"""

from __future__ import annotations

import dataclasses

from mcdlib.config import Config, ModelConfig, apply_overrides, get_preset, load_config, preset_names
from mcdlib.data.features import require_dataset_dir
from mcdlib.errors import ConfigError, RunError

MODEL_CHOICES = next(f.metadata["choices"] for f in dataclasses.fields(ModelConfig) if f.name == "name")


def add_settings_arguments(p, with_model: bool = True) -> None:
    """``--data``, ``--model``, ``--preset``, ``--set``: the settings of a run (shared by ablate)."""
    p.add_argument("--data", metavar="DIR", default=None, help="dataset folder (sets data.root)")
    if with_model:
        p.add_argument("--model", choices=MODEL_CHOICES, default=None, help="model family (default: mcd)")
    p.add_argument("--preset", choices=preset_names(), default=None, help="preset (default: classroom)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="dotted override, e.g. model.fusion=concat or train.epochs=20 (repeatable)")


def add_jobs_argument(p) -> None:
    """``--jobs N`` of the commands that train many runs (ablate, tune)."""
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="runs trained at a time, each in its own process (default: %(default)s); with "
                        "train.threads=0 each gets cpu_count/N threads. With train.threads set, every run ends "
                        "bit-identical to training them one after the other. Not under torchrun")


def jobs_from_args(args) -> int:
    if args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: give 1 or more runs at a time")
    return args.jobs


def settings_from_args(args) -> Config:
    """Preset, then ``--data``/``--model``, then ``--set`` overrides."""
    cfg = get_preset(args.preset or "classroom")
    if args.data is None:
        raise ConfigError("--data DIR is required (the dataset folder, e.g. data/music_scenes/classroom)")
    require_dataset_dir(args.data)
    forced = {"data.root": str(args.data)}
    if getattr(args, "model", None):
        forced["model.name"] = args.model
    return apply_overrides(apply_overrides(cfg, forced), args.overrides)


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model into a run folder (or resume one)",
                       description="Train MCD, an ablation or a baseline with the one training loop. "
                                   "Under torchrun every process runs this command (DDP). The run folder is "
                                   "owned by one process at a time (RUN/.lock names it); a resume must use the "
                                   "dataset the run was trained on (its fingerprint is in run.json).")
    add_settings_arguments(p)
    p.add_argument("--out", metavar="RUN", required=True, help="run folder to create (or resume)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from checkpoints/last.pt (without --data/--model/--preset: "
                        "with the run's own config.yaml, plus any --set such as train.epochs=N)")
    p.set_defaults(func=run)


def run(args) -> int:
    from mcdlib.train import RunFolder, train

    folder = RunFolder(args.out)
    own_settings = args.data is None and args.model is None and args.preset is None
    if args.resume and not folder.root.is_dir():
        raise RunError(f"{folder.root}: nothing to resume: "
                       + ("it is a file, not a run folder" if folder.root.exists() else "no such run folder")
                       + "; give the --out folder of an earlier mcd train, or drop --resume to start a new run")
    if args.resume and own_settings and not folder.config.is_file():
        raise RunError(f"{folder.root}: nothing to resume: the folder holds no run (no config.yaml); "
                       "give the --out folder of an earlier mcd train, or drop --resume and pass --data DIR")
    if args.resume and own_settings:
        cfg = load_config(folder.config, overrides=args.overrides)
    else:
        cfg = settings_from_args(args)
    summary = train(cfg, args.out, resume=args.resume)
    return 0 if summary["status"] == "finished" else 1
