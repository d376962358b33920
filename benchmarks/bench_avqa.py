"""AVQA: HDF5 import speed and the estimated training memory of each model at AVQA's shapes.

    .venv/bin/python benchmarks/bench_avqa.py                      # 200 synthetic videos, full preset
    .venv/bin/python benchmarks/bench_avqa.py --videos 1000 --batch-size 64 --json out.json

1. **Import.** Writes HDF5 files in the published AVQA layout (appearance ``[N, 8, 16, 2048]``,
   motion ``[N, 8, 2048]``, audio ``[N, 2048]``, float32, random values) and times
   ``mcdlib.data.avqa_features.import_avqa_features`` (videos/s, MB read/s, MB written per
   video). I/O-bound: the real files are read once at this rate.
2. **Memory estimate.** Per model (MCD, late fusion, question-only) at the ``full`` preset on an
   AVQA-shaped batch (8 segments, 2048-d audio and visual, MiniLM 384-d question tokens, 4
   options): parameters x 4 (weights, gradients, Adam's two moments) + the tensors autograd saves
   for the backward pass (counted once per storage) + the batch, in float32. An estimate of a
   GPU's peak (no allocator overhead, no cuDNN/cuBLAS workspaces, no AMP savings): measured on
   the CPU when no GPU is lent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mcdlib.config import apply_overrides, get_preset
from mcdlib.data.spec import DataSpec, random_batch
from mcdlib.models import build_model

AVQA_SHAPES = {"clips": 8, "frames": 16, "dim": 2048}


def write_download(folder: Path, videos: int) -> dict[str, Path]:
    """AVQA-format annotations (one question per video) and the three HDF5 files."""
    import h5py

    rng = np.random.default_rng(0)
    records = [{"id": i, "video_name": f"vid{i:06d}_000010", "video_id": i, "question_text": "What is sounding?",
                "multi_choice": ["a", "b", "c", "d"], "answer": 0, "question_relation": "Both",
                "question_type": "Which"} for i in range(videos)]
    (folder / "dataset" / "json").mkdir(parents=True)
    (folder / "dataset" / "json" / "train_qa.json").write_text(json.dumps(records))
    c, f, d = AVQA_SHAPES["clips"], AVQA_SHAPES["frames"], AVQA_SHAPES["dim"]
    files = {}
    for role, dataset, shape in (("appearance", "resnet_features", (c, f, d)), ("motion", "resnext_features", (c, d)),
                                 ("audio", "vlaudio_features", (d,))):
        path = files[role] = folder / f"{role}.h5"
        with h5py.File(path, "w") as handle:
            data = handle.create_dataset(dataset, shape=(videos, *shape), dtype="float32")
            for start in range(0, videos, 64):
                stop = min(videos, start + 64)
                data[start:stop] = rng.random((stop - start, *shape), dtype=np.float32)
            handle.create_dataset("ids", data=np.arange(videos))
    return files


def bench_import(videos: int) -> dict:
    from mcdlib.data.avqa_features import H5Feature, import_avqa_features

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = write_download(folder, videos)
        read_mb = sum(p.stat().st_size for p in files.values()) / 2**20
        sources = {role: H5Feature.open(role, path) for role, path in files.items()}
        start = time.perf_counter()
        import_avqa_features(folder / "dataset", sources, progress=False)
        seconds = time.perf_counter() - start
        written = sum(p.stat().st_size for p in (folder / "dataset" / "feats").rglob("*.npy")) / 2**20
    return {"videos": videos, "seconds": round(seconds, 2), "videos_per_s": round(videos / seconds, 1),
            "read_mb_per_s": round(read_mb / seconds, 1), "hdf5_mb": round(read_mb, 1),
            "written_mb_per_video": round(written / videos, 4)}


def avqa_spec(text_len: int = 24, objects: int = 10) -> DataSpec:
    d = AVQA_SHAPES["dim"]
    g = torch.Generator().manual_seed(0)
    return DataSpec(audio_dim=d, visual_dim=d, text_dim=384, segments=AVQA_SHAPES["clips"], text_len=text_len,
                    vocab_size=4000, question_len=24, num_answers=4, num_cells=8 * 3, max_objects=objects,
                    multiple_choice=True, type_object_features=torch.randn(24, 2, 384, generator=g))


def memory_estimate(name: str, batch_size: int, preset: str = "full") -> dict:
    cfg = apply_overrides(get_preset(preset), {"model.name": name})
    spec = avqa_spec()
    torch.manual_seed(0)
    model = build_model(cfg.model, spec).train()
    batch = random_batch(spec, batch_size, videos_per_batch=max(1, batch_size // 4))
    storages: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    start = time.perf_counter()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(batch)
        loss = torch.nn.functional.cross_entropy(out["logits"], batch["answer"]) + sum(out["losses"].values())
    loss.backward()
    step_s = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    batch_bytes = sum(t.numel() * t.element_size() for t in batch.values())
    activations = sum(storages.values())
    total = params * 4 * 4 + activations + batch_bytes
    return {"model": name, "preset": preset, "batch_size": batch_size, "parameters": params,
            "parameters_and_adam_mb": round(params * 16 / 2**20, 1), "activations_mb": round(activations / 2**20, 1),
            "batch_mb": round(batch_bytes / 2**20, 1), "estimate_mb": round(total / 2**20, 1),
            "cpu_forward_backward_s": round(step_s, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", type=int, default=200, help="synthetic videos in the HDF5 files (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size of the memory estimate (default: %(default)s)")
    p.add_argument("--preset", default="full", help="model sizes of the memory estimate (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    p.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = {"import": bench_import(args.videos),
               "memory": [memory_estimate(m, args.batch_size, args.preset) for m in ("mcd", "late", "qonly")]}
    imp = results["import"]
    print(f"import: {imp['videos']} videos ({imp['hdf5_mb']} MB of HDF5) in {imp['seconds']} s: "
          f"{imp['videos_per_s']} videos/s, {imp['read_mb_per_s']} MB/s read, "
          f"{imp['written_mb_per_video'] * 1024:.0f} KB written per video")
    for m in results["memory"]:
        print(f"memory ({m['model']}, {m['preset']} preset, batch {m['batch_size']}): ~{m['estimate_mb']} MB = "
              f"{m['parameters_and_adam_mb']} MB parameters+grads+Adam ({m['parameters']:,} parameters) + "
              f"{m['activations_mb']} MB saved activations + {m['batch_mb']} MB batch")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
