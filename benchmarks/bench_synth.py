"""Benchmark building the music-scenes dataset end to end: time, disk and peak memory.

    .venv/bin/python benchmarks/bench_synth.py tiny
    .venv/bin/python benchmarks/bench_synth.py classroom --threads 2
    .venv/bin/python benchmarks/bench_synth.py full --out /data/ms_full --keep
    .venv/bin/python benchmarks/bench_synth.py classroom --set version=1    # the first generator

Builds the profile from scratch into a fresh folder (a temporary one unless ``--out``) with
:func:`mcdlib.scenes.build.build_dataset` (sampling, questions, audio rendering, log-mel,
frames, EfficientNet-Lite0, packing) and prints the wall time, the disk usage per folder and
the peak resident memory of the process. Targets on 2 CPU cores: tiny <= 30 s; classroom
<= 5 min, < 1 GB on disk, < 4 GB memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mcdlib.scenes.build import DEFAULT_THREADS, build_dataset
from mcdlib.scenes.profiles import PROFILES, get_profile


def disk_usage(folder: Path) -> dict[str, int]:
    """Bytes per top-level entry of ``folder`` (files directly inside count as ``.``)."""
    usage: dict[str, int] = {}
    for path in folder.rglob("*"):
        if path.is_file():
            top = path.relative_to(folder).parts[0] if len(path.relative_to(folder).parts) > 1 else "."
            usage[top] = usage.get(top, 0) + path.stat().st_size
    return dict(sorted(usage.items()))


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports KB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", choices=list(PROFILES))
    parser.add_argument("--out", default=None, help="build folder (default: a temporary folder, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary build folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--media", type=int, default=0)
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    profile = get_profile(args.profile, args.overrides)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix=f"bench_synth_{args.profile}_")) / "data"
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out} is not empty: the benchmark builds from scratch; give a new --out folder")
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    start = time.perf_counter()
    manifest = build_dataset(profile, out, seed=args.seed, media=args.media, progress=False, threads=args.threads)
    seconds = time.perf_counter() - start

    usage = disk_usage(out)
    questions = sum(s["questions"] for s in manifest["counts"]["splits"].values())
    print(f"command: {' '.join(sys.argv)}")
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) before / after: {load_before:.1f} / {load_after:.1f}")
    print(f"profile {profile.name} version {profile.version}: {profile.videos} videos, {questions} questions, renderer "
          f"{manifest['renderer']['name']}, {args.threads} torch threads")
    print(f"time: {seconds:.1f} s ({seconds / profile.videos * 1000:.1f} ms per video)")
    print(f"disk: {sum(usage.values()) / 1e6:.1f} MB (" + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in usage.items())
          + ")")
    print(f"peak RSS: {peak_rss_mb():.0f} MB")
    usage_self = resource.getrusage(resource.RUSAGE_SELF)
    print(f"CPU time of the process: {usage_self.ru_utime + usage_self.ru_stime:.0f} s (user + system; "
          "less sensitive to a busy machine than the wall time)")
    if not args.out and not args.keep:
        shutil.rmtree(out.parent)
    else:
        print(f"kept: {out}")


if __name__ == "__main__":
    main()
