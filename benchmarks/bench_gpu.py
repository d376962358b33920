"""GPU training speed per model at the official MUSIC-AVQA shapes, through the loop's own data path.

    .venv/bin/python benchmarks/bench_gpu.py                     # on a machine with CUDA
    .venv/bin/python benchmarks/bench_gpu.py --models mcd,avst --batch-size 64 --steps 50

For every model (``full`` preset) and the published AVST network restated in
``bench_models.py``: training samples/s (forward under the loop's autocast, loss, backward, the
loop's fused Adam, grad-scaler when float16), evaluation samples/s, peak GPU memory, and the
projected epoch time on the full MUSIC-AVQA size (corrected annotations: 31,927 train and
4,568 val questions: one training pass plus one validation pass). Batches take the loop's path:
float16 features assembled on a background thread, pinned, copied non-blocking on a side
stream and cast to float32 on the GPU (:class:`mcdlib.train.prefetch.Prefetcher`); the step
reads nothing back from the GPU (timing waits for the device once, at the end).

Without CUDA it prints "no CUDA device" and exits 0; ``--device cpu`` runs the same code on the
CPU (tiny sizes with ``--shapes toy``: a check that the script works, not a measurement).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import OFFICIAL_SPEC, PublishedAVST, interleave_vectorised  # noqa: E402

from mcdlib.config import get_preset  # noqa: E402
from mcdlib.data.spec import DataSpec, random_batch, toy_spec  # noqa: E402
from mcdlib.models import build_model  # noqa: E402
from mcdlib.train.device import amp_settings  # noqa: E402
from mcdlib.train.loop import forward_losses, make_optimizer, resolve_deterministic  # noqa: E402
from mcdlib.train.prefetch import Prefetcher  # noqa: E402

#: MUSIC-AVQA, corrected annotations (json_update): questions per split
TRAIN_QUESTIONS, VAL_QUESTIONS = 31_927, 4_568
FEATURES = ("audio", "visual", "visual_grid", "q_tokens")


def host_batches(spec: DataSpec, batch_size: int, pool: int = 4) -> list[dict[str, torch.Tensor]]:
    """A few random batches as the loader gives them for a GPU: features in float16."""
    out = []
    for seed in range(pool):
        batch = random_batch(spec, batch_size, seed=seed)
        out.append({k: (v.half() if k in FEATURES else v) for k, v in batch.items()})
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(name: str, spec: DataSpec, device: torch.device, batch_size: int, steps: int, warmup: int,
            batches: list[dict]) -> dict:
    amp = amp_settings(device, "auto")
    torch.manual_seed(0)
    published = name == "published"
    if published:
        model = PublishedAVST().to(device)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    else:
        model = build_model(dataclasses.replace(get_preset("full").model, name=name), spec).to(device)
        optimizer = make_optimizer(model.parameters(), 1e-4)
    scaler = torch.amp.GradScaler(device.type, enabled=amp.use_scaler)

    def losses(batch):
        if not published:
            ce, aux, _ = forward_losses(model, batch, device, amp)
            return ce + sum(aux.values())
        B, T, G, C = batch["visual_grid"].shape
        side = int(G ** 0.5)
        grid = batch["visual_grid"].transpose(2, 3).reshape(B, T, C, side, side)
        with amp.autocast(device):
            answers, pos, neg = model(batch["audio"], grid, grid.roll(1, dims=0), batch["q_ids"])
        rows, labels = interleave_vectorised(pos.float(), neg.float())
        return F.cross_entropy(answers.float(), batch["answer"]) + 0.5 * F.cross_entropy(rows, labels.to(device))

    def train_step(batch):
        loss = losses(batch)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    def timed(step, n):
        stream = itertools.islice(itertools.cycle(batches), n)
        with Prefetcher(stream, device, depth=2) as prefetched:
            sync(device)
            start = time.perf_counter()
            for batch in prefetched:
                step(batch)
            sync(device)
        return n * batch_size / (time.perf_counter() - start)

    model.train()
    timed(train_step, warmup)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train_rate = timed(train_step, steps)
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 30 if device.type == "cuda" else float("nan")
    model.eval()
    with torch.no_grad():
        eval_rate = timed(lambda b: losses(b), max(steps // 2, 1))
    epoch_s = TRAIN_QUESTIONS / train_rate + VAL_QUESTIONS / eval_rate
    return {"model": name, "amp": amp.name, "train": train_rate, "eval": eval_rate, "peak_gib": peak,
            "epoch_s": epoch_s, "params": sum(p.numel() for p in model.parameters())}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="mcd,avst,late,qonly,published",
                        help="mcdlib models (full preset) and 'published' (the published AVST, restated)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50, help="timed training steps per model")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (a check that the script runs)")
    parser.add_argument("--shapes", choices=("official", "toy"), default="official")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: bench_gpu.py measures GPU training; nothing to do on this machine "
              "(use --device cpu --shapes toy to check the script itself)")
        return 0
    if args.shapes == "official":
        spec = DataSpec(**OFFICIAL_SPEC, type_object_features=torch.randn(9, 2, 384))
    else:
        spec = toy_spec(grid=4)
    deterministic = resolve_deterministic(None, device)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    batches = host_batches(spec, args.batch_size)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{where}, torch {torch.__version__}, batch {args.batch_size}, {args.steps} steps, "
          f"{args.shapes} shapes, deterministic={deterministic}\n")
    print("| model | amp | train samples/s | eval samples/s | peak memory | projected MUSIC-AVQA epoch | parameters |")
    print("|---|---|---|---|---|---|---|")
    for name in [m for m in args.models.split(",") if m]:
        if name == "published" and args.shapes != "official":
            continue
        r = measure(name, spec, device, args.batch_size, args.steps, args.warmup, batches)
        print(f"| {r['model']} | {r['amp']} | {r['train']:,.0f} | {r['eval']:,.0f} | {r['peak_gib']:.2f} GiB | "
              f"{r['epoch_s'] / 60:.1f} min | {r['params'] / 1e6:.1f} M |", flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
