"""``AVQADataset``: question records + packed features + cached text features → batch dicts.

One split of one dataset, described by a :class:`~mcdlib.config.DataConfig`::

    ensure_packed(cfg.data)                        # packs missing features (explicitly)
    train = AVQADataset(cfg.data, "train")
    val = AVQADataset(cfg.data, "val", train.answer_vocab, train.question_vocab)
    model = build_model(cfg.model, train.spec)
    for batch in train.iter_batches(64, shuffle=True, seed=0, epoch=epoch):
        out = model(batch)

Everything per question is turned into arrays once, at construction; :meth:`AVQADataset.batch`
only gathers rows (no per-sample Python), so the loader is far faster than any model. The
batch keys, shapes and dtypes are the contract of docs/ARCHITECTURE.md (``Batch``).

Grid features are given to models as ``[T, G, Dv]``: grids stored channels-first per second
(``res18_14x14``: ``[C, H, W]``) are packed as ``[H*W, C]`` cells once, at pack time
(:mod:`mcdlib.data.store`); grids stored as ``[G, Dv]`` (music scenes) pass through.

Sharding for DDP (:meth:`AVQADataset.batch_indices`): the (shuffled) order is padded by
wrapping around to a multiple of ``world_size`` (as ``torch.utils.data.DistributedSampler``
does), then rank r takes every ``world_size``-th index from r. Every rank gets the same number
of batches; with ``drop_last=False`` every index is seen at least once per epoch and the
``pad < world_size`` first indices of the order twice; with ``drop_last=True`` the order is
truncated instead and incomplete batches are dropped.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Collection, Iterator, Sequence

import numpy as np
import torch

from mcdlib.data.cache_dir import cache_location
from mcdlib.data.features import ResolvedData, require_dataset_dir, resolve_data_config, write_random_features
from mcdlib.data.formats import AnnotationFormat, get_format
from mcdlib.data.music_avqa import Question, reference_tokens, resolve_annotations, split_path
from mcdlib.data.report_scheme import ReportScheme
from mcdlib.data.spec import DataSpec
from mcdlib.data.store import (PackedStore, pack, pack_command, read_index, require_current, stale_videos,
                               to_float32)
from mcdlib.data.templates import PLACEHOLDER_FILLERS, TEMPLATES
from mcdlib.data.text_cache import (CACHE_DIR, TextCache, keyword_text, load_or_build_text_cache,
                                    object_texts)
from mcdlib.data.vocab import REFERENCE_ANSWERS, AnswerVocab, QuestionVocab
from mcdlib.encoders.text import SOURCED_TEXT_ENCODERS, TEXT_ENCODERS, get_text_encoder
from mcdlib.errors import AnnotationError, ConfigError, FeatureError

#: split roles resolved through DataConfig.<role>_split
SPLIT_ROLES: tuple[str, ...] = ("train", "val", "test")
#: text_objects_kind values
KIND_PAD, KIND_KEYWORD, KIND_TYPE = 0, 1, 2
#: keywords of the longest official template (4) plus the two type labels
TEMPLATE_MAX_OBJECTS = max(len(t.placeholders) for t in TEMPLATES) + 2


#: the deep-feature keys of a batch (the rest — question, objects, labels — is always loaded)
FEATURE_KEYS = ("audio", "visual", "visual_grid")


def split_name(cfg, split: str) -> str:
    """``train``/``val``/``test`` map to ``cfg.<role>_split``; any other name is a file's split."""
    return getattr(cfg, f"{split}_split") if split in SPLIT_ROLES else split


def text_model_source(cfg, text_model: str) -> str:
    """``cfg.text_model_source`` for the encoders that load from one (CLIP), else ``""``."""
    return getattr(cfg, "text_model_source", "") if text_model in SOURCED_TEXT_ENCODERS else ""


def text_model_name(cfg, text_model: str | None = None) -> str:
    """The text encoder of the text cache: ``text_model`` if given, else ``cfg.text_model``
    (``minilm`` by default; ``vocab`` questions still need pooled text objects). ``"hash"`` is
    only ever used when asked for."""
    name = text_model or getattr(cfg, "text_model", "minilm")
    if name not in TEXT_ENCODERS:
        raise ConfigError(f"unknown text encoder {name!r}; choose one of {', '.join(TEXT_ENCODERS)}")
    return name


