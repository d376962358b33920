"""A small AVQA dataset in the real record format, written by the tests (no data copied from
anywhere): ``json/{train,val}_qa.json`` with the 8 keys of AVQA's files, random features and a
manifest. Questions, options and answers are made up; only the format is real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mcdlib.data.avqa import QUESTION_TYPES
from mcdlib.data.features import write_random_features

QUESTIONS = (
    "What is the main source of sound in the video?",
    "Where does the barking come from?",
    "What happens before the car starts?",
    "Why is the crowd cheering?",
    "What is the man using the hammer for?",
    "When does the bell ring?",
    "Which animal is making the sound?",
    "What is happening in the kitchen?",
)
OPTIONS = ("dog", "car", "man playing guitar", "bell", "crowd", "a cat", "rain on the roof", "engine")
RELATIONS = ("Both", "View")


def video_names(n: int) -> list[str]:
    """YouTube id + start second, as AVQA's video_name (a leading '-' included)."""
    return [f"-vid{i:03d}xYz_{30 * i:06d}" for i in range(n)]


def record(qid: int, video: int, rng: np.random.Generator) -> dict:
    """One record with the 8 keys, in the order of the released files."""
    options = [str(o) for o in rng.choice(OPTIONS, 4, replace=False)]
    return {"id": qid, "video_name": video_names(video + 1)[video], "video_id": 1000 + video,
            "question_text": QUESTIONS[qid % len(QUESTIONS)], "multi_choice": options,
            "answer": int(rng.integers(4)), "question_relation": RELATIONS[qid % len(RELATIONS)],
            "question_type": QUESTION_TYPES[qid % len(QUESTION_TYPES)]}


def write_avqa_fixture(root: str | Path, n_videos: int = 6, split_sizes: dict[str, int] | None = None,
                       features: dict[str, tuple[int, ...]] | None = None, seed: int = 0,
                       annotations: str = "json") -> Path:
    """``<root>/<annotations>/<split>_qa.json`` + ``feats/<name>/<video_name>.npy`` + manifest."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    split_sizes = split_sizes or {"train": 24, "val": 8}
    features = features or {"audio8": (8, 8), "visual12": (8, 12)}
    qid = 0
    for split, size in split_sizes.items():
        records = []
        for _ in range(size):
            records.append(record(qid, int(rng.integers(n_videos)), rng))
            qid += 1
        path = root / annotations / f"{split}_qa.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records, indent=1))
    names = video_names(n_videos)
    for i, (name, shape) in enumerate(features.items()):
        write_random_features(root, name, names, shape, seed=seed + i)
    audio, visual = list(features)[:2]
    seconds = next(iter(features.values()))[0]
    (root / "manifest.json").write_text(json.dumps({"seconds": seconds, "features": {"audio": audio, "visual": visual}}))
    return root
