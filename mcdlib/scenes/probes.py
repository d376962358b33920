"""Linear probes: do the frozen features of music scenes carry what the questions ask about?

A *probe* is a linear read-out (standardised features, then scikit-learn's
``LogisticRegression``) trained to recover a ground-truth fact of the scene graph from frozen
features. If a linear probe recovers it, a model built on those features can use it; if not,
no question about it can be answered from the features. Two probes:

* :func:`probe_columns`: the visual **grid** features (one ``[Dv]`` vector per left / middle /
  right stage column) -> which instrument stands in that column, or nobody
  (:data:`EMPTY`): identity and location at once. Columns holding two players are skipped
  (no single right label).
* :func:`probe_sounding`: the **log-mel** features of one second -> which of the 22
  instruments sound during that second (multi-label: a player counts when it sounds at the
  middle of the second, :func:`sounding_targets`). Scored by macro ROC-AUC over the
  instruments present in both train and test (chance 0.5) and by the exact set of sounding
  instruments per second (chance: always guessing the most frequent set).

Features come either from a built dataset (:func:`load_probe_data`: ``scenes/`` and
``feats/``, named by ``manifest.json``) or from scenes rendered and encoded now exactly as the
builder does (:func:`encode_probe_data`). Both give a :class:`ProbeData`.

>>> data = load_probe_data("data/music_scenes/classroom", video_ids[:150])
>>> train, test = data.split(0.75)
>>> print(probe_columns(train, test).summary())
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.errors import ConfigError, FeatureError
from mcdlib.scenes.questions import COLUMNS, column_of
from mcdlib.scenes.scene import Scene

#: the label of a stage column nobody stands in
EMPTY = "<empty>"
#: inverse regularisation strength of the logistic probes (features are standardised first)
DEFAULT_C = 0.05
#: iteration cap of the logistic solver
MAX_ITER = 2000
#: BLAS threads while fitting: these problems are small, and several threads on a busy machine
#: are slower than one (oversubscription made a 0.3 s fit take 10 s on 2 shared cores)
PROBE_THREADS = 1


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ProbeData:
    """Scenes and their frozen features, aligned by index.

    ``grids``: float32 ``[N, G, Dv]`` (one frame per scene: frames are still, so every second
    has the same grid); ``audio``: float32 ``[N, T, Da]`` per-second audio features.
    """

    scenes: tuple[Scene, ...]
    grids: np.ndarray
    audio: np.ndarray

    def __post_init__(self) -> None:
        if not (len(self.scenes) == len(self.grids) == len(self.audio)):
            raise FeatureError(f"probe data: {len(self.scenes)} scenes, {len(self.grids)} grid rows and "
                               f"{len(self.audio)} audio rows must be aligned one per scene")
        if self.grids.ndim != 3 or self.grids.shape[1] != len(COLUMNS):
            raise FeatureError(f"probe data: grid features have shape {self.grids.shape}; the column probe "
                               f"needs [N, {len(COLUMNS)}, Dv] (build the dataset with grid={len(COLUMNS)})")

    def __len__(self) -> int:
        return len(self.scenes)

    def subset(self, index: slice | Sequence[int]) -> "ProbeData":
        """The scenes at ``index`` (a slice or a list of positions)."""
        rows = range(len(self))[index] if isinstance(index, slice) else list(index)
        rows = list(rows)
        return ProbeData(tuple(self.scenes[i] for i in rows), self.grids[rows], self.audio[rows])

    def split(self, train_fraction: float = 0.75) -> tuple["ProbeData", "ProbeData"]:
        """``(train, test)``: the first ``train_fraction`` of the scenes, then the rest."""
        n_train = int(round(train_fraction * len(self)))
        if not 0 < n_train < len(self):
            raise ConfigError(f"cannot split {len(self)} probe scenes at {train_fraction}: both parts need "
                              "scenes; probe more scenes (e.g. probe_scenes=40 or more)")
        return self.subset(slice(0, n_train)), self.subset(slice(n_train, len(self)))


def load_probe_data(dataset_dir: str | Path, video_ids: Sequence[str]) -> ProbeData:
    """Scene graphs and features of ``video_ids`` from a built music-scenes dataset.

    The feature folders are the ones ``manifest.json`` declares (``visual_grid`` and
    ``audio``); a missing file raises :class:`FeatureError` naming it.
    """
    from mcdlib.data.features import read_manifest

    dataset_dir = Path(dataset_dir)
    folders = read_manifest(dataset_dir).get("features", {})
    if "visual_grid" not in folders or "audio" not in folders:
        raise FeatureError(f"{dataset_dir}/manifest.json declares no 'visual_grid' and 'audio' features; "
                           "probe a music-scenes dataset built by `mcd data synth`")
    scenes, grids, audio = [], [], []
    for video_id in video_ids:
        paths = {"scene": dataset_dir / "scenes" / f"{video_id}.json",
                 "grid": dataset_dir / "feats" / folders["visual_grid"] / f"{video_id}.npy",
                 "audio": dataset_dir / "feats" / folders["audio"] / f"{video_id}.npy"}
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise FeatureError(f"video {video_id}: missing {', '.join(missing)}; is the build of {dataset_dir} "
                               "complete? (rerun `mcd data synth` with the same settings to resume it)")
        scenes.append(Scene.load(paths["scene"]))
        grids.append(np.load(paths["grid"])[0])  # [G, Dv]: every second shows the same frame
        audio.append(np.load(paths["audio"]))
    return ProbeData(tuple(scenes), np.stack(grids).astype(np.float32), np.stack(audio).astype(np.float32))


def encode_probe_data(scenes: Sequence[Scene], profile) -> ProbeData:
    """Render and encode ``scenes`` now, as :func:`mcdlib.scenes.build.build_dataset` does
    with ``profile`` (its renderer, encoders, grid and image size)."""
    from mcdlib.scenes.build import CHUNK, Parts, encode_chunk

    parts = Parts.for_profile(profile)
    grids, audio = [], []
    for start in range(0, len(scenes), CHUNK):
        feats = encode_chunk(scenes[start:start + CHUNK], parts, profile.image_size)
        grids += [grid[0] for grid in feats["visual_grid"]]
        audio += feats["audio"]
    return ProbeData(tuple(scenes), np.stack(grids), np.stack(audio))


# --------------------------------------------------------------------------- labels


def column_examples(data: ProbeData) -> tuple[np.ndarray, np.ndarray]:
    """``(x [M, Dv], y [M])``: one example per stage column holding at most one visible player;
    ``y`` is that player's instrument or :data:`EMPTY`."""
    xs, ys = [], []
    for scene, grid in zip(data.scenes, data.grids):
        for c, column in enumerate(COLUMNS):
            here = [p.instrument for p in scene.visible_players if column_of(p.x) == column]
            if len(here) <= 1:
                xs.append(grid[c])
                ys.append(here[0] if here else EMPTY)
    return np.stack(xs), np.array(ys)


