"""Benchmark the packed store: packing speed and batch-read speed (targets in the comments).

    .venv/bin/python benchmarks/bench_store.py --videos 2000

Generates ``--videos`` fake videos (vggish-like [60, 128] and res18-like [60, 512] float32
``.npy`` files) in a temporary folder, then measures

* packing both features from a warm disk (target >= 200 videos/s),
* reading random batches of 64 rows of both features from the packed store
  (target >= 20,000 samples/s on 2 cores),
* ``AVQADataset.iter_batches(64)`` over ``--questions`` random questions on the same kind of
  features with the ``hash`` text encoder (target >= 20,000 samples/s).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mcdlib.data.features import write_random_features
from mcdlib.data.store import PackedStore, pack


def make_fake_feats(root: Path, n_videos: int, seconds: int = 60, seed: int = 0) -> list[str]:
    """Write ``n_videos`` fake vggish [S,128] and res18 [S,512] float32 files; return the ids."""
    ids = [f"{i:08d}" for i in range(n_videos)]
    for name, dim in (("vggish", 128), ("res18", 512)):
        write_random_features(root, name, ids, (seconds, dim), seed=seed)
    return ids


def bench_pack(root: Path, ids: list[str]) -> float:
    # warm the page cache the way a second run would find it
    for name in ("vggish", "res18"):
        for vid in ids:
            (root / "feats" / name / f"{vid}.npy").read_bytes()
    start = time.perf_counter()
    pack(root, ["vggish", "res18"], video_ids=ids, seconds=60, segments=10, progress=False)
    return len(ids) / (time.perf_counter() - start)


def bench_read(root: Path, batch_size: int = 64, n_batches: int = 2000, seed: int = 0) -> float:
    store = PackedStore(root)
    rng = np.random.default_rng(seed)
    batches = [np.sort(rng.choice(len(store), batch_size)) for _ in range(n_batches)]
    for rows in batches[:20]:  # warm-up
        store.get("vggish", rows), store.get("res18", rows)
    start = time.perf_counter()
    for rows in batches:
        store.get("vggish", rows)
        store.get("res18", rows)
    return n_batches * batch_size / (time.perf_counter() - start)


def bench_dataset(root: Path, n_videos: int, n_questions: int, batch_size: int = 64) -> float:
    """AVQADataset.batch over one shuffled epoch (hash text encoder: no model load)."""
    from mcdlib.config import DataConfig
    from mcdlib.data.dataset import AVQADataset, ensure_packed, write_toy_dataset

    write_toy_dataset(root, n_videos=n_videos, split_sizes={"train": n_questions},
                      features={"vggish": (60, 128), "res18": (60, 512)})
    cfg = DataConfig(root=str(root))
    ensure_packed(cfg, progress=False)
    dataset = AVQADataset(cfg, "train", text_model="hash", progress=False)
    for _ in dataset.iter_batches(batch_size, seed=0, epoch=0):  # warm-up epoch
        pass
    start = time.perf_counter()
    for _ in dataset.iter_batches(batch_size, seed=0, epoch=1):
        pass
    return len(dataset) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--questions", type=int, default=10000, help="questions of the loader benchmark")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ids = make_fake_feats(root, args.videos)
        pack_rate = bench_pack(root, ids)
        read_rate = bench_read(root, n_batches=args.batches)
    with tempfile.TemporaryDirectory() as tmp:
        loader_rate = bench_dataset(Path(tmp), n_videos=args.videos, n_questions=args.questions)
    print(f"pack  vggish[60,128] + res18[60,512], {args.videos} videos: {pack_rate:,.0f} videos/s (target >= 200)")
    print(f"read  batch 64 of both features from the packed store: {read_rate:,.0f} samples/s (target >= 20,000)")
    print(f"load  AVQADataset.iter_batches(64), {args.questions} questions (q_tokens, text objects, both "
          f"features): {loader_rate:,.0f} samples/s (target >= 20,000)")


if __name__ == "__main__":
    main()
