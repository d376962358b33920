"""``mcd data check PATH``: validate an annotation file or a dataset folder.

Exit status 0 when valid, 1 when problems were found, 2 when the input cannot be read.
"""

from __future__ import annotations

from mcdlib.config import DataConfig
from mcdlib.data.check import check_path
from mcdlib.data.music_avqa import DUPLICATE_POLICIES, MAX_QUESTION_TOKENS


def register(sub) -> None:
    p = sub.add_parser(
        "check", help="validate an annotation file or a dataset folder",
        description="Validate a MUSIC-AVQA annotation file (avqa-<split>.json) or a dataset folder "
                    "(json/ and/or json_update/, optionally feats/ and packed/): record counts, the per-cell "
                    "table, duplicated ids, answers outside the vocabulary, unknown templates, feature problems, "
                    "packed-store problems (corrupt index, truncated or reshaped arrays, NaN, sources changed). "
                    "Exit status: 0 valid, 1 problems found, 2 unreadable input.")
    p.add_argument("path", metavar="PATH", help="an annotation file or a dataset folder")
    p.add_argument("--json", dest="json_out", metavar="OUT", default=None, help="also write the report as JSON")
    p.add_argument("--duplicates", choices=DUPLICATE_POLICIES, default=DataConfig.duplicates,
                   help="duplicated question ids: a warning, or a problem with 'error' (default: %(default)s)")
    p.add_argument("--max-tokens", type=int, default=MAX_QUESTION_TOKENS,
                   help="longest allowed question in reference tokens (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    report = check_path(args.path, max_tokens=args.max_tokens,
                        duplicates=args.duplicates, progress=not args.no_progress)
    print(report.format())
    if args.json_out:
        report.save_json(args.json_out)
        print(f"report written to {args.json_out}")
    return 0 if report.ok else 1
