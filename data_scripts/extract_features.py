#!/usr/bin/env python
"""Extract per-second features of real videos into a dataset folder (official layout).

    python data_scripts/extract_features.py --videos MUSIC-AVQA-videos/ --dataset data/music_avqa

writes feats/effnet/<video_id>.npy [S, 1280], feats/effnet_grid/<video_id>.npy [S, G, 1280],
feats/logmel/<video_id>.npy [S, 128] (S = video seconds, at most --seconds) and manifest.json
(so DataConfig "auto" picks these features). Resumable: rerun the same command after an
interruption and complete videos are skipped. The logic lives in mcdlib.encoders.extract and
mcdlib.data.video; this script only parses options. Exit status: 0 done, 1 some videos
failed (with --keep-going), 2 a user error (message, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mcdlib.data.features import annotated_video_ids  # noqa: E402
from mcdlib.encoders.extract import ExtractionSettings, extract_features  # noqa: E402
from mcdlib.errors import McdError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    defaults = ExtractionSettings()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--videos", required=True, type=Path, help="folder holding <video_id>.mp4 (or .mkv, .webm, ...)")
    p.add_argument("--dataset", required=True, type=Path, help="dataset folder (feats/ and manifest.json go here)")
    p.add_argument("--limit", type=int, default=None, help="only the first N videos (by name)")
    p.add_argument("--annotated-only", action="store_true",
                   help="only videos whose id appears in the dataset's json*/avqa-*.json annotations")
    p.add_argument("--keep-going", action="store_true",
                   help="skip undecodable videos (listed at the end) instead of stopping at the first")
    p.add_argument("--seconds", type=int, default=defaults.max_seconds,
                   help="nominal video length: longer videos keep their first SECONDS")
    p.add_argument("--grid", type=int, default=defaults.grid, help="columns of the effnet_grid feature")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="frames per visual forward pass")
    p.add_argument("--chunk", type=int, default=defaults.chunk, help="videos decoded, then encoded together")
    p.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads (0: torch's default)")
    p.add_argument("--decode-workers", type=int, default=defaults.decode_workers,
                   help="threads decoding ahead while encoding (0: decode in the main thread)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = ExtractionSettings(max_seconds=args.seconds, grid=args.grid, batch_size=args.batch_size,
                                  chunk=args.chunk, threads=args.threads, decode_workers=args.decode_workers)
    try:
        video_ids = None
        if args.annotated_only:
            video_ids = annotated_video_ids(args.dataset)
            if not video_ids:
                raise McdError(f"{args.dataset}: --annotated-only found no json*/avqa-*.json annotations; run "
                               "data_scripts/prepare_music_avqa.py first, or drop --annotated-only")
        report = extract_features(args.videos, args.dataset, settings, limit=args.limit, video_ids=video_ids,
                                  keep_going=args.keep_going, progress=not args.no_progress)
    except McdError as exc:
        print(f"extract_features: error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(report.format())
    if report.written or report.skipped:
        print(f"next: mcd data check {args.dataset}   then   mcd data pack {args.dataset}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