def sounding_targets(scenes: Sequence[Scene], instruments: Sequence[str] = INSTRUMENTS) -> np.ndarray:
    """Bool ``[N, T, K]``: whether instrument ``k`` sounds (on stage or off screen) at the middle
    of second ``t`` of scene ``n``."""
    return np.array([[[any(p.instrument == name and p.sounding_at(t + 0.5) for p in scene.players)
                       for name in instruments] for t in range(scene.seconds)] for scene in scenes], dtype=bool)


def _few_threads():
    """A context limiting BLAS/OpenMP threads to :data:`PROBE_THREADS` (threadpoolctl ships with scikit-learn)."""
    import sklearn.linear_model  # noqa: F401 - loads scipy's BLAS first: the limit reaches loaded libraries only
    from threadpoolctl import threadpool_limits

    return threadpool_limits(PROBE_THREADS)


def _probe(c: float):
    """A fresh probe: standardise the features, then a logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=MAX_ITER))


def majority_share(labels: np.ndarray) -> float:
    """Share of the most frequent label (row, for 2-d labels) of ``labels``: the chance level
    of always guessing it."""
    if len(labels) == 0:
        return float("nan")
    keys = [tuple(row) for row in labels] if labels.ndim > 1 else list(labels)
    _, counts = np.unique(np.array([str(k) for k in keys]), return_counts=True)
    return float(counts.max() / len(keys))


# --------------------------------------------------------------------------- the probes


@dataclass(frozen=True)
class ColumnProbeResult:
    """What the grid features tell about each stage column (accuracies on the test scenes)."""

    identity_accuracy: float  # instrument right, on occupied columns
    identity_majority: float  # always guessing the most frequent instrument of the test columns
    occupied_columns: int
    occupancy_accuracy: float  # occupied vs empty right, on every column
    occupancy_majority: float  # always guessing the more frequent of occupied / empty
    columns: int
    instruments: int  # instruments of the pool (uniform chance 1/instruments)

    def summary(self) -> str:
        return (f"instrument in a column: accuracy {self.identity_accuracy:.3f} on {self.occupied_columns} "
                f"occupied columns (majority {self.identity_majority:.3f}, uniform 1/{self.instruments} = "
                f"{1 / self.instruments:.3f})\n"
                f"column occupied or empty: accuracy {self.occupancy_accuracy:.3f} on {self.columns} columns "
                f"(majority {self.occupancy_majority:.3f})")


def probe_columns(train: ProbeData, test: ProbeData, c: float = DEFAULT_C) -> ColumnProbeResult:
    """Train a logistic probe grid cell -> instrument or :data:`EMPTY` on ``train``, score it on ``test``."""
    train_x, train_y = column_examples(train)
    test_x, test_y = column_examples(test)
    if len(np.unique(train_y)) < 2:
        raise ConfigError(f"column probe: the {len(train)} training scenes show fewer than two labels; "
                          "probe more scenes")
    with _few_threads():
        predicted = _probe(c).fit(train_x, train_y).predict(test_x)
    occupied = test_y != EMPTY
    return ColumnProbeResult(
        identity_accuracy=float((predicted[occupied] == test_y[occupied]).mean()),
        identity_majority=majority_share(test_y[occupied]),
        occupied_columns=int(occupied.sum()),
        occupancy_accuracy=float(((predicted != EMPTY) == occupied).mean()),
        occupancy_majority=float(max(occupied.mean(), 1 - occupied.mean())),
        columns=len(test_y),
        instruments=len(INSTRUMENTS))


@dataclass(frozen=True)
class SoundingProbeResult:
    """What one second of audio features tells about which instruments sound (test scenes)."""

    macro_auc: float  # mean ROC-AUC over the scored instruments (chance 0.5)
    aucs: dict[str, float]  # per scored instrument (positives and negatives in test, positives in train)
    set_accuracy: float  # the predicted set of sounding instruments is exactly right
    set_majority: float  # always guessing the most frequent set
    seconds: int  # test seconds

    def summary(self) -> str:
        lowest = min(self.aucs, key=self.aucs.get)
        return (f"sounding instruments per second: macro ROC-AUC {self.macro_auc:.3f} over {len(self.aucs)} "
                f"instruments (chance 0.5; lowest {lowest} {self.aucs[lowest]:.3f})\n"
                f"exact set of sounding instruments: accuracy {self.set_accuracy:.3f} on {self.seconds} seconds "
                f"(majority {self.set_majority:.3f})")


def probe_sounding(train: ProbeData, test: ProbeData, c: float = DEFAULT_C,
                   instruments: Sequence[str] = INSTRUMENTS) -> SoundingProbeResult:
    """Train one logistic probe per instrument (audio features of a second -> it sounds) on
    ``train``, score them on ``test``. Instruments that never sound in ``train`` are
    predicted silent."""
    from sklearn.metrics import roc_auc_score

    train_x = train.audio.reshape(-1, train.audio.shape[-1])
    test_x = test.audio.reshape(-1, test.audio.shape[-1])
    train_y = sounding_targets(train.scenes, instruments).reshape(len(train_x), -1)
    test_y = sounding_targets(test.scenes, instruments).reshape(len(test_x), -1)
    scores = np.full(test_y.shape, -np.inf)
    with _few_threads():
        for k in range(len(instruments)):
            if 0 < train_y[:, k].sum() < len(train_y):
                scores[:, k] = _probe(c).fit(train_x, train_y[:, k]).decision_function(test_x)
    aucs = {name: float(roc_auc_score(test_y[:, k], scores[:, k])) for k, name in enumerate(instruments)
            if 0 < test_y[:, k].sum() < len(test_y) and np.isfinite(scores[:, k]).all()}
    if not aucs:
        raise ConfigError(f"sounding probe: no instrument sounds in both the {len(train)} training and the "
                          f"{len(test)} test scenes; probe more scenes")
    predicted = scores > 0
    return SoundingProbeResult(
        macro_auc=float(np.mean(list(aucs.values()))), aucs=aucs,
        set_accuracy=float((predicted == test_y).all(1).mean()),
        set_majority=majority_share(test_y), seconds=len(test_y))
