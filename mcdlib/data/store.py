"""The packed feature store: one float16 memory-mapped ``.npy`` per feature, resumable packing.

Reading one 60-second ``.npy`` per video and per sample is I/O-bound (24 MB per video for
grid features). :func:`pack` reads every video once, keeps only the ``segments`` rows the
models use, and writes them into ``<dataset>/packed/<name>.npy`` (float16,
``[N_videos, segments, ...]``) next to ``<dataset>/packed/index.json``:

.. code-block:: json

    {"version": 1, "video_ids": ["00000093", ...],
     "features": {"vggish": {"shape": [N, 10, 128], "dtype": "float16", "source": "feats/vggish",
                             "source_seconds": 60, "segments": 10, "complete": true}}}

Packing is resumable: a per-feature done-mask (``<name>.done.npy``) is flushed after every
chunk, so an interrupted pack continues where it stopped and a finished one is a no-op. The
index is replaced atomically (temp file + rename). :class:`PackedStore` reads the result.

Grid features stored channels-first per second (``res18_14x14``: ``[C, H, W]``) are packed as
cells, ``[H*W, C]`` per segment (index entry ``"layout": "cells"``, ``"source_shape": [C, H, W]``),
so batches need no transpose: the layout is prepared once, here. A store packed channels-first
by an earlier version counts as not packed and is repacked by ``mcd data pack``.

>>> pack("data/music_scenes/tiny", ["audio_logmel", "visual_effnet"])   # doctest: +SKIP
>>> store = PackedStore("data/music_scenes/tiny")                        # doctest: +SKIP
>>> store.get("audio_logmel", store.rows(["scene_00001"])).shape         # doctest: +SKIP
(1, 10, 128)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.data.features import (DEFAULT_SECONDS, annotated_video_ids, feature_dir, feature_path,
                                  files_video_ids, load_segments, open_feature, read_manifest)
from mcdlib.errors import FeatureError

PACKED_DIR = "packed"
INDEX_FILE = "index.json"
INDEX_VERSION = 1
FLOAT16_MAX = float(np.finfo(np.float16).max)

#: called after every flushed chunk with (feature name, videos done, videos in all)
ChunkCallback = Callable[[str, int, int], None]


#: elements converted per torch call: below torch's parallel grain size (32768), so no
#: OpenMP threads wake up (on a busy 2-core machine they cost 10-40x more than they save)
_CONVERT_CHUNK = 32767


def to_float32(array: np.ndarray) -> np.ndarray:
    """Float32 copy of a (float16) array, converted through torch in single-threaded chunks.

    torch's vectorised float16 conversion is about 10x faster than ``ndarray.astype``, which
    otherwise dominates batch loading.
    """
    import torch

    src = torch.from_numpy(np.ascontiguousarray(array)).reshape(-1)
    out = torch.empty(src.shape, dtype=torch.float32)
    for start in range(0, src.numel(), _CONVERT_CHUNK):
        out[start:start + _CONVERT_CHUNK].copy_(src[start:start + _CONVERT_CHUNK])
    return out.numpy().reshape(array.shape)


def packed_dir(dataset_dir: str | Path) -> Path:
    """``<dataset>/packed``."""
    return Path(dataset_dir) / PACKED_DIR


def pack_command(dataset_dir: str | Path, names: Iterable[str], seconds: int | None = None,
                 segments: int | None = None) -> str:
    """The exact ``mcd data pack`` command that packs ``names`` (quoted in error messages)."""
    parts = ["mcd data pack", str(dataset_dir)] + [f"--feature {n}" for n in names]
    if seconds:
        parts.append(f"--seconds {seconds}")
    if segments:
        parts.append(f"--segments {segments}")
    return " ".join(parts)


# --------------------------------------------------------------------------- index file


def read_index(dataset_dir: str | Path) -> dict | None:
    """The packed store's ``index.json`` (None when there is none)."""
    path = packed_dir(dataset_dir) / INDEX_FILE
    if not path.is_file():
        return None
    try:
        index = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FeatureError(f"{path}: unreadable packed index ({exc}); delete {path.parent} and run "
                           f"`{pack_command(dataset_dir, ['NAME'])}` again") from None
    if index.get("version") != INDEX_VERSION or "video_ids" not in index:
        raise FeatureError(f"{path}: packed index of an unknown version; delete {path.parent} and "
                           "pack again")
    index.setdefault("features", {})
    return index


