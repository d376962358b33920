"""Linear probes: do the frozen features of music scenes carry what the questions ask about?

A *probe* is a linear read-out (standardised features, then scikit-learn's
``LogisticRegression``) trained to recover a ground-truth fact of the scene graph from frozen
features. If a linear probe recovers it, a model built on those features can use it; if not,
no question about it can be answered from the features. The probes:

* :func:`probe_columns`: the visual **grid** features (one ``[Dv]`` vector per left / middle /
  right stage column) -> which instrument stands in that column, or nobody
  (:data:`EMPTY`): identity and location at once. Columns holding two players are skipped
  (no single right label).
* :func:`probe_sounding`: the **log-mel** features of one second -> which of the 22
  instruments sound during that second (multi-label: a player counts when it sounds at the
  middle of the second, :func:`sounding_targets`). Scored by macro ROC-AUC over the
  instruments present in both train and test (chance 0.5) and by the exact set of sounding
  instruments per second (chance: always guessing the most frequent set).
* :func:`probe_pairs`: the **audio** features of the mix -> which of two sounding
  instruments is **louder** / **more rhythmic** (the Audio Comparative relations, pairs as
  the questions take them: each instrument sounds once, levels >= 4 dB or densities >= 1.5x
  apart). A linear read-out per instrument ``w_k`` (a logistic regression on the sparse
  design ``[v_a at block a, -v_b at block b]``, no intercept): ``a`` wins when
  ``w_a . v_a > w_b . v_b``, where ``v_a`` is the mean standardised feature vector of the
  seconds in which ``a`` sounds (the scene graph tells which: the probe asks whether the
  features carry level and density, not whether they tell when someone plays). Both orders
  of every pair are scored, so chance is 0.5. Twenty-two read-outs need many scenes:
  :func:`encode_probe_data` renders extra held-out scenes for them.
* :func:`probe_time_line`: the per-second **frame** vectors -> the camera (wide or close-up)
  and the lighting of that second (version 2's visual time line): does the visual feature
  change with time? (Version-1 frames are still: nothing to find.)

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

    ``grids``: float32 ``[N, G, Dv]``, the grid of one wide-shot second per scene
    (:func:`wide_second`; a version-1 frame is the same every second), or None for audio-only
    probe data; ``audio``: float32 ``[N, T, Da]`` per-second audio features; ``frames``
    (optional): float32 ``[N, T, Dv]`` per-second frame vectors (for :func:`probe_time_line`).
    """

    scenes: tuple[Scene, ...]
    grids: np.ndarray | None
    audio: np.ndarray
    frames: np.ndarray | None = None

    def __post_init__(self) -> None:
        rows = [len(x) for x in (self.grids, self.audio, self.frames) if x is not None]
        if any(n != len(self.scenes) for n in rows):
            raise FeatureError(f"probe data: {len(self.scenes)} scenes and feature rows {rows} must be aligned "
                               "one per scene")
        if self.grids is not None and (self.grids.ndim != 3 or self.grids.shape[1] != len(COLUMNS)):
            raise FeatureError(f"probe data: grid features have shape {self.grids.shape}; the column probe "
                               f"needs [N, {len(COLUMNS)}, Dv] (build the dataset with grid={len(COLUMNS)})")

    def __len__(self) -> int:
        return len(self.scenes)

    def subset(self, index: slice | Sequence[int]) -> "ProbeData":
        """The scenes at ``index`` (a slice or a list of positions)."""
        rows = range(len(self))[index] if isinstance(index, slice) else list(index)
        rows = list(rows)
        pick = (lambda x: None if x is None else x[rows])
        return ProbeData(tuple(self.scenes[i] for i in rows), pick(self.grids), self.audio[rows], pick(self.frames))

    def concat(self, other: "ProbeData") -> "ProbeData":
        """These scenes then ``other``'s (features present in both are kept)."""
        join = (lambda a, b: None if a is None or b is None else np.concatenate([a, b]))
        return ProbeData(self.scenes + other.scenes, join(self.grids, other.grids),
                         np.concatenate([self.audio, other.audio]), join(self.frames, other.frames))

    def split(self, train_fraction: float = 0.75) -> tuple["ProbeData", "ProbeData"]:
        """``(train, test)``: the first ``train_fraction`` of the scenes, then the rest."""
        n_train = int(round(train_fraction * len(self)))
        if not 0 < n_train < len(self):
            raise ConfigError(f"cannot split {len(self)} probe scenes at {train_fraction}: both parts need "
                              "scenes; probe more scenes (e.g. probe_scenes=40 or more)")
        return self.subset(slice(0, n_train)), self.subset(slice(n_train, len(self)))


def wide_second(scene: Scene) -> int:
    """A second showing the whole stage in normal light (the first such; a version-1 scene: 0)."""
    for t in range(scene.seconds):
        if scene.camera_at(t)[0] == 1.0 and scene.lighting_at(t) == "normal":
            return t
    return next((t for t in range(scene.seconds) if scene.camera_at(t)[0] == 1.0), 0)