# --------------------------------------------------------------------------- packing helpers


def missing_features(data: ResolvedData, stale: bool = False) -> list[str]:
    """The features of ``data`` not completely packed with its seconds and segments (and, with
    ``stale``, those whose source files changed since packing: :func:`~mcdlib.data.store.stale_videos`)."""
    index = read_index(data.root) or {"features": {}}
    missing = []
    for name in data.features:
        entry = index["features"].get(name) or {}
        if not (entry.get("complete") and entry.get("segments") == data.segments
                and entry.get("source_seconds") == data.seconds
                and len(entry.get("shape", ())) <= 4):  # 5-D: a grid packed channels-first by an earlier version
            missing.append(name)
        elif stale and stale_videos(data.root, name, index):
            missing.append(name)
    return missing


def open_packed_store(data: ResolvedData) -> PackedStore:
    """The dataset's PackedStore, or FeatureError with the exact ``mcd data pack`` command
    (features not packed, or packed from source files that changed since)."""
    missing = missing_features(data)
    if missing:
        raise FeatureError(f"{data.root}: features {', '.join(missing)} are not packed with "
                           f"seconds={data.seconds}, segments={data.segments}; run "
                           f"`{pack_command(data.root, missing, data.seconds, data.segments)}` "
                           "(or call mcdlib.data.dataset.ensure_packed(cfg))")
    require_current(data.root, data.features)
    return PackedStore(data.root)


def ensure_packed(cfg, progress: bool = True) -> dict:
    """Pack whatever features ``cfg`` (a DataConfig) needs and the store lacks or holds out of
    date (sources changed since packing); returns the :func:`~mcdlib.data.store.pack` summary
    ({} when nothing was missing)."""
    require_dataset_dir(cfg.root)
    data = resolve_data_config(cfg)
    missing = missing_features(data, stale=True)
    if not missing:
        return {}
    return pack(data.root, missing, seconds=data.seconds, segments=data.segments, progress=progress)


# --------------------------------------------------------------------------- question vocabulary


def question_vocab_path(cfg, fmt: AnnotationFormat | None = None) -> Path:
    """``<root>/cache/question_vocab-<annotations>-<train split>.json`` (AVQA: ``-avqa-`` first; the
    default place; see :mod:`mcdlib.data.cache_dir` for ``data.cache_dir`` and read-only datasets)."""
    fmt = fmt or get_format(cfg)
    return Path(cfg.root) / CACHE_DIR / f"question_vocab-{fmt.vocab_tag(cfg)}.json"


def template_word_lists() -> list[list[str]]:
    """Every word the 33 official templates can produce: their fixed words, then the fillers."""
    fixed = [[w for w in reference_tokens(t.text, [""] * len(t.placeholders)) if w] for t in TEMPLATES]
    return fixed + [list(fillers) for fillers in PLACEHOLDER_FILLERS.values()]


def load_or_build_question_vocab(cfg, fmt: AnnotationFormat | None = None) -> QuestionVocab:
    """The word vocabulary of the train split (built once, then read from the cache folder).

    Words of the train questions come first, in the reference order; then the format's extra
    words (:meth:`~mcdlib.data.formats.AnnotationFormat.extra_vocab_words`). MUSIC-AVQA: every
    other word an official template can produce, so a val/test question whose filler never
    occurs in a (small, synthetic) train split still encodes; on the official train split this
    appends nothing (93 words). AVQA: the words of the other splits. Delete the cached file to
    rebuild after changing the train annotations.
    """
    fmt = fmt or get_format(cfg)
    location = cache_location(cfg)
    name = question_vocab_path(cfg, fmt).name
    found = location.find(name)
    if found is not None:
        return QuestionVocab.load(found)
    train = fmt.load_split(cfg, cfg.train_split)
    vocab = QuestionVocab.build([q.tokens for q in train] + fmt.extra_vocab_words(cfg))
    try:
        vocab.save(location.target(name))
    except OSError as exc:
        raise FeatureError(f"{location.write / name}: cannot write the question vocabulary ({exc.strerror or exc}); "
                           "set data.cache_dir to a writable folder (--set data.cache_dir=DIR)") from None
    return vocab