def write_index(dataset_dir: str | Path, index: dict) -> None:
    """Write ``index.json`` atomically (temp file, fsync, rename)."""
    path = packed_dir(dataset_dir) / INDEX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    with open(tmp, "w") as fh:
        json.dump(index, fh)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


# --------------------------------------------------------------------------- packing


def _default_video_ids(dataset_dir: Path, features: Sequence[str]) -> list[str]:
    ids = annotated_video_ids(dataset_dir)
    if not ids:
        ids = files_video_ids(dataset_dir, features)
    if not ids:
        raise FeatureError(f"{dataset_dir}: no videos to pack: no annotation files */avqa-*.json and no "
                           f"files in {', '.join(str(feature_dir(dataset_dir, n)) for n in features)}")
    return ids


def packed_trailing(trailing: tuple[int, ...]) -> tuple[int, ...]:
    """The per-segment shape a feature is packed with: ``[C, H, W]`` grids become ``[H*W, C]`` cells."""
    if len(trailing) == 3:
        return (trailing[1] * trailing[2], trailing[0])
    return tuple(trailing)


def _as_cells(values: np.ndarray) -> np.ndarray:
    """``[segments, C, H, W]`` -> ``[segments, H*W, C]``."""
    return values.reshape(values.shape[0], values.shape[1], -1).transpose(0, 2, 1)


def _entry_matches(entry: dict | None, shape: list[int], seconds: int, segments: int) -> bool:
    return bool(entry) and entry.get("shape") == shape and entry.get("source_seconds") == seconds \
        and entry.get("segments") == segments and entry.get("dtype") == "float16"


def _first_trailing(dataset_dir: Path, name: str, video_ids: Sequence[str]) -> tuple[int, ...]:
    """The per-second shape of a feature, from the first video that has a file."""
    for vid in video_ids:
        path = feature_path(dataset_dir, name, vid)
        if path.is_file():
            return tuple(open_feature(path, vid).shape[1:])
    raise FeatureError(f"{feature_dir(dataset_dir, name)}: no feature files for any of the "
                       f"{len(video_ids)} videos to pack; extract feature {name!r} first")


def _to_float16(values: np.ndarray, path: Path, video_id: str) -> np.ndarray:
    peak = float(np.abs(values).max()) if values.size else 0.0
    if peak > FLOAT16_MAX:
        raise FeatureError(f"{path}: values up to {peak:.3g} (video_id {video_id}) exceed the float16 "
                           f"range ±{FLOAT16_MAX:.0f} of the packed store; rescale the feature "
                           "(e.g. standardise or take a log) and re-extract it")
    return values.astype(np.float16)