def load_probe_data(dataset_dir: str | Path, video_ids: Sequence[str], visual: bool = True) -> ProbeData:
    """Scene graphs and features of ``video_ids`` from a built music-scenes dataset.

    The feature folders are the ones ``manifest.json`` declares (``visual_grid``, ``visual``
    and ``audio``; ``visual=False``: audio only); a missing file raises :class:`FeatureError`
    naming it.
    """
    from mcdlib.data.features import read_manifest

    dataset_dir = Path(dataset_dir)
    folders = read_manifest(dataset_dir).get("features", {})
    if "visual_grid" not in folders or "audio" not in folders:
        raise FeatureError(f"{dataset_dir}/manifest.json declares no 'visual_grid' and 'audio' features; "
                           "probe a music-scenes dataset built by `mcd data synth`")
    scenes, grids, audio, frames = [], [], [], []
    with_frames = visual and "visual" in folders and (dataset_dir / "feats" / folders["visual"]).is_dir()
    for video_id in video_ids:
        paths = {"scene": dataset_dir / "scenes" / f"{video_id}.json",
                 "audio": dataset_dir / "feats" / folders["audio"] / f"{video_id}.npy"}
        if visual:
            paths["grid"] = dataset_dir / "feats" / folders["visual_grid"] / f"{video_id}.npy"
        if with_frames:
            paths["frames"] = dataset_dir / "feats" / folders["visual"] / f"{video_id}.npy"
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise FeatureError(f"video {video_id}: missing {', '.join(missing)}; is the build of {dataset_dir} "
                               "complete? (rerun `mcd data synth` with the same settings to resume it)")
        scene = Scene.load(paths["scene"])
        scenes.append(scene)
        if visual:
            grids.append(np.load(paths["grid"], mmap_mode="r")[wide_second(scene)])  # [G, Dv]
        audio.append(np.load(paths["audio"]))
        if with_frames:
            frames.append(np.load(paths["frames"]))
    return ProbeData(tuple(scenes), np.stack(grids).astype(np.float32) if visual else None,
                     np.stack(audio).astype(np.float32), np.stack(frames).astype(np.float32) if with_frames else None)


def encode_probe_data(scenes: Sequence[Scene], profile, visual: bool = True, progress: bool = False) -> ProbeData:
    """Render and encode ``scenes`` now, as :func:`mcdlib.scenes.build.build_dataset` does
    with ``profile`` (its renderer, encoders, grid and image size). ``visual=False`` renders
    and encodes only the sound (much faster: for :func:`probe_pairs`)."""
    from tqdm.auto import tqdm

    from mcdlib.scenes.build import CHUNK, Parts, encode_chunk

    parts = Parts.for_profile(profile)
    grids, audio, frames = [], [], []
    for start in tqdm(range(0, len(scenes), CHUNK), desc="probe scenes", unit="chunk", disable=not progress):
        chunk = list(scenes[start:start + CHUNK])
        if visual:
            feats = encode_chunk(chunk, parts, profile.image_size)
            grids += [grid[wide_second(scene)] for scene, grid in zip(chunk, feats["visual_grid"])]
            frames += feats["visual"]
            audio += feats["audio"]
        else:
            mixes = np.stack([parts.renderer.render(scene).mix for scene in chunk]).astype(np.float32)
            audio += list(parts.audio_encoder.encode(mixes))
    return ProbeData(tuple(scenes), np.stack(grids) if visual else None, np.stack(audio),
                     np.stack(frames) if visual else None)


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
    if train.grids is None or test.grids is None:
        raise FeatureError("column probe: these probe data have no grid features (encoded with visual=False)")
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


# --------------------------------------------------------------------------- pairwise audio probes

#: inverse regularisation of the pairwise probes (set once on version-1 classroom data)
PAIR_C = 0.2
#: the relations of :func:`probe_pairs` (the Audio Comparative ones)
PAIR_RELATIONS: tuple[str, ...] = ("louder", "more_rhythmic")


@dataclass(frozen=True)
class PairProbeResult:
    """Which of two sounding instruments is louder / more rhythmic, read from the mix (test scenes)."""

    relation: str
    accuracy: float  # both orders of every test pair (chance 0.5)
    pairs: int  # ordered test pairs
    train_pairs: int  # ordered training pairs
    train_scenes: int

    def summary(self) -> str:
        return (f"which of two instruments is {self.relation.replace('_', ' ')}: accuracy {self.accuracy:.3f} on "
                f"{self.pairs} ordered test pairs (chance 0.5; probe trained on {self.train_pairs} pairs of "
                f"{self.train_scenes} scenes)")


