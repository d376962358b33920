"""Per-video feature files: reading, segment sampling/padding, validation, and the dataset manifest.

Raw features follow the official layout ``<dataset>/feats/<name>/<video_id>.npy`` with shape
``[S, ...]``: one row per second (S = 60 for MUSIC-AVQA, 10 for music scenes), e.g. vggish
``[60, 128]``, res18 ``[60, 512]``, res18_14x14 ``[60, 512, 14, 14]``, or a music-scenes grid
``[10, 3, 1280]``. Models see ``segments`` rows sampled every ``S / segments`` seconds
(:func:`segment_indices`); videos shorter than S are padded by repeating their last second.

>>> segment_indices(60, 10)
array([ 0,  6, 12, 18, 24, 30, 36, 42, 48, 54])

:func:`resolve_data_config` turns the ``"auto"`` values of a :class:`~mcdlib.config.DataConfig`
into concrete feature names and the nominal length, through ``<dataset>/manifest.json`` when
it exists. :func:`check_feature_folder` is the feature part of ``mcd data check``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
from tqdm.auto import tqdm

from mcdlib.errors import ConfigError, FeatureError
from mcdlib.utils.names import safe_name

#: defaults when neither the config nor ``manifest.json`` name a feature / length
DEFAULT_AUDIO_FEATURE = "vggish"
DEFAULT_VISUAL_FEATURE = "res18"
DEFAULT_SECONDS = 60
FEATS_DIR = "feats"
MANIFEST = "manifest.json"


# --------------------------------------------------------------------------- paths and manifest


def feature_dir(dataset_dir: str | Path, name: str) -> Path:
    """``<dataset>/feats/<name>`` (``name`` must be a plain file name: FeatureError otherwise)."""
    return Path(dataset_dir) / FEATS_DIR / safe_name(name, what="feature name", error=FeatureError)


def feature_path(dataset_dir: str | Path, name: str, video_id: str) -> Path:
    """``<dataset>/feats/<name>/<video_id>.npy`` (both names checked: they never leave the folder)."""
    return feature_dir(dataset_dir, name) / f"{safe_name(str(video_id), what='video_id', error=FeatureError)}.npy"


def feature_names(dataset_dir: str | Path) -> list[str]:
    """Every feature folder under ``<dataset>/feats/`` (sorted)."""
    root = Path(dataset_dir) / FEATS_DIR
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def read_manifest(dataset_dir: str | Path) -> dict:
    """``<dataset>/manifest.json`` as a dict ({} when absent); a malformed file is an error."""
    path = Path(dataset_dir) / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FeatureError(f"{path}: not valid JSON ({exc}); fix it or delete it "
                           "(it is optional: defaults are vggish / res18 / 60 seconds)") from None
    if not isinstance(data, dict):
        raise FeatureError(f"{path}: expected a JSON object with 'seconds' and 'features'")
    return data


def require_dataset_dir(root: str | Path) -> Path:
    """``root`` when it is an existing folder; else a ConfigError saying what it is instead."""
    root = Path(root)
    if root.is_dir():
        return root
    if root.exists():
        hint = ""
        if root.suffix == ".json" and root.parent.name in ("json", "json_update"):
            hint = f" (this looks like an annotation file: the dataset folder is {root.parent.parent})"
        raise ConfigError(f"data.root (--data) {root} is a file, not a dataset folder{hint}; give the folder "
                          "that holds json/ (annotations) and feats/ (features)")
    parent = next((p for p in root.parents if p.is_dir()), None)
    raise ConfigError(f"data.root (--data) {root}: no such dataset folder"
                      + (f" ({parent} exists but holds no {root.relative_to(parent)})" if parent is not None
                         and parent != Path(".") else "")
                      + "; build one with `mcd data synth --out DIR` or lay out real data as in docs/DATASETS.md")


@dataclass(frozen=True)
class ResolvedData:
    """Concrete feature choices of a dataset (every ``"auto"`` resolved)."""

    root: Path
    audio: str
    visual: str
    visual_grid: str | None
    seconds: int
    segments: int

    @property
    def features(self) -> list[str]:
        """The feature names to load, audio then visual then (if any) the grid."""
        return [self.audio, self.visual] + ([self.visual_grid] if self.visual_grid else [])


#: feature folders recognised by name, in order of preference, for datasets without a manifest:
#: the official MUSIC-AVQA folders first, then what data_scripts/extract_features.py writes
KNOWN_FEATURES: dict[str, tuple[str, ...]] = {
    "audio": ("vggish", "logmel"),
    "visual": ("res18", "effnet", "clip_vit_l14", "clip_vit_b32"),
    "visual_grid": ("res18_14x14", "effnet_grid", "clip_vit_l14_patches", "clip_vit_b32_patches"),
}


def per_second_rank(dataset_dir: str | Path, name: str) -> int | None:
    """Dimensions per second of a feature folder's first ``.npy`` (1: ``[S, D]`` vectors, 2:
    ``[S, G, D]`` cells, 3: ``[S, D, H, W]`` maps); None when it holds no readable file."""
    folder = feature_dir(dataset_dir, name)
    try:
        with os.scandir(folder) as entries:
            first = next((e.path for e in entries if e.name.endswith(".npy") and e.is_file()), None)
    except OSError:
        return None
    if first is None:
        return None
    try:
        return np.load(first, mmap_mode="r", allow_pickle=False).ndim - 1
    except Exception:  # noqa: BLE001 - a corrupt file is reported by mcd data check, not here
        return None


def detect_features(dataset_dir: str | Path) -> dict[str, str | None]:
    """Feature roles of a dataset folder from its ``feats/`` folders alone (no manifest).

    Known names first (:data:`KNOWN_FEATURES`: ``vggish``, ``res18``, ``res18_14x14`` of the
    official release, ...); for the grid, otherwise any folder whose files hold ``[S, G, D]``
    cells or ``[S, D, H, W]`` maps. Several unknown grid folders are ambiguous: FeatureError
    asking to name one. A role without a folder is None.
    """
    present = feature_names(dataset_dir)
    roles: dict[str, str | None] = {}
    for role, known in KNOWN_FEATURES.items():
        roles[role] = next((name for name in known if name in present), None)
    if roles["visual_grid"] is None:
        taken = {roles["audio"], roles["visual"]}
        grids = [name for name in present if name not in taken and per_second_rank(dataset_dir, name) in (2, 3)]
        if len(grids) > 1:
            raise FeatureError(f"{Path(dataset_dir) / FEATS_DIR}: several grid feature folders ({', '.join(grids)}) "
                               "and no manifest.json naming one; choose with --set data.visual_grid_feature=NAME "
                               "(or 'none')")
        roles["visual_grid"] = grids[0] if grids else None
    return roles


def resolve_data_config(cfg) -> ResolvedData:
    """Resolve the ``"auto"``/0 values of a DataConfig through ``<root>/manifest.json``.

    Roles the manifest does not name (or every role, without a manifest) are detected from the
    ``feats/`` folders (:func:`detect_features`: the official ``vggish``, ``res18`` and
    ``res18_14x14``, or any grid folder); then the defaults ``vggish``, ``res18``, no grid.
    Seconds: the manifest's, else 60. ``visual_grid_feature="none"`` always means no grid.
    """
    manifest = read_manifest(cfg.root)
    named = manifest.get("features") or {}
    detected: dict[str, str | None] | None = None

    def pick(value: str, key: str, default: str | None) -> str | None:
        nonlocal detected
        if value and value != "auto":
            return None if value == "none" else value
        if named.get(key):
            return named[key]
        if detected is None:
            detected = detect_features(cfg.root)
        return detected.get(key) or default

    seconds = int(cfg.seconds) or int(manifest.get("seconds") or DEFAULT_SECONDS)
    if cfg.segments < 1 or seconds < 1:
        raise FeatureError(f"data.seconds={seconds} and data.segments={cfg.segments} must be positive")
    segments = min(int(cfg.segments), seconds)  # at most one segment per row (AVQA's HDF5 features: 8 clips)
    return ResolvedData(
        root=Path(cfg.root),
        audio=pick(cfg.audio_feature, "audio", DEFAULT_AUDIO_FEATURE),
        visual=pick(cfg.visual_feature, "visual", DEFAULT_VISUAL_FEATURE),
        visual_grid=pick(cfg.visual_grid_feature, "visual_grid", None),
        seconds=seconds,
        segments=segments,
    )


# --------------------------------------------------------------------------- sampling


def segment_indices(seconds: int, segments: int) -> np.ndarray:
    """Rows sampled from an S-second video: ``floor(i * S / segments)`` for i < segments.

    S=60, 10 segments → every 6th second (0, 6, ..., 54); S=10 → every second.
    """
    if segments < 1 or seconds < segments:
        raise FeatureError(f"cannot sample {segments} segments from {seconds} seconds: "
                           "use --segments <= --seconds")
    return (np.arange(segments) * seconds) // segments


def sample_segments(array: np.ndarray, seconds: int, segments: int) -> np.ndarray:
    """The ``segments`` sampled rows of ``array [S', ...]``, padding S' < S by its last row.

    Only the sampled rows are read, so a memory-mapped array costs just those pages.
    """
    rows = segment_indices(seconds, segments)
    if len(array) == 0:
        raise FeatureError("feature array has no rows")
    return np.asarray(array[np.minimum(rows, len(array) - 1)])


# --------------------------------------------------------------------------- reading and validation


def open_feature(path: str | Path, video_id: str | None = None) -> np.ndarray:
    """Memory-map one ``.npy`` feature file (header validated, values not yet read).

    Raises FeatureError naming the file and the video when it is missing, unreadable, not a
    float array, or has no rows.
    """
    path = Path(path)
    who = f" (video_id {video_id})" if video_id is not None else ""
    if not path.is_file():
        raise FeatureError(f"{path}: feature file missing{who}; extract the feature for this video "
                           "or remove the video's questions from the annotations")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy raises several types for corrupt files
        raise FeatureError(f"{path}: unreadable .npy file{who} ({exc}); re-extract it") from None
    if not np.issubdtype(array.dtype, np.floating):
        raise FeatureError(f"{path}: dtype {array.dtype}{who}, expected a float array; "
                           "save features as float32")
    if array.ndim < 2 or array.shape[0] == 0:
        raise FeatureError(f"{path}: shape {tuple(array.shape)}{who}, expected [seconds, dim, ...] "
                           "with at least one second")
    return array


def check_values(values: np.ndarray, path: str | Path, video_id: str | None = None) -> None:
    """Raise FeatureError when ``values`` hold NaN or Inf (naming the file and video)."""
    if not np.isfinite(values).all():
        bad = "NaN" if np.isnan(values).any() else "Inf"
        who = f" (video_id {video_id})" if video_id is not None else ""
        raise FeatureError(f"{path}: contains {bad} values{who}; re-extract this video's feature")


def check_trailing(shape: tuple[int, ...], expected: tuple[int, ...] | None, path: str | Path,
                   video_id: str | None = None) -> None:
    """Raise FeatureError when the per-second shape differs from the feature's other videos."""
    if expected is not None and tuple(shape[1:]) != tuple(expected):
        who = f" (video_id {video_id})" if video_id is not None else ""
        raise FeatureError(f"{path}: per-second shape {list(shape[1:])}{who} differs from the other "
                           f"videos of this feature {list(expected)}; re-extract it with the same "
                           "extractor settings")


def load_segments(path: str | Path, seconds: int, segments: int, video_id: str | None = None,
                  trailing: tuple[int, ...] | None = None) -> np.ndarray:
    """Read, validate and sample one video's feature file: ``[segments, ...]`` in its own dtype."""
    array = open_feature(path, video_id)
    check_trailing(array.shape, trailing, path, video_id)
    values = sample_segments(array, seconds, segments)
    check_values(values, path, video_id)
    return values


# --------------------------------------------------------------------------- folder check


@dataclass
class FeatureCheck:
    """Result of :func:`check_feature_folder`.

    ``rows``: one ``(name, n_files, shape, dtype)`` per feature folder, ``shape`` being the
    most common per-file shape; ``problems``: human-readable lines, empty when all is well.
    """

    rows: list[tuple[str, int, tuple[int, ...], str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_feature_folder(feats_dir: str | Path, video_ids: set[str] | None = None,
                         seconds: int | None = None, scan_values: bool = True,
                         max_listed: int = 10, progress: bool = False) -> FeatureCheck:
    """Check every feature folder under ``feats_dir`` (``<dataset>/feats``).

    Reports missing files for the annotated ``video_ids`` (when given), unreadable files,
    non-float dtypes, per-second shapes that disagree with the folder's majority, more rows
    than ``seconds`` (when given; fewer rows are padded, so they are fine) and NaN/Inf values
    (``scan_values``; reads every file in full). At most ``max_listed`` problems are listed per
    kind and feature, followed by a count.
    """
    feats_dir = Path(feats_dir)
    result = FeatureCheck()
    if not feats_dir.is_dir():
        result.problems.append(f"{feats_dir}: feature folder missing; extract features into "
                               "feats/<name>/<video_id>.npy")
        return result
    for folder in sorted(p for p in feats_dir.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.npy"))
        found: dict[str, list[str]] = {}  # problem kind -> lines

        def note(kind: str, line: str) -> None:
            found.setdefault(kind, []).append(line)

        shapes: dict[tuple[int, ...], int] = {}
        dtypes: dict[str, int] = {}
        per_file: list[tuple[Path, tuple[int, ...]]] = []
        for path in tqdm(files, desc=f"check {folder.name}", disable=not progress, leave=False):
            try:
                array = open_feature(path, path.stem)
            except FeatureError as exc:
                note("unreadable", str(exc))
                continue
            shapes[array.shape] = shapes.get(array.shape, 0) + 1
            dtypes[str(array.dtype)] = dtypes.get(str(array.dtype), 0) + 1
            per_file.append((path, array.shape))
            if seconds is not None and array.shape[0] > seconds:
                note("long", f"{path}: {array.shape[0]} seconds, more than the nominal {seconds} "
                             f"(video_id {path.stem}); only the first {seconds} are used")
            if scan_values:
                try:
                    check_values(array, path, path.stem)
                except FeatureError as exc:
                    note("values", str(exc))
        if per_file:
            common = max(shapes, key=shapes.get)
            for path, shape in per_file:
                try:
                    check_trailing(shape, common[1:], path, path.stem)
                except FeatureError as exc:
                    note("shape", str(exc))
        if video_ids is not None:
            present = {p.stem for p in files}
            missing = sorted(set(video_ids) - present)
            if missing:
                note("missing", f"{folder}: {len(missing)} annotated videos have no file, e.g. "
                                f"{', '.join(missing[:5])}; extract them or drop their questions")
        for kind, lines in found.items():
            result.problems.extend(lines[:max_listed])
            if len(lines) > max_listed:
                result.problems.append(f"{folder}: ... and {len(lines) - max_listed} more {kind} problems")
        common_shape = max(shapes, key=shapes.get) if shapes else ()
        common_dtype = max(dtypes, key=dtypes.get) if dtypes else "-"
        result.rows.append((folder.name, len(files), tuple(common_shape), common_dtype))
    return result


#: annotation files and the key naming a record's feature files: MUSIC-AVQA, AVQA
ANNOTATION_VIDEO_KEYS: tuple[tuple[str, str], ...] = (("*/avqa-*.json", "video_id"), ("*/*_qa.json", "video_name"))


def annotated_video_ids(dataset_dir: str | Path) -> list[str]:
    """Every video of every annotation file of a dataset (sorted, unique): the ``video_id`` of
    ``<dataset>/*/avqa-*.json`` (MUSIC-AVQA) and the ``video_name`` of ``<dataset>/*/*_qa.json``
    (AVQA, whose integer ``video_id`` does not name files).

    Read with plain JSON (only that key matters), so it works for any annotation version folder
    (``json``, ``json_update``).
    """
    ids: set[str] = set()
    for pattern, key in ANNOTATION_VIDEO_KEYS:
        for path in sorted(Path(dataset_dir).glob(pattern)):
            try:
                records = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise FeatureError(f"{path}: not valid JSON ({exc}); fix the annotation file") from None
            if not isinstance(records, list):
                raise FeatureError(f"{path}: the top level is a {type(records).__name__}, expected a list of "
                                   "question records; fix the annotation file (mcd data check)")
            for index, record in enumerate(records):
                if isinstance(record, dict) and key in record:
                    ids.add(safe_name(str(record[key]), what=key, where=f"{path}: record {index}"))
    return sorted(ids)


def files_video_ids(dataset_dir: str | Path, names: Iterable[str]) -> list[str]:
    """The video ids with a file in any of the ``feats/<name>/`` folders (sorted, unique)."""
    ids: set[str] = set()
    for name in names:
        ids.update(p.stem for p in feature_dir(dataset_dir, name).glob("*.npy"))
    return sorted(ids)


def write_random_features(dataset_dir: str | Path, name: str, video_ids: Iterable[str],
                          shape: tuple[int, ...], seed: int = 0, dtype=np.float32) -> list[Path]:
    """Write seeded random ``feats/<name>/<video_id>.npy`` files of ``shape`` (``[S, ...]``).

    For tests, benchmarks and teaching notebooks that need a feature folder without media.
    """
    folder = feature_dir(dataset_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for vid in video_ids:
        path = folder / f"{vid}.npy"
        np.save(path, rng.standard_normal(shape).astype(dtype))
        paths.append(path)
    return paths
