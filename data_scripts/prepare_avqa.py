#!/usr/bin/env python
"""Lay out downloaded AVQA annotations (and optionally its HDF5 features) as a dataset folder.

    python data_scripts/prepare_avqa.py --annotations ~/downloads/avqa --dataset data/avqa \
        --appearance ~/downloads/avqa/app.h5 --motion ~/downloads/avqa/mot.h5 --audio ~/downloads/avqa/aud.h5

reads and links <dataset>/json/{train,val}_qa.json to the downloaded files (--copy to copy), then
converts the HDF5 features into <dataset>/feats/ (as `mcd data import-avqa`), runs the library's
check (`mcd data check`) and prints the exact next commands. Nothing is downloaded. The logic
lives in mcdlib.data.avqa_prepare and mcdlib.data.avqa_features; this script only parses options.
Exit status: 0 complete, 1 something missing or invalid, 2 a user error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mcdlib.data.avqa_features import (DEFAULT_DATASETS, DEFAULT_IDS, H5Feature,  # noqa: E402
                                       format_summary, import_avqa_features)
from mcdlib.data.avqa_prepare import avqa_next_commands, place_avqa_annotations  # noqa: E402
from mcdlib.data.prepare import add_script_options, run_check, shown_path  # noqa: E402
from mcdlib.errors import McdError  # noqa: E402

SCRIPT_DIR = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--annotations", required=True, type=Path,
                   help="the folder holding the downloaded train_qa.json and val_qa.json")
    p.add_argument("--dataset", required=True, type=Path, help="dataset folder to create or complete")
    p.add_argument("--copy", action="store_true", help="copy the annotation files instead of linking them")
    for role in DEFAULT_DATASETS:
        p.add_argument(f"--{role}", type=Path, default=None, metavar="FILE", help=f"HDF5 file of the {role} features")
        p.add_argument(f"--{role}-dataset", default=DEFAULT_DATASETS[role], metavar="NAME",
                       help=f"dataset name of the {role} features in that file (default: %(default)s)")
    p.add_argument("--ids", default=DEFAULT_IDS, metavar="NAME",
                   help="dataset name of the video ids in the HDF5 files (default: %(default)s)")
    add_script_options(p, "the clips folder (only used in the printed commands)",
                       "replace existing different annotation files")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        placed = place_avqa_annotations(args.annotations, args.dataset, "copy" if args.copy else "link", args.force)
        print(placed.format())
        sources = {role: H5Feature.open(role, getattr(args, role), getattr(args, f"{role}_dataset"), args.ids)
                   for role in DEFAULT_DATASETS if getattr(args, role) is not None}
        if sources:
            summary = import_avqa_features(args.dataset, sources, progress=not args.no_progress)
            print("\nHDF5 features:\n" + format_summary(summary))
        check_ok = run_check(args.dataset, args.no_check, not args.no_progress)
    except McdError as exc:
        print(f"prepare_avqa: error: {exc}", file=sys.stderr)
        return exc.exit_code
    script_dir = shown_path(SCRIPT_DIR)
    print("\nnext:")
    for command in avqa_next_commands(args.dataset, (args.dataset / "feats").is_dir(), args.videos, script_dir):
        print(f"  {command}")
    return 0 if not placed.missing and check_ok else 1


if __name__ == "__main__":
    sys.exit(main())
