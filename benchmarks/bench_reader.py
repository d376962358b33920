"""Time reading + validating the corrected MUSIC-AVQA test file (target: < 1 s) and evaluating it.

    .venv/bin/python benchmarks/bench_reader.py [--root data/music_avqa] [--repeat 5]

``--root``: a dataset folder holding the official ``json_update/`` annotations (laid out by
``data_scripts/prepare_music_avqa.py``; default ``data/music_avqa``).

Prints the best and median wall time over ``--repeat`` runs of ``load_split(root, "test",
annotations="json_update")`` (9,129 records: JSON parse, record validation, reference
tokenisation, natural text) and of ``evaluate`` on those records.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from mcdlib.data.check import check_annotation_file
from mcdlib.data.music_avqa import load_split, split_path
from mcdlib.evaluation import evaluate

DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "data" / "music_avqa"
TARGET_S = 1.0


def timed(fn, repeat: int) -> tuple[float, float, object]:
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="folder holding json_update/")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    path = split_path(args.root, "test", "json_update")
    if not path.is_file():
        print(f"{path} not found; pass --root (the folder holding json_update/)", file=sys.stderr)
        return 2
    best, median, questions = timed(lambda: load_split(args.root, "test", annotations="json_update"), args.repeat)
    print(f"read+validate {path} ({len(questions):,} records): best {best * 1000:.0f} ms, "
          f"median {median * 1000:.0f} ms (target < {TARGET_S * 1000:.0f} ms: {'PASS' if best < TARGET_S else 'FAIL'})")
    best, median, _ = timed(lambda: check_annotation_file(path), args.repeat)
    print(f"data check of the same file: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms")
    predictions = {str(q.question_id): "yes" for q in questions}
    best, median, _ = timed(lambda: evaluate(predictions, questions), args.repeat)
    print(f"evaluate {len(questions):,} predictions: best {best * 1000:.0f} ms, median {median * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