def pair_examples(scenes: Sequence[Scene], relation: str) -> list[tuple[int, str, str, bool, list[int], list[int]]]:
    """``(scene index, instrument a, instrument b, a wins, seconds a sounds, seconds b sounds)``
    for every ordered pair of sounding players, each the only sounding player of its
    instrument, whose ``relation`` is decided (:func:`mcdlib.scenes.questions.louder` /
    ``more_rhythmic``)."""
    from mcdlib.scenes.questions import louder, more_rhythmic

    if relation not in PAIR_RELATIONS:
        raise ConfigError(f"unknown pair relation {relation!r}; choose one of {', '.join(PAIR_RELATIONS)}")
    compare = louder if relation == "louder" else more_rhythmic
    out = []
    for i, scene in enumerate(scenes):
        sounding = [p for p in scene.players if p.intervals]
        names = [p.instrument for p in sounding]
        unique = [p for p in sounding if names.count(p.instrument) == 1]
        seconds = {id(p): [t for t in range(scene.seconds) if p.sounding_at(t + 0.5)] or list(range(scene.seconds))
                   for p in unique}
        for a in unique:
            for b in unique:
                decided = None if a is b else compare(a, b)
                if decided is not None:
                    out.append((i, a.instrument, b.instrument, bool(decided), seconds[id(a)], seconds[id(b)]))
    return out


def _pair_design(data: ProbeData, examples, scaler, instruments: Sequence[str]):
    import scipy.sparse as sparse

    dim = data.audio.shape[-1]
    index = {name: k for k, name in enumerate(instruments)}
    rows, cols, values = [], [], []
    for j, (i, a, b, _, seconds_a, seconds_b) in enumerate(examples):
        for name, seconds, sign in ((a, seconds_a, 1.0), (b, seconds_b, -1.0)):
            vector = scaler.transform(data.audio[i, seconds]).mean(0) * sign
            rows += [j] * dim
            cols += range(index[name] * dim, (index[name] + 1) * dim)
            values += vector.tolist()
    design = sparse.csr_matrix((values, (rows, cols)), shape=(len(examples), dim * len(instruments)))
    return design, np.array([e[3] for e in examples])


def probe_pairs(train: ProbeData, test: ProbeData, relation: str = "louder", c: float = PAIR_C,
                instruments: Sequence[str] = INSTRUMENTS) -> PairProbeResult:
    """Train the pairwise probe of ``relation`` ("louder" | "more_rhythmic", see the module doc)
    on ``train``, score it on ``test`` (held-out scenes)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_pairs, test_pairs = pair_examples(train.scenes, relation), pair_examples(test.scenes, relation)
    if len(train_pairs) < 2 or not test_pairs:
        raise ConfigError(f"pair probe ({relation}): {len(train_pairs)} training and {len(test_pairs)} test pairs; "
                          "probe more scenes (a pair needs two sounding instruments that differ clearly)")
    scaler = StandardScaler().fit(train.audio.reshape(-1, train.audio.shape[-1]))
    train_x, train_y = _pair_design(train, train_pairs, scaler, instruments)
    test_x, test_y = _pair_design(test, test_pairs, scaler, instruments)
    with _few_threads():
        model = LogisticRegression(C=c, fit_intercept=False, max_iter=MAX_ITER).fit(train_x, train_y)
    return PairProbeResult(relation, float((model.predict(test_x) == test_y).mean()), len(test_pairs),
                           len(train_pairs), len(train))


# --------------------------------------------------------------------------- visual time line


@dataclass(frozen=True)
class TimeLineProbeResult:
    """What the per-second frame vectors tell about the camera and the lights (test seconds)."""

    camera_accuracy: float  # close-up vs wide shot
    camera_majority: float
    lighting_accuracy: float  # normal / dim / warm / cool
    lighting_majority: float
    seconds: int

    def summary(self) -> str:
        return (f"camera (close-up or wide) per second: accuracy {self.camera_accuracy:.3f} (majority "
                f"{self.camera_majority:.3f}); lighting (normal, dim, warm, cool): accuracy "
                f"{self.lighting_accuracy:.3f} (majority {self.lighting_majority:.3f}) on {self.seconds} test seconds")


def time_line_targets(scenes: Sequence[Scene]) -> tuple[np.ndarray, np.ndarray]:
    """``(close_up [N*T] bool, lighting [N*T] str)`` of every second of ``scenes``."""
    close = [scene.camera_at(t)[0] > 1.0 for scene in scenes for t in range(scene.seconds)]
    light = [scene.lighting_at(t) for scene in scenes for t in range(scene.seconds)]
    return np.array(close), np.array(light)


def probe_time_line(train: ProbeData, test: ProbeData, c: float = DEFAULT_C) -> TimeLineProbeResult:
    """Train logistic probes frame vector of a second -> camera (close-up / wide) and lighting on
    ``train``, score them on ``test``."""
    if train.frames is None or test.frames is None:
        raise FeatureError("time-line probe: these probe data have no per-second frame vectors")
    train_x, test_x = (d.frames.reshape(-1, d.frames.shape[-1]) for d in (train, test))
    (train_close, train_light), (test_close, test_light) = time_line_targets(train.scenes), time_line_targets(test.scenes)
    scores = []
    with _few_threads():
        for train_y, test_y in ((train_close, test_close), (train_light, test_light)):
            if len(np.unique(train_y)) < 2:  # nothing changes (version-1 frames): the majority is all there is
                scores.append(float((test_y == train_y[0]).mean()))
                continue
            scores.append(float((_probe(c).fit(train_x, train_y).predict(test_x) == test_y).mean()))
    return TimeLineProbeResult(scores[0], majority_share(test_close), scores[1], majority_share(test_light),
                               len(test_close))
