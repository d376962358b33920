"""Answer and question vocabularies of MUSIC-AVQA.

* :class:`AnswerVocab`: the 42 answers, in the index order of the reference code (first
  appearance in the original train file) or sorted. An answer outside the vocabulary is a
  :class:`~mcdlib.errors.VocabularyError` naming it, or maps to an explicit ``<unk>`` class
  (appended last) when ``unknown="unknown"``.
* :class:`QuestionVocab`: the word vocabulary of the reference LSTM question encoder,
  ``<pad>`` = 0 then words in first-appearance order over the questions it is built from
  (93 words over the official train split, and over val+test too).

>>> vocab = AnswerVocab()
>>> len(vocab), vocab.index("two"), vocab.answers[-1]
(42, 0, 'suona')
>>> AnswerVocab(unknown="unknown").index("banana")
42

Both save to / load from JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from mcdlib.errors import VocabularyError

#: the 42 answers in the index order of the reference code
REFERENCE_ANSWERS: tuple[str, ...] = (
    "two", "cello", "congas", "zero", "no", "pipa", "six", "yes", "one", "four", "three", "seven",
    "five", "ukulele", "right", "piano", "left", "accordion", "clarinet", "guzheng", "more than ten",
    "nine", "indoor", "saxophone", "drum", "violin", "middle", "outdoor", "bagpipe", "bassoon",
    "acoustic_guitar", "banjo", "electric_bass", "ten", "eight", "flute", "simultaneously", "trumpet",
    "erhu", "xylophone", "tuba", "suona",
)
ANSWER_ORDERS: tuple[str, ...] = ("reference", "sorted")
UNKNOWN_POLICIES: tuple[str, ...] = ("error", "unknown")
UNKNOWN_ANSWER = "<unk>"
PAD = "<pad>"


def _read_json(path: str | Path, what: str) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VocabularyError(f"{path}: {what} file not found") from None
    except json.JSONDecodeError as exc:
        raise VocabularyError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno} "
                              f"({exc.msg}); save the {what} again") from None
    if not isinstance(data, dict):
        raise VocabularyError(f"{path}: expected a JSON object describing a {what}")
    return data


def _write_json(path: str | Path, data: dict) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


class AnswerVocab:
    """The answer classes: ``answers[i]`` is class ``i``.

    ``order``: ``reference`` (the reference code's index order) or ``sorted`` (alphabetical);
    ``unknown``: ``error`` (an answer outside the vocabulary raises) or ``unknown`` (it maps to
    the ``<unk>`` class appended last). ``answers`` may replace the 42 official answers (in the
    given order, or sorted when ``order="sorted"``).
    """

    def __init__(self, order: str = "reference", unknown: str = "error",
                 answers: Sequence[str] | None = None):
        if order not in ANSWER_ORDERS:
            raise VocabularyError(f"unknown answer order {order!r}; choose one of {', '.join(ANSWER_ORDERS)}")
        if unknown not in UNKNOWN_POLICIES:
            raise VocabularyError(f"unknown answers policy {unknown!r}; choose one of {', '.join(UNKNOWN_POLICIES)}")
        base = list(REFERENCE_ANSWERS if answers is None else answers)
        if len(set(base)) != len(base):
            raise VocabularyError(f"the answer list holds duplicates: {sorted({a for a in base if base.count(a) > 1})}")
        if UNKNOWN_ANSWER in base:
            raise VocabularyError(f"{UNKNOWN_ANSWER!r} is reserved for unknown='unknown'; remove it from the answers")
        self.order = order
        self.unknown = unknown
        self.known: list[str] = sorted(base) if order == "sorted" else base
        self.answers: list[str] = self.known + ([UNKNOWN_ANSWER] if unknown == "unknown" else [])
        self._index = {a: i for i, a in enumerate(self.answers)}

    def __len__(self) -> int:
        return len(self.answers)

    def __contains__(self, answer: object) -> bool:
        """True for the known answers (never for ``<unk>`` nor an answer mapped to it)."""
        return answer in self._index and answer != UNKNOWN_ANSWER

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnswerVocab) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"AnswerVocab({len(self)} answers, order={self.order!r}, unknown={self.unknown!r})"

    def index(self, answer: str, question_id: int | str | None = None) -> int:
        """The class index of ``answer``; outside the vocabulary: VocabularyError naming the
        answer (and the question) or the ``<unk>`` index."""
        i = self._index.get(answer)
        if i is not None and answer != UNKNOWN_ANSWER:
            return i
        if self.unknown == "unknown":
            return len(self.answers) - 1
        where = f" (question_id {question_id})" if question_id is not None else ""
        raise VocabularyError(f"answer {answer!r}{where} is not among the {len(self.known)} known answers; "
                              "fix the annotation, or set data.unknown_answers=unknown to map it to "
                              f"an explicit {UNKNOWN_ANSWER} class")

    def encode(self, questions: Iterable[Any]) -> list[int]:
        """Answer indices of :class:`~mcdlib.data.music_avqa.Question` records (errors name the id)."""
        return [self.index(q.answer, q.question_id) for q in questions]

    def answer(self, index: int) -> str:
        """The answer string of a class index."""
        if not 0 <= int(index) < len(self.answers):
            raise VocabularyError(f"answer index {index} is outside 0..{len(self.answers) - 1}")
        return self.answers[int(index)]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "answers", "order": self.order, "unknown": self.unknown, "answers": self.known}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AnswerVocab":
        if data.get("kind") != "answers" or not isinstance(data.get("answers"), list):
            raise VocabularyError("not an answer vocabulary (expected kind='answers' and an 'answers' list)")
        # the stored list is already in its order (sorting a sorted list changes nothing)
        return cls(order=data.get("order", "reference"), unknown=data.get("unknown", "error"),
                   answers=data["answers"])

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON."""
        return _write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "AnswerVocab":
        data = _read_json(path, "answer vocabulary")
        try:
            return cls.from_dict(data)
        except VocabularyError as exc:
            raise VocabularyError(f"{path}: {exc}") from None


@dataclass
class QuestionVocab:
    """Word vocabulary of the reference question encoder: ``words[0]`` is ``<pad>``."""

    words: list[str] = field(default_factory=lambda: [PAD])

    def __post_init__(self):
        if not self.words or self.words[0] != PAD:
            raise VocabularyError(f"a question vocabulary starts with {PAD!r} (index 0)")
        if len(set(self.words)) != len(self.words):
            raise VocabularyError("the question vocabulary holds duplicated words")
        self._index = {w: i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, questions: Iterable[Any]) -> "QuestionVocab":
        """``<pad>`` then every word in order of first appearance over ``questions``
        (:class:`~mcdlib.data.music_avqa.Question` records or token sequences), as the
        reference code builds it (over train)."""
        words = [PAD]
        seen = {PAD}
        for q in questions:
            for word in getattr(q, "tokens", q):
                if word not in seen:
                    seen.add(word)
                    words.append(word)
        return cls(words)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def index(self, word: str) -> int:
        try:
            return self._index[word]
        except KeyError:
            raise VocabularyError(f"word {word!r} is not in the {len(self)}-word question vocabulary; "
                                  "build the vocabulary over the questions that contain it") from None

    def encode(self, tokens: Sequence[str], max_len: int = 14, question_id: int | None = None) -> list[int]:
        """Word ids padded with ``<pad>`` (0) to ``max_len``; a longer question or an unknown word
        is a VocabularyError naming the question."""
        where = f"question_id {question_id}: " if question_id is not None else ""
        if len(tokens) > max_len:
            raise VocabularyError(f"{where}{len(tokens)} tokens {list(tokens)} exceed max_len {max_len}; "
                                  "raise data.max_question_tokens")
        try:
            ids = [self._index[w] for w in tokens]
        except KeyError as exc:
            raise VocabularyError(f"{where}word {exc.args[0]!r} is not in the {len(self)}-word question "
                                  "vocabulary; build the vocabulary over the questions that contain it") from None
        return ids + [0] * (max_len - len(ids))

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Words of non-padding ids."""
        return [self.words[int(i)] for i in ids if int(i) != 0]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "question_words", "words": list(self.words)}

    def save(self, path: str | Path) -> Path:
        """Write the vocabulary as JSON."""
        return _write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "QuestionVocab":
        data = _read_json(path, "question vocabulary")
        if data.get("kind") != "question_words" or not isinstance(data.get("words"), list):
            raise VocabularyError(f"{path}: not a question vocabulary (expected kind='question_words' and a "
                                  "'words' list)")
        return cls(list(data["words"]))
