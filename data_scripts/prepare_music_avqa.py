#!/usr/bin/env python
"""Lay out downloaded MUSIC-AVQA annotations (and optional feature folders) as a dataset folder.

    python data_scripts/prepare_music_avqa.py --annotations ~/downloads/MUSIC-AVQA --dataset data/music_avqa

links <dataset>/json/avqa-{train,val,test}.json and <dataset>/json_update/avqa-*.json to the
downloaded files (--copy to copy them), verifies the SHA-256 of every file whose official
checksum is known, links already-extracted feature folders (--features), runs the library's
check (mcd data check) and prints what is missing and the exact next commands. Nothing is
downloaded. The logic lives in mcdlib.data.prepare; this script only parses options.
Exit status: 0 complete, 1 something missing or invalid, 2 a user error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mcdlib.data.music_avqa import ANNOTATION_VERSIONS  # noqa: E402
from mcdlib.data.prepare import (  # noqa: E402
    add_script_options, link_feature_folders, next_commands, parse_sha256sums, prepare_annotations, run_check,
    shown_path,
)
from mcdlib.errors import McdError  # noqa: E402

SCRIPT_DIR = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--annotations", required=True, type=Path,
                   help="the downloaded annotations: a clone of GeWu-Lab/MUSIC-AVQA, its data/ folder, or a folder "
                        "of avqa-*.json (then give --version)")
    p.add_argument("--dataset", required=True, type=Path, help="dataset folder to create or complete")
    p.add_argument("--version", choices=ANNOTATION_VERSIONS, default=None,
                   help="version of a flat folder of avqa-*.json files (json: original, json_update: corrected)")
    p.add_argument("--copy", action="store_true", help="copy the files instead of linking them")
    p.add_argument("--sha256sums", type=Path, default=None,
                   help="extra known checksums ('<sha256>  json_update/avqa-train.json' lines) to verify against")
    p.add_argument("--features", type=Path, default=None,
                   help="a folder of already-extracted features (<name>/<video_id>.npy) to link as feats/<name>")
    p.add_argument("--feature", dest="feature_names", action="append", default=None, metavar="NAME",
                   help="link only this feature folder of --features (repeatable)")
    add_script_options(p, "the videos folder (only used in the printed commands)",
                       "replace existing different files or links")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        extra = parse_sha256sums(args.sha256sums) if args.sha256sums else None
        result = prepare_annotations(args.annotations, args.dataset, mode="copy" if args.copy else "link",
                                     version=args.version, extra_sha256=extra, force=args.force)
        if args.features is not None:
            result.features = link_feature_folders(args.features, args.dataset, args.feature_names, args.force)
        print(result.format())
        check_ok = run_check(args.dataset, args.no_check, not args.no_progress)
    except McdError as exc:
        print(f"prepare_music_avqa: error: {exc}", file=sys.stderr)
        return exc.exit_code
    script_dir = shown_path(SCRIPT_DIR)
    has_features = (args.dataset / "feats").is_dir()
    print("\nnext:")
    for command in next_commands(args.dataset, result.versions, args.videos, has_features, script_dir):
        print(f"  {command}")
    return 0 if result.ok and check_ok else 1


if __name__ == "__main__":
    sys.exit(main())
