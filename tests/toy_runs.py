"""Tiny real datasets and runs for the reliability tests: random features in the official layout
(:func:`mcdlib.data.dataset.write_toy_dataset`), the hash text encoder, a 2-epoch tiny preset.
A training through ``mcd train`` takes about a second."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from mcdlib.cli import main
from mcdlib.data.dataset import write_toy_dataset

#: the settings of every toy run (the data's length is 10 s; no manifest says so)
SETTINGS = ["--preset", "tiny", "--set", "data.text_model=hash", "--set", "train.progress=false",
            "--set", "data.seconds=10", "--set", "train.device=cpu"]


def toy_dataset(root: Path, seed: int = 0) -> Path:
    """6 videos of 10 s, train/val/test 24/8/8 questions (different content for another seed)."""
    return write_toy_dataset(root, n_videos=6, seconds=10, seed=seed)


def train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--out", str(out), *SETTINGS, *extra]


def train(data: Path, out: Path, *extra: str) -> int:
    return main(train_args(data, out, *extra))


def snapshot(folder: Path) -> dict[str, str]:
    """relative path → SHA-256 of every file under ``folder`` (to show nothing changed)."""
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
