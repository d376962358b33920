"""Training throughput per model, data-loader throughput, and MCD's time to its best val accuracy.

    .venv/bin/python benchmarks/bench_train.py --data data/music_scenes/classroom --threads 2
    .venv/bin/python benchmarks/bench_train.py --skip-time-to-best        # throughput only

Targets: the loader alone is >= 10x faster than every model's training step (training is never
input-bound); MCD with the classroom preset reaches its best val accuracy in <= 120 s on 2 CPU
cores of a quiet machine (issue 10). ``--set train.epochs=24`` (any dotted override) trains a
longer schedule, e.g. to see whether the preset's last epoch is on a plateau. The training
step uses the loop's optimiser (:func:`mcdlib.train.loop.make_optimizer`). Needs the classroom build: ``mcd data synth --profile classroom --out
data/music_scenes/classroom``. Prints one line per figure and optionally writes them as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from mcdlib.config import apply_overrides, get_preset
from mcdlib.models import feature_inputs
from mcdlib.train.run_folder import read_metrics
from mcdlib.train.device import amp_settings, resolve_device
from mcdlib.train.loop import (default_model_factory, forward_losses, make_optimizer, open_datasets, to_device,
                               train)

MODELS = ("mcd", "qonly", "late", "avst")


def load_average() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def loader_throughput(dataset, batch_size: int, seconds: float = 3.0, features=None) -> float:
    """Samples per second of ``iter_batches`` alone (shuffled, repeated epochs for ``seconds``),
    loading ``features`` (default: every feature, as for AVST)."""
    n, start, epoch = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        for batch in dataset.iter_batches(batch_size, shuffle=True, seed=0, epoch=epoch, features=features):
            n += len(batch["answer"])
        epoch += 1
    return n / (time.perf_counter() - start)


def model_throughput(cfg, dataset, steps: int, warmup: int = 2) -> tuple[float, int]:
    """Training samples per second of one model (forward, loss, backward, Adam step) on real
    batches held in memory (so the loader is not timed); also its parameter count."""
    device = resolve_device(cfg.train.device)
    amp = amp_settings(device, cfg.train.amp)
    torch.manual_seed(0)
    model = default_model_factory(cfg.model, dataset.spec).to(device).train()
    optimizer = make_optimizer(model.parameters(), cfg.train.lr)
    batches = [to_device(b, device) for b in itertools.islice(
        dataset.iter_batches(cfg.train.batch_size, shuffle=True, seed=0, epoch=0), warmup + steps)]

    def step(batch):
        ce, aux, _ = forward_losses(model, batch, device, amp)
        optimizer.zero_grad(set_to_none=True)
        (ce + sum(aux.values())).backward()
        optimizer.step()

    for batch in batches[:warmup]:
        step(batch)
    start = time.perf_counter()
    for batch in batches[warmup:]:
        step(batch)
    elapsed = time.perf_counter() - start
    return sum(len(b["answer"]) for b in batches[warmup:]) / elapsed, sum(p.numel() for p in model.parameters())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/music_scenes/classroom")
    parser.add_argument("--preset", default="classroom")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-time-to-best", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="dotted config override for every run here (repeatable)")
    parser.add_argument("--json", default=None, help="write the figures here")
    args = parser.parse_args(argv)

    if not (Path(args.data) / "packed").is_dir() and not (Path(args.data) / "json").is_dir():
        print(f"{args.data}: no dataset; build it with: mcd data synth --profile {args.preset} --out {args.data}",
              file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    cfg = apply_overrides(get_preset(args.preset), {"data.root": args.data, "train.device": args.device,
                                                    "train.threads": args.threads, "train.progress": False})
    cfg = apply_overrides(cfg, args.set)
    datasets = open_datasets(cfg, ("train", "val"), progress=False)
    train_data = datasets["train"]
    figures: dict = {"data": args.data, "preset": args.preset, "threads": args.threads,
                     "device": str(resolve_device(args.device)), "train_questions": len(train_data),
                     "batch_size": cfg.train.batch_size}

    loader = loader_throughput(train_data, cfg.train.batch_size)
    figures["loader_samples_per_s"] = round(loader, 1)
    print(f"loader, every feature ({len(train_data)} train questions, batch {cfg.train.batch_size}): "
          f"{loader:,.0f} samples/s")
    for name in args.models.split(","):
        model_cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, name=name))
        features = feature_inputs(model_cfg.model)
        model_loader = loader_throughput(train_data, cfg.train.batch_size, features=features)
        speed, params = model_throughput(model_cfg, train_data, args.steps)
        figures[f"loader_samples_per_s_{name}"] = round(model_loader, 1)
        figures[f"train_samples_per_s_{name}"] = round(speed, 1)
        print(f"train {name:5s} ({params:,} parameters): {speed:,.0f} samples/s; its loader "
              f"({'+'.join(sorted(features)) or 'no features'}) {model_loader:,.0f} samples/s = "
              f"{model_loader / speed:.0f}x ({'ok' if model_loader >= 10 * speed else 'INPUT-BOUND'}: target >= 10x)")

    if not args.skip_time_to_best:
        with tempfile.TemporaryDirectory() as tmp:
            summary = train(cfg, Path(tmp) / "mcd", datasets=datasets)
            curve = [(r["epoch"], (r.get("val") or {}).get("acc"), r["elapsed_s"])
                     for r in read_metrics(Path(tmp) / "mcd" / "metrics.jsonl")]
        t = summary["timings"]
        figures.update(time_to_best_s=t["time_to_best_s"], total_train_s=t["total_s"],
                       best_epoch=summary["best_epoch"], best_val_acc=summary["best_val_acc"],
                       val_curve=[a for _, a, _ in curve])
        print(f"MCD {args.preset}: best val acc {summary['best_val_acc']:.2f} at epoch {summary['best_epoch']}/"
              f"{summary['epochs']} after {t['time_to_best_s']:.0f} s (all epochs: {t['total_s']:.0f} s; "
              f"target <= 120 s on a quiet machine); load average {load_average()}")
        print("val accuracy per epoch: " + ", ".join(f"{e}: {a:.2f} ({s:.0f} s)" for e, a, s in curve if a is not None))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