# --------------------------------------------------------------------------- the dataset


class AVQADataset:
    """One split of an AVQA dataset as batches of tensors (see module doc and the contract).

    ``split``: ``train``/``val``/``test`` (through the config's split names) or a file's split
    name (``test_real``). The annotation format (MUSIC-AVQA or AVQA multiple choice) is
    ``cfg.format`` (``auto``: detected, :mod:`mcdlib.data.formats`). ``answer_vocab`` defaults to
    the config's order/unknown policy (AVQA: the option positions); ``question_vocab`` to the
    train split's (cached under ``<root>/cache/``); pass the train dataset's to val/test.
    ``text_model`` selects the text encoder of the text cache (:func:`text_model_name`;
    ``"hash"`` for tests and smoke runs).
    """

    def __init__(self, cfg, split: str, answer_vocab: AnswerVocab | None = None,
                 question_vocab: QuestionVocab | None = None, text_model: str | None = None,
                 progress: bool = True):
        self.cfg = cfg
        self.split = split_name(cfg, split)
        self.data = resolve_data_config(cfg)
        #: the annotation version read (``data.annotations`` with ``auto`` resolved)
        self.annotations = resolve_annotations(cfg.root, cfg.annotations)
        self.format: AnnotationFormat = get_format(cfg)
        self.questions: list = self.format.load_split(cfg, self.split)
        if not self.questions:
            raise AnnotationError(f"{self.format.split_path(cfg.root, self.split, self.annotations)}: split "
                                  f"{self.split!r} holds no questions; give a non-empty split")
        #: how questions are grouped into cells and table rows (type_index, metrics, evaluation)
        self.scheme: ReportScheme = self.format.scheme(cfg)
        self.answer_vocab = answer_vocab or self.format.answer_vocab(cfg)
        self.question_vocab = question_vocab or load_or_build_question_vocab(cfg, self.format)
        self.question_len = self.format.question_len(cfg)
        self.store = open_packed_store(self.data)
        self.text_model = text_model_name(cfg, text_model)
        self.text_cache: TextCache = load_or_build_text_cache(
            self.data.root, get_text_encoder(self.text_model, text_model_source(cfg, self.text_model)),
            [q.text for q in self.questions],
            object_texts(self.questions, self.scheme.label_texts), progress=progress,
            more_texts=self._other_split_texts, location=cache_location(cfg))
        self.with_q_tokens = cfg.text_encoder != "vocab"
        self._build_arrays()

    # ------------------------------------------------------------------ construction

    def _other_split_texts(self) -> tuple[list[str], list[str]]:
        """Texts of the other configured splits (so one text-cache build serves them all)."""
        others = []
        for role in SPLIT_ROLES:
            name = split_name(self.cfg, role)
            if name != self.split and self.format.split_path(self.cfg.root, name, self.annotations).is_file():
                others += self.format.load_split(self.cfg, name)
        return [q.text for q in others], object_texts(others, self.scheme.label_texts)

    def _build_arrays(self) -> None:
        qs, cache = self.questions, self.text_cache
        self.answer = np.asarray(self.answer_vocab.encode(qs), dtype=np.int64)
        self.type_index = np.fromiter((self.scheme.cell_index(q.cell) for q in qs), dtype=np.int64, count=len(qs))
        self.question_id = np.fromiter((q.question_id for q in qs), dtype=np.int64, count=len(qs))
        self.video_index = self.store.rows(q.video_id for q in qs)
        self.q_ids = np.array([self.question_vocab.encode(q.tokens, self.question_len, q.question_id)
                               for q in qs], dtype=np.int64).reshape(len(qs), self.question_len)
        self.q_row = cache.question_rows(q.text for q in qs)
        # multiple choice: the text-object rows of each question's options [N, C]
        self.option_rows = (np.stack([cache.object_rows(q.options) for q in qs])
                            if self.format.multiple_choice else None)

        # text objects: keyword rows then the two type-label rows; padding points at a zero row
        self.max_objects = max([self.format.min_objects] + [len(q.keywords) + 2 for q in qs])
        pad_row = len(cache.objects)
        self.object_table = np.concatenate([cache.objects, np.zeros((1, cache.dim), np.float32)])
        rows = np.full((len(qs), self.max_objects), pad_row, dtype=np.int64)
        kind = np.zeros((len(qs), self.max_objects), dtype=np.int64)
        for i, q in enumerate(qs):
            texts = [keyword_text(k) for k in q.keywords] + list(q.type_labels)
            rows[i, :len(texts)] = cache.object_rows(texts)
            kind[i, :len(q.keywords)] = KIND_KEYWORD
            kind[i, len(q.keywords):len(texts)] = KIND_TYPE
        self.object_rows, self.object_kind = rows, kind

        grid_name = self.data.visual_grid
        if grid_name:
            per_second = self.store.shape(grid_name)[2:]
            if len(per_second) != 2:
                raise FeatureError(f"grid feature {grid_name!r} has per-second shape {list(per_second)}; "
                                   "expected [G, Dv] or [C, H, W]")

    # ------------------------------------------------------------------ description

    def __len__(self) -> int:
        return len(self.questions)

    def __repr__(self) -> str:
        return (f"AVQADataset({self.data.root}, {self.annotations}, split={self.split!r}, {len(self)} questions, "
                f"features={self.data.features}, text={self.text_model})")

    @functools.cached_property
    def spec(self) -> DataSpec:
        """Dimensions and label tables for building models (see DataSpec)."""
        d = self.data
        grid = None
        if d.visual_grid:
            per_second = self.store.shape(d.visual_grid)[2:]
            grid = (per_second[0], per_second[1])
        cells = self.scheme.cells
        type_objects = self.text_cache.object_vectors([label for cell in cells for label in cell])
        return DataSpec(
            audio_dim=self.store.shape(d.audio)[-1], visual_dim=self.store.shape(d.visual)[-1],
            text_dim=self.text_cache.dim, segments=d.segments, visual_grid=grid,
            vocab_size=len(self.question_vocab), question_len=self.question_len,
            text_len=self.text_cache.max_len, num_answers=len(self.answer_vocab), num_cells=len(cells),
            max_objects=self.max_objects, text_encoder=self.cfg.text_encoder,
            type_object_features=torch.from_numpy(type_objects.reshape(len(cells), 2, -1).copy()),
            multiple_choice=self.format.multiple_choice,
        )

    # ------------------------------------------------------------------ batches

    def batch(self, indices: Sequence[int] | np.ndarray, features: Collection[str] | None = None,
              half: bool = False) -> dict[str, torch.Tensor]:
        """The batch dict of the given question indices (keys/shapes/dtypes: the contract).

        ``features`` names the deep features to load (a subset of ``audio``, ``visual``,
        ``visual_grid``; default: all the dataset has). Models declare theirs
        (:func:`mcdlib.models.feature_inputs`), so a question-only model reads no features and
        only AVST reads the grid: the loader stays far faster than any model. ``half`` leaves
        the features and ``q_tokens`` in float16 as stored (the training loop moves them to a
        GPU so and casts them to float32 there).
        """
        idx = np.asarray(indices, dtype=np.int64)
        vrows = self.video_index[idx]
        d = self.data
        wanted = set(FEATURE_KEYS if features is None else features)
        unknown = wanted - set(FEATURE_KEYS)
        if unknown:
            raise ValueError(f"unknown feature keys {sorted(unknown)}; choose from {FEATURE_KEYS}")
        out = {}
        if "audio" in wanted:
            out["audio"] = self.store.get(d.audio, vrows, half)
        if "visual" in wanted:
            out["visual"] = self.store.get(d.visual, vrows, half)
        out |= {
            "q_ids": self.q_ids[idx],
            "text_objects": self.object_table[self.object_rows[idx]],
            "text_objects_mask": self.object_kind[idx] != KIND_PAD,
            "text_objects_kind": self.object_kind[idx],
            "answer": self.answer[idx],
            "type_index": self.type_index[idx],
            "video_index": vrows,
            "question_id": self.question_id[idx],
        }
        if self.option_rows is not None:
            out["options"] = self.object_table[self.option_rows[idx]]
        if d.visual_grid and "visual_grid" in wanted:
            out["visual_grid"] = self.store.get(d.visual_grid, vrows, half)
        if self.with_q_tokens:
            qrows = self.q_row[idx]
            tokens = self.text_cache.tokens[qrows]
            out["q_tokens"] = tokens if half and tokens.dtype == np.float16 else to_float32(tokens)
            out["q_mask"] = self.text_cache.mask[qrows]
        return {k: torch.from_numpy(v) for k, v in out.items()}

    def batch_indices(self, batch_size: int, shuffle: bool = True, seed: int = 0, epoch: int = 0,
                      rank: int = 0, world_size: int = 1, drop_last: bool = False) -> list[np.ndarray]:
        """The question indices of each batch of one epoch on one rank: a pure function of the
        arguments (sharding rule in the module doc)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..world_size-1 (world_size={world_size})")
        n = len(self)
        order = (np.random.default_rng([seed, epoch]).permutation(n) if shuffle
                 else np.arange(n, dtype=np.int64))
        if world_size > 1:
            if drop_last:
                order = order[: (n // world_size) * world_size]
            else:
                total = math.ceil(n / world_size) * world_size
                order = np.resize(order, total)  # wraps around: the pad repeats the first indices
            order = order[rank::world_size]
        stop = len(order) - len(order) % batch_size if drop_last else len(order)
        return [order[i:i + batch_size] for i in range(0, stop, batch_size)]

    def iter_batches(self, batch_size: int, shuffle: bool = True, seed: int = 0, epoch: int = 0,
                     rank: int = 0, world_size: int = 1, drop_last: bool = False,
                     features: Collection[str] | None = None, half: bool = False) -> Iterator[dict[str, torch.Tensor]]:
        """Batch dicts of one epoch (order: :meth:`batch_indices`; ``features``, ``half``: :meth:`batch`)."""
        for idx in self.batch_indices(batch_size, shuffle, seed, epoch, rank, world_size, drop_last):
            yield self.batch(idx, features, half)

    def num_batches(self, batch_size: int, world_size: int = 1, drop_last: bool = False) -> int:
        """How many batches :meth:`iter_batches` yields per rank."""
        n = len(self)
        per_rank = n if world_size == 1 else (n // world_size if drop_last else math.ceil(n / world_size))
        return per_rank // batch_size if drop_last else math.ceil(per_rank / batch_size)


# --------------------------------------------------------------------------- toy data


def write_toy_dataset(root: str | Path, n_videos: int = 6, split_sizes: dict[str, int] | None = None,
                      features: dict[str, tuple[int, ...]] | None = None, seconds: int = 60,
                      annotations: str = "json", seed: int = 0) -> Path:
    """Write a small random dataset in the official layout (for tests, benchmarks, notebooks).

    ``<root>/<annotations>/avqa-<split>.json`` hold records with the 7 official keys built from
    random official templates, fillers and answers; ``<root>/feats/<name>/<video_id>.npy`` hold
    seeded random features of shape ``[seconds, ...]`` (default: vggish ``[60, 8]``, res18
    ``[60, 12]``). The content is noise: only the formats are real.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    split_sizes = split_sizes or {"train": 24, "val": 8, "test": 8}
    features = features or {"vggish": (seconds, 8), "res18": (seconds, 12)}
    video_ids = [f"{i:08d}" for i in range(n_videos)]
    qid = 0
    for split, size in split_sizes.items():
        records = []
        for _ in range(size):
            template = TEMPLATES[rng.integers(len(TEMPLATES))]
            values = [str(rng.choice(PLACEHOLDER_FILLERS[p])) for p in template.placeholders]
            records.append({
                "video_id": video_ids[rng.integers(n_videos)], "question_id": qid,
                "type": json.dumps([template.scenario, template.qtype]),
                "question_content": template.text, "templ_values": json.dumps(values),
                "question_deleted": 0, "anser": str(rng.choice(REFERENCE_ANSWERS)),
            })
            qid += 1
        path = split_path(root, split, annotations)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(records))
    for i, (name, shape) in enumerate(features.items()):
        write_random_features(root, name, video_ids, shape, seed=seed + i)
    return root
