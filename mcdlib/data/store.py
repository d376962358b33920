"""The packed feature store: one float16 memory-mapped ``.npy`` per feature, resumable packing.

Reading one 60-second ``.npy`` per video and per sample is I/O-bound (24 MB per video for
grid features). :func:`pack` reads every video once, keeps only the ``segments`` rows the
models use, and writes them into ``<dataset>/packed/<name>.npy`` (float16,
``[N_videos, segments, ...]``) next to ``<dataset>/packed/index.json``:

.. code-block:: json

    {"version": 1, "video_ids": ["00000093", ...],
     "features": {"vggish": {"shape": [N, 10, 128], "dtype": "float16", "source": "feats/vggish",
                             "source_seconds": 60, "segments": 10, "complete": true,
                             "source_sizes": [3008, ...], "row_digests": ["9e02f8...", ...]}}}

Provenance: ``source_sizes`` records, per video, the size of the source file each row was
packed from, and ``row_digests`` a digest of each packed row (both deterministic: identical
builds have identical indexes). A source file deleted, changed in size (truncated, reshaped) or
modified after the packed array was last written makes the feature stale (:func:`stale_videos`):
:func:`pack` repacks those rows (``ensure_packed`` does so before training, with a notice),
:class:`~mcdlib.data.dataset.AVQADataset` refuses a stale store, and ``mcd data check`` reports
it along with corrupt indexes, truncated or reshaped arrays, NaN/Inf and rows that no longer
match their digests (:func:`check_packed_store`). A store whose ``feats/<name>/`` folder is gone
(shipped without its sources) is trusted as it is; one packed before provenance was recorded
gets its sources' sizes recorded on first use. A read-only dataset folder cannot be
packed: that is one clear error (pack it once where it is writable).

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

import errno
import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.data.cache_dir import is_writable
from mcdlib.data.features import (DEFAULT_SECONDS, FeatureCheck, annotated_video_ids, feature_dir,
                                  feature_path, files_video_ids, load_segments, open_feature, read_manifest)
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
    if not isinstance(index, dict) or index.get("version") != INDEX_VERSION or "video_ids" not in index:
        raise FeatureError(f"{path}: packed index of an unknown version or shape; delete {path.parent} and "
                           "pack again")
    index.setdefault("features", {})
    if not isinstance(index["video_ids"], list) or not isinstance(index["features"], dict) \
            or not all(isinstance(v, str) for v in index["video_ids"]):
        raise FeatureError(f"{path}: malformed packed index (video_ids must be a list of strings, features "
                           f"a mapping); delete {path.parent} and pack again")
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


def source_stats(dataset_dir: str | Path, name: str, video_ids: Sequence[str]) -> list[tuple[int, int] | None]:
    """``(size, mtime_ns)`` of each video's source file ``feats/<name>/<video_id>.npy`` (None when
    the file is missing)."""
    out: list[tuple[int, int] | None] = []
    folder = feature_dir(dataset_dir, name)
    for vid in video_ids:
        try:
            st = os.stat(folder / f"{vid}.npy")
        except OSError:
            out.append(None)
        else:
            out.append((int(st.st_size), int(st.st_mtime_ns)))
    return out


def _source_size(dataset_dir: Path, name: str, video_id: str) -> int | None:
    stat = source_stats(dataset_dir, name, [video_id])[0]
    return None if stat is None else stat[0]


def row_digest(row: np.ndarray) -> str:
    """A short content digest of one packed row (float16 bytes)."""
    return hashlib.blake2b(np.ascontiguousarray(row).tobytes(), digest_size=8).hexdigest()


def stale_videos(dataset_dir: str | Path, name: str, index: dict, record: bool = True) -> list[int]:
    """Rows of a complete packed feature whose source file was deleted, changed size (truncated,
    reshaped) or was modified after the packed array was last written; ``[]`` when the source
    folder is gone (a store shipped without its sources is trusted). The index records the
    sources' sizes (deterministic, so two identical builds have identical indexes); the packed
    file's own modification time stands for the packing time. A store packed before sizes were
    recorded gets them recorded now (when ``record``), with a notice."""
    entry = index["features"].get(name) or {}
    data_path = packed_dir(dataset_dir) / f"{name}.npy"
    if not entry.get("complete") or not feature_dir(dataset_dir, name).is_dir() or not data_path.is_file():
        return []
    packed_at = data_path.stat().st_mtime_ns
    ids = index["video_ids"]
    current = source_stats(dataset_dir, name, ids)
    sizes = entry.get("source_sizes")
    legacy = not (isinstance(sizes, list) and len(sizes) == len(ids))
    if legacy:
        sizes = [None] * len(ids)
    stale = [i for i, (size, now) in enumerate(zip(sizes, current))
             if now is None or now[1] > packed_at or (size is not None and now[0] != size)]
    if legacy and record:
        entry["source_sizes"] = [None if now is None else now[0] for now in current]
        try:
            write_index(dataset_dir, index)
            print(f"packed store {packed_dir(dataset_dir)}: {name} was packed before its source sizes were "
                  "recorded; recorded them now", file=sys.stderr)
        except OSError:
            pass  # a read-only dataset: nothing recorded, nothing lost
    return stale


def describe_stale(dataset_dir: str | Path, name: str, index: dict, rows: Sequence[int]) -> str:
    """``"3 videos of feats/vggish changed since packing (00000001, ...)"`` for messages."""
    ids = [index["video_ids"][r] for r in rows]
    shown = ", ".join(ids[:5]) + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
    return (f"{len(ids)} source files of {feature_dir(dataset_dir, name)} changed, were deleted or "
            f"truncated since packing ({shown})")


def _writable(out_dir: Path, dataset_dir: Path):
    """Turn an OSError while writing the packed store into one FeatureError."""
    import contextlib

    @contextlib.contextmanager
    def guard():
        try:
            yield
        except OSError as exc:
            raise FeatureError(f"{out_dir}: cannot write the packed store ({exc.strerror or exc}); "
                               f"{dataset_dir} must be writable to pack it (pack it once where it is, with "
                               "`mcd data pack`, then it can be shared read-only), or free some space") from None
    return guard()


def pack(dataset_dir: str | Path, features: Sequence[str], video_ids: Sequence[str] | None = None,
         seconds: int | None = None, segments: int = 10, progress: bool = True,
         chunk_size: int = 256, on_chunk: ChunkCallback | None = None) -> dict:
    """Pack ``features`` of a dataset into ``<dataset>/packed/`` (resumable, see module doc).

    ``video_ids`` default to every video of the annotation files ``<dataset>/*/avqa-*.json``,
    else every file of the ``feats/<name>/`` folders; rows follow their sorted order.
    ``seconds`` (the nominal length S) defaults to ``manifest.json``'s, else 60. When the
    video list differs from an existing store, every feature of the store is repacked; a
    complete feature whose source files changed since packing (:func:`stale_videos`) has those
    rows repacked. ``on_chunk`` is called after every flushed chunk (a test may raise from it to
    simulate an interruption). Returns a summary:
    ``{name: {"packed": n_now, "skipped": n_already, "shape": [...]}}``.
    """
    dataset_dir = Path(dataset_dir)
    features = list(dict.fromkeys(features))
    if not features:
        raise FeatureError(f"{dataset_dir}: no features to pack; pass --feature NAME")
    seconds = int(seconds or read_manifest(dataset_dir).get("seconds") or DEFAULT_SECONDS)
    ids = sorted(dict.fromkeys(str(v) for v in video_ids)) if video_ids is not None \
        else _default_video_ids(dataset_dir, features)
    out_dir = packed_dir(dataset_dir)
    with _writable(out_dir, dataset_dir):
        if not is_writable(out_dir):
            raise PermissionError(errno.EACCES, "the folder is read-only")
        out_dir.mkdir(parents=True, exist_ok=True)
        return _pack(dataset_dir, out_dir, features, ids, seconds, segments, progress, chunk_size, on_chunk)


def _pack(dataset_dir: Path, out_dir: Path, features: list[str], ids: list[str], seconds: int, segments: int,
          progress: bool, chunk_size: int, on_chunk: ChunkCallback | None) -> dict:
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
        entry = index["features"].get(name)
        if entry and entry.get("complete") and not feature_dir(dataset_dir, name).is_dir():
            plans.append((name, None, None, (), np.empty(0, dtype=np.int64), n))  # packed, sources gone
            continue
        trailing = _first_trailing(dataset_dir, name, ids)
        shape = [n, segments, *packed_trailing(trailing)]
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
            stale = stale_videos(dataset_dir, name, index)
            if not stale:
                plans.append((name, None, None, trailing, np.empty(0, dtype=np.int64), n))
                continue
            print(f"packed store {out_dir}: {describe_stale(dataset_dir, name, index, stale)}; "
                  "repacking those videos", file=sys.stderr)
            data = np.lib.format.open_memmap(data_path, mode="r+")
            done = np.lib.format.open_memmap(done_path, mode="w+", dtype=np.bool_, shape=(n,))
            done[:] = True
            done[stale] = False
            done.flush()
            entry["complete"] = False
            for key in ("row_digests", "source_sizes"):  # recomputed for these rows, even after an interruption
                values = _aligned(entry.get(key), n)
                for row in stale:
                    values[row] = None
                entry[key] = values
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
            digests = _aligned(entry.get("row_digests"), n)
            sizes = _aligned(entry.get("source_sizes"), n)
            block = np.empty((min(chunk_size, max(len(todo), 1)), segments, *packed_trailing(trailing)),
                             dtype=np.float16)
            for start in range(0, len(todo), chunk_size):
                rows = todo[start:start + chunk_size]
                for j, row in enumerate(rows):
                    vid = ids[row]
                    path = feature_path(dataset_dir, name, vid)
                    sizes[row] = _source_size(dataset_dir, name, vid)
                    values = load_segments(path, seconds, segments, vid, trailing)
                    block[j] = _to_float16(_as_cells(values) if len(trailing) == 3 else values, path, vid)
                    digests[row] = row_digest(block[j])
                data[rows] = block[:len(rows)]
                data.flush()
                done[rows] = True
                done.flush()
                bar.update(len(rows))
                if on_chunk is not None:
                    on_chunk(name, already + start + len(rows), n)
            _fill_provenance(dataset_dir, name, ids, data, digests, sizes, todo)
            entry["row_digests"], entry["source_sizes"] = digests, sizes
            entry["complete"] = True
            del data, done
            write_index(dataset_dir, index)
            (out_dir / f"{name}.done.npy").unlink(missing_ok=True)
    return summary


def _aligned(values: list | None, n: int) -> list:
    return list(values) if isinstance(values, list) and len(values) == n else [None] * n


def _fill_provenance(dataset_dir: Path, name: str, ids: Sequence[str], data: np.ndarray, digests: list,
                     sizes: list, packed_now: np.ndarray) -> None:
    """Digests and source sizes of rows packed by an earlier, interrupted run (read back now)."""
    now = set(int(r) for r in packed_now)
    for row in range(len(ids)):
        if row in now:
            continue
        if digests[row] is None:
            digests[row] = row_digest(data[row])
        if sizes[row] is None:
            sizes[row] = _source_size(dataset_dir, name, ids[row])


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


# --------------------------------------------------------------------------- provenance and checks


def require_current(dataset_dir: str | Path, names: Iterable[str]) -> None:
    """FeatureError when a packed feature's source files changed since packing (see
    :func:`stale_videos`), with the ``mcd data pack`` command that repacks them."""
    index = read_index(dataset_dir)
    if index is None:
        return
    for name in names:
        stale = stale_videos(dataset_dir, name, index)
        if stale:
            entry = index["features"][name]
            raise FeatureError(f"{packed_dir(dataset_dir)}: {describe_stale(dataset_dir, name, index, stale)}; "
                               f"the packed copy is out of date: run "
                               f"`{pack_command(dataset_dir, [name], entry.get('source_seconds'), entry.get('segments'))}` "
                               "(training repacks them itself)")


def feature_digest(index: dict, name: str) -> str:
    """A content digest of one packed feature: its layout and the digests of its rows (or, for a
    store packed before row digests, its layout only)."""
    entry = index["features"].get(name) or {}
    payload = {"video_ids": index["video_ids"], "shape": entry.get("shape"), "dtype": entry.get("dtype"),
               "segments": entry.get("segments"), "source_seconds": entry.get("source_seconds"),
               "rows": entry.get("row_digests")}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def check_packed_store(dataset_dir: str | Path, video_ids: Iterable[str] | None = None,
                       progress: bool = False, max_listed: int = 5) -> FeatureCheck:
    """The packed-store part of ``mcd data check``: a readable index with unique, plain video ids
    (covering ``video_ids``, the annotated videos), every feature complete, its array readable
    with the index's shape and dtype, finite values, rows equal to what was packed (row digests)
    and sources unchanged since packing. ``rows``: ``(name, n_videos, per-video shape, dtype)``."""
    from mcdlib.utils.names import name_problem

    root = Path(dataset_dir)
    result = FeatureCheck()
    where = packed_dir(root)
    try:
        index = read_index(root)
    except FeatureError as exc:
        result.problems.append(str(exc))
        return result
    if index is None:
        result.problems.append(f"{where}: no index.json; delete the folder and pack again "
                               f"(`{pack_command(root, ['NAME'])}`)")
        return result
    ids = index["video_ids"]
    bad = [v for v in ids if name_problem(v)]
    if bad:
        result.problems.append(f"{where / INDEX_FILE}: video ids that are not plain names: "
                               f"{', '.join(map(repr, bad[:max_listed]))}")
    repeated = sorted(v for v, count in Counter(ids).items() if count > 1)
    if repeated:
        result.problems.append(f"{where / INDEX_FILE}: video ids listed more than once: {', '.join(repeated[:max_listed])}")
    if video_ids is not None:
        absent = sorted(set(video_ids) - set(ids))
        if absent:
            result.problems.append(f"{where}: {len(absent)} annotated videos are not in the packed store "
                                   f"({', '.join(absent[:max_listed])}); pack again")
    for name, entry in index["features"].items():
        problems = _check_packed_feature(root, index, name, entry, progress, max_listed)
        result.problems.extend(problems)
        shape = entry.get("shape") or []
        result.rows.append((name, len(ids), tuple(shape[1:]), str(entry.get("dtype"))))
    return result


def _check_packed_feature(root: Path, index: dict, name: str, entry: dict, progress: bool,
                          max_listed: int) -> list[str]:
    path = packed_dir(root) / f"{name}.npy"
    redo = f"run `{pack_command(root, [name], entry.get('source_seconds'), entry.get('segments'))}`"
    if not entry.get("complete"):
        return [f"{path}: incomplete (a pack was interrupted or failed); {redo} to finish it"]
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        return [f"{path}: unreadable packed feature ({exc}); delete it and {redo}"]
    if list(array.shape) != list(entry.get("shape") or []) or len(array) != len(index["video_ids"]):
        return [f"{path}: shape {list(array.shape)} disagrees with index.json {entry.get('shape')} "
                f"({len(index['video_ids'])} videos); delete it and {redo}"]
    if str(array.dtype) != entry.get("dtype", "float16"):
        return [f"{path}: dtype {array.dtype}, index.json says {entry.get('dtype')}; delete it and {redo}"]
    problems = []
    digests = entry.get("row_digests")
    nonfinite, changed = [], []
    step = max(1, (64 << 20) // max(array[0].nbytes, 1))  # about 64 MB per read
    for start in tqdm(range(0, len(array), step), desc=f"check packed {name}", disable=not progress, leave=False):
        block = np.asarray(array[start:start + step])
        finite = np.isfinite(block.reshape(len(block), -1)).all(axis=1)
        nonfinite.extend(index["video_ids"][start + i] for i in np.flatnonzero(~finite))
        if isinstance(digests, list) and len(digests) == len(array):
            changed.extend(index["video_ids"][start + i] for i in range(len(block))
                           if digests[start + i] is not None and row_digest(block[i]) != digests[start + i])
    if nonfinite:
        problems.append(f"{path}: NaN or Inf values in {len(nonfinite)} videos ({', '.join(nonfinite[:max_listed])}); "
                        f"fix their source features, then {redo}")
    if changed:
        problems.append(f"{path}: {len(changed)} rows differ from what was packed ({', '.join(changed[:max_listed])}); "
                        f"the file was modified or corrupted: delete it and {redo}")
    stale = stale_videos(root, name, index, record=False)
    if stale:
        problems.append(f"{path}: {describe_stale(root, name, index, stale)}; the packed copy is out of date: {redo}")
    return problems
