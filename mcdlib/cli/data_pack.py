"""``mcd data pack``: pack per-video features into the float16 store (resumable)."""

from __future__ import annotations

import time
from pathlib import Path

from mcdlib.data.features import DEFAULT_SECONDS, feature_names, read_manifest
from mcdlib.data.store import pack, packed_dir
from mcdlib.errors import FeatureError


def register(sub) -> None:
    p = sub.add_parser(
        "pack", help="pack feats/<name>/*.npy into float16 memmaps (resumable)",
        description="Sample every video's features to SEGMENTS rows and pack them into "
                    "DATASET_DIR/packed/<name>.npy (float16) with packed/index.json. An interrupted "
                    "pack resumes where it stopped; a finished one is a no-op.")
    p.add_argument("dataset_dir", metavar="DATASET_DIR", help="dataset folder holding feats/ (and json/)")
    p.add_argument("--feature", dest="features", action="append", default=[], metavar="NAME",
                   help="feature folder under feats/ (repeatable; default: manifest.json's features, "
                        "else every folder under feats/)")
    p.add_argument("--seconds", type=int, default=None,
                   help=f"nominal video length S (default: manifest.json's, else {DEFAULT_SECONDS})")
    p.add_argument("--segments", type=int, default=None,
                   help="rows kept per video, every S/segments seconds (default: 10, at most S, as training "
                        "resolves data.segments)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run)


def default_features(dataset_dir: Path) -> list[str]:
    """manifest.json's features when given, else every folder under feats/."""
    named = [n for n in (read_manifest(dataset_dir).get("features") or {}).values() if n]
    return list(dict.fromkeys(named)) or feature_names(dataset_dir)


def run(args) -> int:
    root = Path(args.dataset_dir)
    if not root.is_dir():
        raise FeatureError(f"{root}: no such dataset folder")
    features = args.features or default_features(root)
    if not features:
        raise FeatureError(f"{root}: no feature folders under feats/ and no manifest.json; "
                           "extract features into feats/<name>/<video_id>.npy or pass --feature NAME")
    start = time.perf_counter()
    seconds = args.seconds or int(read_manifest(root).get("seconds") or DEFAULT_SECONDS)
    segments = args.segments or min(10, seconds)
    summary = pack(root, features, seconds=seconds, segments=segments, progress=args.progress)
    elapsed = time.perf_counter() - start
    print(f"packed store {packed_dir(root)} ({elapsed:.1f} s)")
    for name, info in summary.items():
        size = (packed_dir(root) / f"{name}.npy").stat().st_size / 2**20
        state = "already packed" if info["packed"] == 0 else f"{info['packed']} videos packed now"
        if info["packed"] and info["skipped"]:
            state += f", {info['skipped']} resumed"
        print(f"  {name:24s} {str(info['shape']):24s} {size:9.1f} MiB  {state}")
    return 0