def pack(dataset_dir: str | Path, features: Sequence[str], video_ids: Sequence[str] | None = None,
         seconds: int | None = None, segments: int = 10, progress: bool = True,
         chunk_size: int = 256, on_chunk: ChunkCallback | None = None) -> dict:
    """Pack ``features`` of a dataset into ``<dataset>/packed/`` (resumable, see module doc).

    ``video_ids`` default to every video of the annotation files ``<dataset>/*/avqa-*.json``,
    else every file of the ``feats/<name>/`` folders; rows follow their sorted order.
    ``seconds`` (the nominal length S) defaults to ``manifest.json``'s, else 60. When the
    video list differs from an existing store, every feature of the store is repacked.
    ``on_chunk`` is called after every flushed chunk (a test may raise from it to simulate an
    interruption). Returns a summary: ``{name: {"packed": n_now, "skipped": n_already, "shape": [...]}}``.
    """
    dataset_dir = Path(dataset_dir)
    features = list(dict.fromkeys(features))
    if not features:
        raise FeatureError(f"{dataset_dir}: no features to pack; pass --feature NAME")
    seconds = int(seconds or read_manifest(dataset_dir).get("seconds") or DEFAULT_SECONDS)
    ids = sorted(dict.fromkeys(str(v) for v in video_ids)) if video_ids is not None \
        else _default_video_ids(dataset_dir, features)
    out_dir = packed_dir(dataset_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    index = read_index(dataset_dir)
    if index is None or index["video_ids"] != ids:
        previous = list(index["features"]) if index else []
        features = list(dict.fromkeys(features + [f for f in previous
                                                  if feature_dir(dataset_dir, f).is_dir()]))
        if index is not None:
            print(f"packed store {out_dir}: video list changed ({len(index['video_ids'])} -> "
                  f"{len(ids)} videos); repacking {', '.join(features)}")
        index = {"version": INDEX_VERSION, "video_ids": ids, "features": {}}
    n = len(ids)

    # plan: open (or create) every feature's memmap and done-mask
    plans = []
    for name in features:
        trailing = _first_trailing(dataset_dir, name, ids)
        shape = [n, segments, *packed_trailing(trailing)]
        entry = index["features"].get(name)
        data_path, done_path = out_dir / f"{name}.npy", out_dir / f"{name}.done.npy"
        fresh = not (_entry_matches(entry, shape, seconds, segments) and data_path.is_file()
                     and (entry.get("complete") or done_path.is_file()))
        if fresh:
            entry = {"shape": shape, "dtype": "float16", "source": f"feats/{name}",
                     "source_seconds": seconds, "segments": segments, "complete": False}
            if len(trailing) == 3:
                entry.update(layout="cells", source_shape=list(trailing))
            index["features"][name] = entry
            data = np.lib.format.open_memmap(data_path, mode="w+", dtype=np.float16, shape=tuple(shape))
            done = np.lib.format.open_memmap(done_path, mode="w+", dtype=np.bool_, shape=(n,))
            done.flush()
        elif entry.get("complete"):
            plans.append((name, None, None, trailing, np.empty(0, dtype=np.int64), n))
            continue
        else:
            data = np.lib.format.open_memmap(data_path, mode="r+")
            done = np.lib.format.open_memmap(done_path, mode="r+")
        todo = np.flatnonzero(~np.asarray(done))
        plans.append((name, data, done, trailing, todo, n - len(todo)))
    write_index(dataset_dir, index)

    summary = {}
    total = sum(len(p[4]) for p in plans)
    with tqdm(total=total, desc="pack", unit="video", disable=not progress or total == 0) as bar:
        for name, data, done, trailing, todo, already in plans:
            entry = index["features"][name]
            summary[name] = {"packed": int(len(todo)), "skipped": int(already), "shape": entry["shape"]}
            if data is None:
                continue
            bar.set_description(f"pack {name}")
            block = np.empty((min(chunk_size, max(len(todo), 1)), segments, *packed_trailing(trailing)),
                             dtype=np.float16)
            for start in range(0, len(todo), chunk_size):
                rows = todo[start:start + chunk_size]
                for j, row in enumerate(rows):
                    vid = ids[row]
                    path = feature_path(dataset_dir, name, vid)
                    values = load_segments(path, seconds, segments, vid, trailing)
                    block[j] = _to_float16(_as_cells(values) if len(trailing) == 3 else values, path, vid)
                data[rows] = block[:len(rows)]
                data.flush()
                done[rows] = True
                done.flush()
                bar.update(len(rows))
                if on_chunk is not None:
                    on_chunk(name, already + start + len(rows), n)
            entry["complete"] = True
            del data, done
            write_index(dataset_dir, index)
            (out_dir / f"{name}.done.npy").unlink(missing_ok=True)
    return summary


# --------------------------------------------------------------------------- reading


class PackedStore:
    """Read access to ``<dataset>/packed``: video rows and float32 feature batches.

    >>> store = PackedStore(root)                                 # doctest: +SKIP
    >>> rows = store.rows(["00000093", "00000094"])               # doctest: +SKIP
    >>> store.get("vggish", rows).shape                           # doctest: +SKIP
    (2, 10, 128)

    Only complete features are listed in ``names``; asking for a missing or incomplete one
    raises FeatureError with the ``mcd data pack`` command that fixes it. ``in_memory``
    loads the arrays into RAM (default: memory-mapped; the OS page cache keeps hot rows).
    """

    def __init__(self, dataset_dir: str | Path, in_memory: bool = False):
        self.root = Path(dataset_dir)
        index = read_index(self.root)
        if index is None:
            raise FeatureError(f"{packed_dir(self.root)}: no packed store; run "
                               f"`{pack_command(self.root, ['NAME'])}` (one --feature per feature)")
        self.index = index
        self.video_ids: list[str] = list(index["video_ids"])
        self._row_of = {vid: i for i, vid in enumerate(self.video_ids)}
        self._arrays: dict[str, np.ndarray] = {}
        self.in_memory = in_memory

    @property
    def names(self) -> list[str]:
        """The completely packed features."""
        return [n for n, e in self.index["features"].items() if e.get("complete")]

    def __len__(self) -> int:
        return len(self.video_ids)

    def entry(self, name: str) -> dict:
        """The index entry of a complete feature (else FeatureError with the pack command)."""
        entry = self.index["features"].get(name)
        if entry is None:
            raise FeatureError(f"feature {name!r} is not packed in {packed_dir(self.root)} "
                               f"(packed: {', '.join(self.names) or 'none'}); run "
                               f"`{pack_command(self.root, [name])}`")
        if not entry.get("complete"):
            raise FeatureError(f"feature {name!r} in {packed_dir(self.root)} is incomplete "
                               f"({self._done_count(name)}/{len(self)} videos, the pack was interrupted); "
                               f"run `{pack_command(self.root, [name], entry.get('source_seconds'), entry.get('segments'))}` "
                               "to resume it")
        return entry

    def _done_count(self, name: str) -> int:
        """Videos already packed of an incomplete feature (from its done-mask)."""
        try:
            return int(np.load(packed_dir(self.root) / f"{name}.done.npy").sum())
        except (OSError, ValueError):
            return 0

    def shape(self, name: str) -> tuple[int, ...]:
        """The packed array's full shape ``(N_videos, segments, ...)``."""
        return tuple(self.entry(name)["shape"])

    def array(self, name: str) -> np.ndarray:
        """The packed float16 array of a feature (memory-mapped unless ``in_memory``)."""
        if name not in self._arrays:
            entry = self.entry(name)
            path = packed_dir(self.root) / f"{name}.npy"
            try:
                array = np.load(path, mmap_mode=None if self.in_memory else "r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise FeatureError(f"{path}: unreadable packed feature ({exc}); run "
                                   f"`{pack_command(self.root, [name])}` again") from None
            if list(array.shape) != entry["shape"]:
                raise FeatureError(f"{path}: shape {list(array.shape)} disagrees with index.json "
                                   f"{entry['shape']}; delete it and run `{pack_command(self.root, [name])}`")
            self._arrays[name] = array
        return self._arrays[name]

    def row(self, video_id: str) -> int:
        """Row of a video (FeatureError naming the video when it was not packed)."""
        try:
            return self._row_of[str(video_id)]
        except KeyError:
            raise FeatureError(f"video_id {video_id!r} is not in the packed store {packed_dir(self.root)}; "
                               f"pack again so it includes every annotated video: "
                               f"`{pack_command(self.root, self.names or ['NAME'])}`") from None

    def rows(self, video_ids: Iterable[str]) -> np.ndarray:
        """Rows of many videos (int64)."""
        return np.fromiter((self.row(v) for v in video_ids), dtype=np.int64)

    def get(self, name: str, rows, half: bool = False) -> np.ndarray:
        """Float32 features ``[len(rows), segments, ...]`` of the given rows (float16 as stored
        with ``half``, e.g. to move half the bytes to a GPU and cast there)."""
        values = self.array(name)[np.asarray(rows, dtype=np.int64)]
        return values if half else to_float32(values)
