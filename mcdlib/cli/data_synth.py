"""``mcd data synth``: build the music-scenes dataset (annotations, features, media).

    mcd data synth --profile tiny --out data/music_scenes/tiny
    mcd data synth --profile classroom --out data/music_scenes/classroom --media 5
    mcd data synth --profile tiny --out /tmp/ms --set videos=8 --set p_voiceover=0.5 --seed 3
    mcd data synth --profile tiny --format avqa --out data/music_scenes_avqa/tiny   # AVQA multiple choice

A complete build with the same settings is reused (the command says so); a folder holding
another build is an error unless ``--force``. Ends with the ``mcd data check`` summary.
"""

from __future__ import annotations

import time

from mcdlib.scenes.build import DEFAULT_THREADS, build_dataset
from mcdlib.scenes.profiles import PROFILES, get_profile


def register(sub) -> None:
    p = sub.add_parser(
        "synth", help="build the music-scenes dataset (MUSIC-AVQA format, or AVQA with --format avqa)",
        description="Render music scenes (instrument pictures, sampled instrument sound), ask the 33 "
                    "MUSIC-AVQA question templates about them, extract log-mel and EfficientNet-Lite0 "
                    "features and pack them: a dataset folder in the exact MUSIC-AVQA layout. With "
                    "--format avqa the questions are AVQA's four-option multiple choice "
                    "(json/<split>_qa.json; see mcdlib.scenes.avqa_format).")
    p.add_argument("--profile", default="classroom", metavar="NAME",
                   help=f"size and settings: {', '.join(PROFILES)} (default: %(default)s)")
    p.add_argument("--out", required=True, metavar="DIR", help="dataset folder to write (created if missing)")
    p.add_argument("--seed", type=int, default=0, help="random seed of scenes and questions (default: 0)")
    p.add_argument("--media", type=int, default=0, metavar="K",
                   help="also write playable media (WAV + MP4) for the first K videos (default: 0)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a profile setting, e.g. videos=200 or p_voiceover=0.5 (repeatable)")
    p.add_argument("--format", dest="annotation_format", choices=("music_avqa", "avqa"), default="music_avqa",
                   help="question format: MUSIC-AVQA templates (default) or AVQA multiple choice "
                        "(Which, Come From, Happening, Where, Before Next, When; 4 options)")
    p.add_argument("--force", action="store_true", help="replace another build in --out")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help="torch threads while encoding; features are byte-identical for equal threads "
                        "(default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    profile = get_profile(args.profile, args.overrides)
    started = time.perf_counter()
    manifest = build_dataset(profile, args.out, seed=args.seed, media=args.media,
                             progress=not args.no_progress, force=args.force, threads=args.threads,
                             annotation_format=args.annotation_format)
    print(format_summary(manifest, args.out, time.perf_counter() - started))
    return print_check(args.out, progress=not args.no_progress)


def format_summary(manifest: dict, out_dir, seconds: float) -> str:
    """A few lines on what was built (or reused)."""
    counts = manifest["counts"]
    splits = ", ".join(f"{name} {c['questions']} questions / {c['videos']} videos"
                       for name, c in counts["splits"].items())
    how = "cached: an identical build is already there (use --force to rebuild)" if manifest.get("cached") \
        else f"built in {seconds:.1f} s"
    form = " as AVQA multiple choice" if manifest.get("annotation_format") == "avqa" else ""
    lines = [f"music scenes {manifest['profile']['name']!r}{form} (seed {manifest['seed']}, key {manifest['key']}) "
             f"in {out_dir}: {how}",
             f"  {counts['videos']} videos of {manifest['seconds']} s; {splits}",
             f"  features: " + ", ".join(f"{role}={name}" for role, name in manifest["features"].items())
             + f"; renderer {manifest['renderer']['name']}"]
    if manifest.get("media"):
        lines.append(f"  media: {len(manifest['media'])} videos under {out_dir}/media")
    return "\n".join(lines)


def print_check(out_dir, progress: bool = True) -> int:
    """Print the ``mcd data check`` report of the folder; its status (0 valid, 1 problems)."""
    try:
        from mcdlib.data.check import check_path
    except ImportError:
        return 0
    report = check_path(out_dir, progress=progress)
    print(report.format())
    return 0 if report.ok else 1
