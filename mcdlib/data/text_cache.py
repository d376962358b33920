"""Frozen text features, computed once per dataset and text encoder.

A frozen encoder gives the same features every epoch, so they are computed once and cached
under ``<dataset>/cache/text/<encoder>/`` (or where ``data.cache_dir`` says, or a per-user folder
when the dataset folder is read-only: :mod:`mcdlib.data.cache_dir`):

* question token features: float16 ``[N_questions, L, D]`` (memory-mapped) and a bool mask
  ``[N_questions, L]``, one row per unique question text; L is the longest question in tokens
  over the cached texts, capped at ``max_len_cap`` (32);
* pooled, L2-normalised vectors ``[N_objects, D]`` of every unique text-object string: the
  keywords (``templ_values`` with ``_`` → space, :func:`keyword_text`) and the 3 scenario and 5
  type labels (:func:`type_label_texts`); for AVQA the content words, the question types and
  relations, and the answer options (the ``options`` batch key);
* ``index.json``: encoder fingerprint, the texts in row order (the text → row index), L, D and
  a hash of the texts.

A cache built by another encoder fingerprint, or lacking some of the texts asked for, is stale:
it is rebuilt (over the union of its texts and the new ones, so alternating splits never
thrash) with a message. Arrays are written under hash-named files and the index replaced last,
so an interrupted build never leaves a half-valid cache.

>>> cache = load_or_build_text_cache(root, get_text_encoder("minilm"),      # doctest: +SKIP
...                                  [q.text for q in questions], object_texts(questions))
>>> cache.tokens[cache.question_rows(["Where is the performance?"])].shape  # doctest: +SKIP
(1, 12, 384)
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.data.cache_dir import CacheLocation, default_location
from mcdlib.data.templates import CELLS, SCENARIOS
from mcdlib.encoders.text import TextEncoder
from mcdlib.errors import FeatureError

CACHE_DIR = "cache"
INDEX_FILE = "index.json"
#: default cap on the question length L in tokens
MAX_LEN_CAP = 32
#: questions encoded per chunk (bounds memory: chunk x L x D float32)
ENCODE_CHUNK = 256
#: the 5 question types, in order of first appearance in the official cells
QUESTION_TYPES: tuple[str, ...] = tuple(dict.fromkeys(qtype for _, qtype in CELLS))


def keyword_text(keyword: str) -> str:
    """The text object of a ``templ_values`` filler: ``acoustic_guitar`` → ``acoustic guitar``."""
    return keyword.replace("_", " ")


def type_label_texts() -> list[str]:
    """The 3 scenario and 5 type labels (each a text object)."""
    return list(SCENARIOS) + list(QUESTION_TYPES)


def object_texts(questions: Iterable, labels: Iterable[str] | None = None) -> list[str]:
    """Every text-object string a set of questions needs: their keywords, then every type label
    (``labels``: a format's labels, default the MUSIC-AVQA :func:`type_label_texts`), then the
    answer options of multiple-choice questions (AVQA)."""
    questions = list(questions)
    keywords = dict.fromkeys(keyword_text(k) for q in questions for k in q.keywords)
    options = dict.fromkeys(o for q in questions for o in getattr(q, "options", ()))
    labels = type_label_texts() if labels is None else list(labels)
    return list(dict.fromkeys(list(keywords) + labels + list(options)))


def text_cache_dir(dataset_dir: str | Path, encoder_name: str) -> Path:
    """``<dataset>/cache/text/<encoder>``."""
    return Path(dataset_dir) / CACHE_DIR / "text" / encoder_name


def texts_hash(question_texts: Sequence[str], object_strings: Sequence[str], max_len_cap: int) -> str:
    """A short content hash of what a cache holds (texts in row order and the length cap)."""
    payload = json.dumps([list(question_texts), list(object_strings), max_len_cap], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class TextCache:
    """Cached text features of one dataset and encoder (see module doc)."""

    directory: Path
    fingerprint: str
    question_texts: list[str]
    object_strings: list[str]
    tokens: np.ndarray  # [Nq, L, D] float16 (memory-mapped)
    mask: np.ndarray  # [Nq, L] bool
    objects: np.ndarray  # [No, D] float32
    max_len_cap: int = MAX_LEN_CAP

    def __post_init__(self):
        self._question_row = {t: i for i, t in enumerate(self.question_texts)}
        self._object_row = {t: i for i, t in enumerate(self.object_strings)}

    @property
    def max_len(self) -> int:
        """L, the token length of the question features."""
        return int(self.tokens.shape[1])

    @property
    def dim(self) -> int:
        return int(self.objects.shape[1])

    def question_rows(self, texts: Iterable[str]) -> np.ndarray:
        """Rows of question texts (int64); a text not in the cache is a FeatureError."""
        return self._rows(self._question_row, texts, "question")

    def object_rows(self, texts: Iterable[str]) -> np.ndarray:
        """Rows of text-object strings (int64) in ``objects``."""
        return self._rows(self._object_row, texts, "text object")

    def object_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Pooled vectors ``[len(texts), D]`` float32 of text-object strings."""
        return self.objects[self.object_rows(texts)]

    def _rows(self, table: dict[str, int], texts: Iterable[str], what: str) -> np.ndarray:
        try:
            return np.fromiter((table[t] for t in texts), dtype=np.int64)
        except KeyError as exc:
            raise FeatureError(f"{what} {exc.args[0]!r} is not in the text cache {self.directory}; "
                               "rebuild it with load_or_build_text_cache over every text you use") from None


def _read_cache(directory: Path) -> TextCache | None:
    """The cache in ``directory``, or None when absent or unreadable (it is then rebuilt)."""
    try:
        index = json.loads((directory / INDEX_FILE).read_text())
        files = index["files"]
        return TextCache(
            directory=directory, fingerprint=index["fingerprint"],
            question_texts=list(index["question_texts"]), object_strings=list(index["object_texts"]),
            tokens=np.load(directory / files["tokens"], mmap_mode="r"),
            mask=np.load(directory / files["mask"]),
            objects=np.load(directory / files["objects"]),
            max_len_cap=int(index["max_len_cap"]),
        )
    except (OSError, KeyError, ValueError, TypeError):
        return None


def _write_cache(directory: Path, encoder: TextEncoder, question_texts: list[str],
                 object_strings: list[str], max_len_cap: int, progress: bool) -> TextCache:
    directory.mkdir(parents=True, exist_ok=True)
    key = texts_hash(question_texts, object_strings, max_len_cap)
    counts = encoder.token_counts(question_texts) if question_texts else np.ones(1, dtype=np.int64)
    max_len = int(min(max_len_cap, max(1, counts.max())))
    files = {"tokens": f"tokens-{key}.npy", "mask": f"mask-{key}.npy", "objects": f"objects-{key}.npy"}

    tokens = np.lib.format.open_memmap(directory / files["tokens"], mode="w+", dtype=np.float16,
                                       shape=(len(question_texts), max_len, encoder.dim))
    mask = np.zeros((len(question_texts), max_len), dtype=bool)
    with tqdm(total=len(question_texts), desc=f"encode questions ({encoder.name})", unit="text",
              disable=not progress or len(question_texts) < 2 * ENCODE_CHUNK, leave=False) as bar:
        for start in range(0, len(question_texts), ENCODE_CHUNK):
            chunk = question_texts[start:start + ENCODE_CHUNK]
            feats, m = encoder.encode_tokens(chunk, max_len, progress=False)
            tokens[start:start + len(chunk)] = feats
            mask[start:start + len(chunk)] = m
            bar.update(len(chunk))
    tokens.flush()
    del tokens
    np.save(directory / files["mask"], mask)
    np.save(directory / files["objects"], encoder.encode_pooled(object_strings, progress=progress))

    index = {"fingerprint": encoder.fingerprint, "hash": key, "max_len": max_len, "dim": encoder.dim,
             "max_len_cap": max_len_cap, "files": files,
             "question_texts": question_texts, "object_texts": object_strings}
    tmp = directory / f"{INDEX_FILE}.tmp{os.getpid()}"
    tmp.write_text(json.dumps(index, ensure_ascii=False))
    os.replace(tmp, directory / INDEX_FILE)
    for stale in directory.glob("*.npy"):  # arrays of earlier builds
        if stale.name not in files.values():
            stale.unlink(missing_ok=True)
    cache = _read_cache(directory)
    if cache is None:
        raise FeatureError(f"{directory}: the text cache just written cannot be read back; check the "
                           "disk (space, permissions) and delete the folder")
    return cache


def load_or_build_text_cache(dataset_dir: str | Path, encoder: TextEncoder, question_texts: Iterable[str],
                             object_strings: Iterable[str], max_len_cap: int = MAX_LEN_CAP,
                             progress: bool = True,
                             more_texts: Callable[[], tuple[Iterable[str], Iterable[str]]] | None = None,
                             location: CacheLocation | None = None) -> TextCache:
    """The dataset's text cache for ``encoder``, (re)built only when it lacks a requested text,
    was built by another encoder fingerprint or with another length cap.

    ``more_texts`` returns further (question texts, text objects) to include when a build is
    needed (e.g. the other splits of the dataset); it is not called when the cache is reused.
    ``location`` (:func:`mcdlib.data.cache_dir.cache_location`) says where caches are read and
    written (default ``<dataset>/cache``, or a per-user folder when the dataset is read-only).
    """
    location = location or default_location(dataset_dir)
    relative = Path("text") / encoder.name
    wanted_q = list(dict.fromkeys(question_texts))
    wanted_o = list(dict.fromkeys(object_strings))
    found = [c for c in map(_read_cache, location.candidates(relative)) if c is not None]
    for cache in found:
        if (cache.fingerprint == encoder.fingerprint and cache.max_len_cap == max_len_cap
                and all(t in cache._question_row for t in wanted_q)
                and all(t in cache._object_row for t in wanted_o)):
            return cache
    cache = found[-1] if found else None
    directory = location.write / relative
    reason = "no cache yet"
    if cache is not None:
        if cache.fingerprint != encoder.fingerprint:
            reason, cache = f"built by {cache.fingerprint!r}, not {encoder.fingerprint!r}", None
        elif cache.max_len_cap != max_len_cap:
            reason, cache = f"length cap {cache.max_len_cap} != {max_len_cap}", None
        else:
            new_q = [t for t in wanted_q if t not in cache._question_row]
            new_o = [t for t in wanted_o if t not in cache._object_row]
            if not new_q and not new_o:
                return cache
            reason = f"{len(new_q)} new question texts and {len(new_o)} new text objects"
            # keep what the cache held, so alternating subsets never rebuild again
            wanted_q = list(dict.fromkeys(cache.question_texts + wanted_q))
            wanted_o = list(dict.fromkeys(cache.object_strings + wanted_o))
    if reason != "no cache yet":
        print(f"text cache {directory} is stale ({reason}); rebuilding", file=sys.stderr)
    if more_texts is not None:
        extra_q, extra_o = more_texts()
        wanted_q = list(dict.fromkeys(wanted_q + list(extra_q)))
        wanted_o = list(dict.fromkeys(wanted_o + list(extra_o)))
    try:
        directory = location.target(relative / INDEX_FILE).parent
        return _write_cache(directory, encoder, sorted(wanted_q), sorted(wanted_o), max_len_cap, progress)
    except OSError as exc:
        raise FeatureError(f"{directory}: cannot write the text cache ({exc.strerror or exc}); set "
                           "data.cache_dir to a writable folder (--set data.cache_dir=DIR)") from None
