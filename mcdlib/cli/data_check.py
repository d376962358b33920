"""``mcd data check PATH``: validate an annotation file or a dataset folder.

Exit status 0 when valid, 1 when problems were found, 2 when the input cannot be read. For a
music-scenes folder it also prints the ceilings table (:mod:`mcdlib.scenes.ceilings`: what the
template prior, vision alone, audio alone and perfect perception answer on the test split).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mcdlib.config import DataConfig
from mcdlib.data.check import check_path
from mcdlib.data.music_avqa import DUPLICATE_POLICIES, MAX_QUESTION_TOKENS


def register(sub) -> None:
    p = sub.add_parser(
        "check", help="validate an annotation file or a dataset folder",
        description="Validate a MUSIC-AVQA annotation file (avqa-<split>.json) or a dataset folder "
                    "(json/ and/or json_update/, optionally feats/ and packed/): record counts, the per-cell "
                    "table, duplicated ids, answers outside the vocabulary, unknown templates, feature problems, "
                    "packed-store problems (corrupt index, truncated or reshaped arrays, NaN, sources changed); "
                    "for a music-scenes folder also the ceilings table (template prior, vision only, audio "
                    "only, perfect perception). Exit status: 0 valid, 1 problems found, 2 unreadable input.")
    p.add_argument("path", metavar="PATH", help="an annotation file or a dataset folder")
    p.add_argument("--json", dest="json_out", metavar="OUT", default=None, help="also write the report as JSON")
    p.add_argument("--duplicates", choices=DUPLICATE_POLICIES, default=DataConfig.duplicates,
                   help="duplicated question ids: a warning, or a problem with 'error' (default: %(default)s)")
    p.add_argument("--max-tokens", type=int, default=MAX_QUESTION_TOKENS,
                   help="longest allowed question in reference tokens (default: %(default)s)")
    p.add_argument("--ceilings-split", default="test", choices=("train", "val", "test"),
                   help="split whose ceilings table is printed for a music-scenes folder (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    report = check_path(args.path, max_tokens=args.max_tokens,
                        duplicates=args.duplicates, progress=not args.no_progress)
    print(report.format())
    ceilings = music_scenes_ceilings(args.path) if report.ok else None
    if ceilings:
        print()
        print(format_ceilings_report(ceilings, args.ceilings_split))
    if args.json_out:
        report.save_json(args.json_out)
        if ceilings:
            data = json.loads(Path(args.json_out).read_text())
            Path(args.json_out).write_text(json.dumps({**data, "ceilings": ceilings}, indent=2) + "\n")
        print(f"report written to {args.json_out}")
    return 0 if report.ok else 1


def music_scenes_ceilings(path) -> dict | None:
    """The ceilings of a music-scenes folder (stored or computed from its scene graphs), else None."""
    from mcdlib.scenes.ceilings import read_ceilings

    path = Path(path)
    return read_ceilings(path) if path.is_dir() and (path / "scenes").is_dir() else None


def format_ceilings_report(ceilings: dict, split: str = "test") -> str:
    """The ceilings table of one split with a line on what it means."""
    from mcdlib.scenes.ceilings import format_ceilings

    if split not in ceilings:  # a folder whose manifest holds other splits' ceilings only
        available = [s for s in ("test", "val", "train") if s in ceilings]
        if not available:
            return "ceilings: none stored for this folder"
        print(f"ceilings: none stored for split {split!r}; showing {available[0]!r}", file=sys.stderr)
        split = available[0]
    return (format_ceilings(ceilings, split) + "\n"
            "ceilings: accuracy of observers that see only the question (prior), only the frames, only "
            "the sound, or everything (perfect), answering from the scene graphs; a report of the data, "
            "not a model result (mcdlib.scenes.ceilings)")
