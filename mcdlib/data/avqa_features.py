"""AVQA's released HDF5 features → the dataset's ``feats/`` layout (one data path for all data).

AVQA publishes pre-extracted features as HDF5 files, one per kind, each holding a features
dataset and an ``ids`` dataset (the integer ``video_id`` of the annotation records) of the same
length N. The published description: appearance ``[N, 8 clips, 16 frames, 2048]`` (ResNet),
motion ``[N, 8, 2048]`` (ResNeXt), audio ``[N, 2048]`` per video (PANNs; some releases also have
a clip-level ``[N, 8, 2048]``). The dataset names differ between releases, so they are
configurable and **checked when the file is opened**: a missing name is an error listing what
the file holds. Defaults (:data:`DEFAULT_DATASETS`) are the names of the AVQA reference loader
(HCRN+HAVF code).

:func:`import_avqa_features` converts them into ``<dataset>/feats/<name>/<video_name>.npy``
(``[S, D]`` float16, S = the clips, 8), the layout every other source writes, then ``mcd data
pack`` / :func:`mcdlib.data.dataset.ensure_packed` builds the packed store as for any dataset:

* appearance ``[C, F, D]`` → mean over the F frames of each clip → ``avqa_appearance`` ``[C, D]``
  (CHOICE: the models take one vector per segment; a ``[C, D]`` appearance is kept as is);
* motion ``[C, D]`` → ``avqa_motion``;
* audio ``[D]`` → repeated over the C clips → ``avqa_audio`` ``[C, D]`` (``[C, D]`` kept as is).

Rows are matched to videos through the dataset's AVQA annotation files (``ids`` hold the
records' ``video_id``, or their ``video_name`` as strings); ids no record uses are skipped and
counted. ``manifest.json`` records the files, dataset names and shapes and declares
``avqa_audio`` / ``avqa_appearance`` as the audio / visual features with ``seconds`` = C (use
``data.visual_feature=avqa_motion`` for motion). Resumable: existing files of the right shape
are kept. Disk: about 32 KB per video and feature in float16 (the packed store is float16 too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.data import avqa
from mcdlib.data.features import MANIFEST, feature_dir, read_manifest
from mcdlib.errors import AnnotationError, FeatureError
from mcdlib.utils.io import save_npy, write_json

#: feature roles → the dataset name of the AVQA reference loader
DEFAULT_DATASETS: dict[str, str] = {"appearance": "resnet_features", "motion": "resnext_features",
                                    "audio": "vlaudio_features"}
DEFAULT_IDS = "ids"
#: feature folder written for each role
FEATURE_NAMES: dict[str, str] = {"appearance": "avqa_appearance", "motion": "avqa_motion", "audio": "avqa_audio"}
#: accepted dimensions per role (with the leading N)
ROLE_NDIMS: dict[str, tuple[int, ...]] = {"appearance": (3, 4), "motion": (3,), "audio": (2, 3)}
ROLE_SHAPES: dict[str, str] = {"appearance": "[N, clips, frames, D] or [N, clips, D]", "motion": "[N, clips, D]",
                               "audio": "[N, D] or [N, clips, D]"}
#: bytes read from an HDF5 file per chunk
CHUNK_BYTES = 256 * 2 ** 20
#: clips per video when no appearance or motion feature gives them
DEFAULT_CLIPS = 8
FLOAT16_MAX = float(np.finfo(np.float16).max)


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise FeatureError("reading AVQA's HDF5 features needs h5py: pip install h5py") from None
    return h5py


def describe_h5(path: str | Path) -> list[tuple[str, tuple[int, ...], str]]:
    """(name, shape, dtype) of every dataset of an HDF5 file (nested names with ``/``)."""
    h5py = _h5py()
    out: list[tuple[str, tuple[int, ...], str]] = []
    with open_h5(path) as handle:
        handle.visititems(lambda name, obj: out.append((name, tuple(obj.shape), str(obj.dtype)))
                          if isinstance(obj, h5py.Dataset) else None)
    return out


def open_h5(path: str | Path):
    """An HDF5 file opened read-only (FeatureError naming the file when missing or not HDF5)."""
    h5py = _h5py()
    path = Path(path)
    if not path.is_file():
        raise FeatureError(f"{path}: HDF5 feature file not found; give the path of the downloaded AVQA feature file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise FeatureError(f"{path}: not a readable HDF5 file ({exc}); re-download it (a partial download "
                           "is not valid HDF5)") from None


def _listing(path: Path) -> str:
    items = describe_h5(path)
    if not items:
        return "it holds no datasets"
    return "it holds " + ", ".join(f"{name} {list(shape)} {dtype}" for name, shape, dtype in items)


@dataclass
class H5Feature:
    """One role's HDF5 file, checked at open: the features dataset and its ids."""

    role: str
    path: Path
    dataset: str
    ids_name: str = DEFAULT_IDS
    shape: tuple[int, ...] = ()
    ids: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, role: str, path: str | Path, dataset: str | None = None, ids: str = DEFAULT_IDS) -> "H5Feature":
        """Open and check (names exist, the ids fit the features, the shape fits the role)."""
        if role not in ROLE_NDIMS:
            raise FeatureError(f"unknown AVQA feature role {role!r}; choose one of {', '.join(ROLE_NDIMS)}")
        path = Path(path)
        dataset = dataset or DEFAULT_DATASETS[role]
        flag = f"--{role}-dataset"
        with open_h5(path) as handle:
            for name, what, fix in ((dataset, f"{role} features", flag), (ids, "video ids", "--ids")):
                if name not in handle or not hasattr(handle[name], "shape"):
                    raise FeatureError(f"{path}: no dataset {name!r} ({what}); {_listing(path)}. Name the right "
                                       f"one with {fix} NAME")
            data, id_data = handle[dataset], handle[ids]
            shape = tuple(int(n) for n in data.shape)
            if len(shape) not in ROLE_NDIMS[role]:
                raise FeatureError(f"{path}: dataset {dataset!r} has shape {list(shape)}; {role} features are "
                                   f"{ROLE_SHAPES[role]}. Is this the {role} file ({flag})?")
            if not np.issubdtype(data.dtype, np.floating):
                raise FeatureError(f"{path}: dataset {dataset!r} holds {data.dtype}, expected floats")
            if len(id_data.shape) != 1 or id_data.shape[0] != shape[0]:
                raise FeatureError(f"{path}: ids {ids!r} have shape {list(id_data.shape)} but {dataset!r} has "
                                   f"{shape[0]} rows; the ids must list one video per row")
            id_values = [(v.decode() if isinstance(v, bytes) else str(v)).strip() for v in id_data[()].tolist()]
        return cls(role, path, dataset, ids, shape, id_values)

    @property
    def clips(self) -> int | None:
        """Clips per video (None for a per-video audio vector)."""
        return self.shape[1] if len(self.shape) >= 3 else None

    @property
    def dim(self) -> int:
        return self.shape[-1]

    def rows(self, wanted: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
        """(row, features) for the wanted rows, read in contiguous chunks of about CHUNK_BYTES."""
        if not len(wanted):
            return
        wanted = np.sort(np.asarray(wanted, dtype=np.int64))
        row_bytes = int(np.prod(self.shape[1:])) * 4
        step = max(1, CHUNK_BYTES // max(row_bytes, 1))
        with open_h5(self.path) as handle:
            data = handle[self.dataset]
            start = 0
            while start < len(wanted):
                lo = int(wanted[start])
                stop = int(np.searchsorted(wanted, lo + step))
                hi = int(wanted[stop - 1]) + 1
                block = np.asarray(data[lo:hi], dtype=np.float32)
                for row in wanted[start:stop]:
                    yield int(row), block[int(row) - lo]
                start = stop


def per_video(role: str, values: np.ndarray, clips: int) -> np.ndarray:
    """One video's ``[S, D]`` feature of a role (see the module doc for each conversion)."""
    if role == "appearance" and values.ndim == 3:
        return values.mean(axis=1)
    if role == "audio" and values.ndim == 1:
        return np.repeat(values[None], clips, axis=0)
    return values


def _to_float16(values: np.ndarray, path: Path, video: str) -> np.ndarray:
    if not np.isfinite(values).all():
        raise FeatureError(f"{path}: the features of video {video} hold NaN or Inf; re-download the file")
    peak = float(np.abs(values).max()) if values.size else 0.0
    if peak > FLOAT16_MAX:
        raise FeatureError(f"{path}: values up to {peak:.3g} (video {video}) exceed the float16 range")
    return values.astype(np.float16)


def video_names_by_id(dataset_dir: str | Path, annotations: str = "json") -> dict[str, str]:
    """HDF5 id → ``video_name``, from the dataset's AVQA annotation files: the records' integer
    ``video_id`` (as a string) and their ``video_name`` itself both map to the ``video_name``."""
    files = avqa.avqa_split_files(dataset_dir, annotations)
    if not files:
        raise AnnotationError(f"{Path(dataset_dir) / annotations}: no AVQA annotation files (*_qa.json); place "
                              "train_qa.json and val_qa.json there first (data_scripts/prepare_avqa.py): the "
                              "HDF5 rows are matched to videos through them")
    names: dict[str, str] = {}
    for path in files.values():
        for q in avqa.read_avqa_cached(path):
            previous = names.setdefault(str(q.video_number), q.video_id)
            if previous != q.video_id:
                raise AnnotationError(f"{path}: video_id {q.video_number} names two videos ({previous!r} and "
                                      f"{q.video_id!r}); the HDF5 rows cannot be matched to one of them")
            names.setdefault(q.video_id, q.video_id)
    return names


def import_avqa_features(dataset_dir: str | Path, sources: dict[str, H5Feature], annotations: str = "json",
                         names: dict[str, str] | None = None, progress: bool = True) -> dict:
    """Convert opened :class:`H5Feature` sources (role → source) into ``feats/`` and update
    ``manifest.json``; returns a summary per feature (written, kept, ids not annotated, videos
    without a row)."""
    if not sources:
        raise FeatureError("nothing to import: give at least one of --appearance, --motion, --audio")
    dataset_dir = Path(dataset_dir)
    names = {**FEATURE_NAMES, **(names or {})}
    by_id = video_names_by_id(dataset_dir, annotations)
    annotated = sorted({v for v in by_id.values()})
    clip_counts = {s.clips for s in sources.values() if s.clips}
    if len(clip_counts) > 1:
        raise FeatureError("the HDF5 files disagree on the clips per video: " + ", ".join(
            f"{s.role} {s.clips}" for s in sources.values() if s.clips) + "; import them into separate datasets")
    clips = clip_counts.pop() if clip_counts else DEFAULT_CLIPS
    manifest = read_manifest(dataset_dir)
    if manifest.get("seconds") not in (None, clips) and not manifest.get("avqa_hdf5"):
        raise FeatureError(f"{dataset_dir / MANIFEST}: the dataset already holds features of "
                           f"{manifest['seconds']} rows per video ({manifest.get('features')}); the HDF5 features "
                           f"have {clips}. Import them into another dataset folder (with the same json/)")
    summary = {}
    for role, source in sources.items():
        name = names[role]
        folder = feature_dir(dataset_dir, name)
        folder.mkdir(parents=True, exist_ok=True)
        rows, videos = [], []
        for row, key in enumerate(source.ids):
            if key in by_id:
                rows.append(row)
                videos.append(by_id[key])
        video_of = dict(zip(rows, videos))
        expected = (clips, source.dim)
        todo = [r for r in rows if not _complete(folder / f"{video_of[r]}.npy", expected)]
        with tqdm(total=len(todo), desc=f"import {name}", unit="video", disable=not progress or not todo) as bar:
            for row, values in source.rows(todo):
                video = video_of[row]
                save_npy(folder / f"{video}.npy", _to_float16(per_video(role, values, clips), source.path, video))
                bar.update(1)
        covered = set(videos)
        summary[name] = {"role": role, "written": len(todo), "kept": len(rows) - len(todo), "shape": list(expected),
                         "ids_not_annotated": len(source.ids) - len(rows),
                         "videos_without_row": [v for v in annotated if v not in covered]}
    features = dict(manifest.get("features") or {})
    if "audio" in sources:
        features["audio"] = names["audio"]
    if "appearance" in sources or "motion" in sources:
        features["visual"] = names["appearance" if "appearance" in sources else "motion"]
    manifest.update({"format": "avqa", "seconds": clips, "features": features})
    manifest.setdefault("avqa_hdf5", {}).update({
        names[role]: {"role": role, "file": str(s.path), "dataset": s.dataset, "ids": s.ids_name,
                      "shape": list(s.shape), "size_bytes": s.path.stat().st_size}
        for role, s in sources.items()})
    write_json(dataset_dir / MANIFEST, manifest, indent=1)
    return summary


def _complete(path: Path, shape: tuple[int, ...]) -> bool:
    """Whether an already written feature file has the expected shape (resuming)."""
    if not path.is_file():
        return False
    try:
        return tuple(np.load(path, mmap_mode="r").shape) == tuple(shape)
    except (OSError, ValueError):
        return False


def format_summary(summary: dict) -> str:
    """A few lines per imported feature."""
    lines = []
    for name, s in summary.items():
        missing = s["videos_without_row"]
        lines.append(f"  {name} ({s['role']}): {s['written']} written, {s['kept']} kept, shape {s['shape']}; "
                     f"{s['ids_not_annotated']} rows of no annotated video; {len(missing)} annotated videos "
                     "without a row" + (f" (e.g. {', '.join(missing[:3])})" if missing else ""))
    return "\n".join(lines)
