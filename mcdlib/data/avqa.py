"""The AVQA reader (Yang et al., ACM MM 2022): free-form questions with four answer options.

AVQA ships ``train_qa.json`` and ``val_qa.json`` (no test split is released; papers report val).
Each file is one JSON list of records::

    {"id": 183, "video_name": "-HG3Omg_89c_000030", "video_id": 341,
     "question_text": "What is the main source of sound in the video?",
     "multi_choice": ["dog", "car", "man", "guitar"], "answer": 3,
     "question_relation": "Both", "question_type": "Which"}

mcdlib reads them into frozen :class:`AvqaQuestion` records (the counterpart of the MUSIC-AVQA
:class:`~mcdlib.data.music_avqa.Question`), laid out as ``<dataset>/<annotations>/<split>_qa.json``::

    questions = load_avqa_split("data/avqa", "val")
    q = questions[0]
    q.options, q.answer_index, q.answer      # ('dog', 'car', 'man', 'guitar'), 3, 'guitar'
    q.keywords                               # ('main', 'source', 'sound')   content words
    q.type_labels                            # ('Which', 'Both')             question type, relation

``video_name`` names a video's feature files (``feats/<name>/<video_name>.npy``, the clip
``<video_name>.mp4``), so it is checked as a file name; the integer ``video_id`` is kept
(``video_number``) because the released HDF5 features are indexed by it. Every malformed input
raises :class:`~mcdlib.errors.AnnotationError` naming the file, the record index, the id at
fault and the fix. Text objects (MCD): the keywords are the question's content words
(:func:`content_words`: the words minus :data:`STOPWORDS`, a CHOICE of mcdlib), the type
labels are ``question_type`` and ``question_relation``.
"""

from __future__ import annotations

import difflib
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from mcdlib.data.music_avqa import (DuplicateQuestionWarning, read_records, read_with_duplicate_policy,
                                    resolve_annotations, write_records)
from mcdlib.data.report_scheme import OVERALL, ReportRow, ReportScheme
from mcdlib.errors import AnnotationError, ConfigError
from mcdlib.utils.names import name_problem, safe_name

#: the eight AVQA question types, in the order of the dataset's paper and reference code
QUESTION_TYPES: tuple[str, ...] = ("Which", "Come From", "Happening", "Where", "Why", "Before Next",
                                   "When", "Used For")
#: keys every record must have
REQUIRED_KEYS: tuple[str, ...] = ("id", "video_name", "video_id", "question_text", "multi_choice", "answer",
                                  "question_relation", "question_type")
#: answer options per question
NUM_OPTIONS = 4
#: the file of a split: ``<annotations>/<split>_qa.json``
SPLIT_SUFFIX = "_qa.json"
#: the splits AVQA releases (papers report val)
RELEASED_SPLITS: tuple[str, ...] = ("train", "val")

#: function words left out of the keywords (CHOICE): articles, pronouns, auxiliaries,
#: prepositions, conjunctions, question words and the words every question repeats
STOPWORDS: frozenset[str] = frozenset("""
a an the this that these those it its it's they them their there here he she his her him we you i me my our your
is are was were be been being am do does did doing done has have had having can could will would shall should may
might must of in on at to from by with without for about into onto over under after before during while as than
then so and or but not no nor if because what which who whom whose where when why how whats what's
video videos clip clips picture pictures scene
""".split())

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def question_tokens(text: str) -> tuple[str, ...]:
    """Lower-cased words of a question (punctuation dropped): the LSTM encoder's tokens.

    >>> question_tokens("What's making the sound in the video?")
    ("what's", 'making', 'the', 'sound', 'in', 'the', 'video')
    """
    return tuple(_WORD.findall(text.lower()))


def content_words(tokens: Sequence[str]) -> tuple[str, ...]:
    """The keywords of a question: its tokens minus :data:`STOPWORDS`, each once, in order.

    >>> content_words(question_tokens("Which instrument is played on the left of the stage?"))
    ('instrument', 'played', 'left', 'stage')
    """
    return tuple(dict.fromkeys(t for t in tokens if t not in STOPWORDS and not t.isdigit()))


@dataclass(frozen=True)
class AvqaQuestion:
    """One AVQA record, parsed (see the module doc)."""

    question_id: int  # the record's "id"
    video_id: str  # the record's "video_name": names the feature files
    video_number: int  # the record's "video_id": the key of the released HDF5 features
    text: str  # question_text, stripped
    options: tuple[str, ...]  # multi_choice
    answer_index: int  # answer: index into options
    qtype: str  # question_type, one of QUESTION_TYPES
    relation: str  # question_relation
    tokens: tuple[str, ...]
    keywords: tuple[str, ...]

    @property
    def answer(self) -> str:
        """The correct option's text."""
        return self.options[self.answer_index]

    @property
    def cell(self) -> tuple[str, str]:
        """(question type, relation): the finest reporting group (see :func:`avqa_scheme`)."""
        return (self.qtype, self.relation)

    @property
    def type_labels(self) -> tuple[str, str]:
        """MCD type text objects: the question type and the relation."""
        return (self.qtype, self.relation)


def make_avqa_question(question_id: int, video_name: str, video_number: int, text: str,
                       options: Sequence[str], answer_index: int, qtype: str, relation: str) -> AvqaQuestion:
    """An :class:`AvqaQuestion` with tokens and keywords derived as the reader does (no checks)."""
    text = text.strip()
    tokens = question_tokens(text)
    return AvqaQuestion(int(question_id), str(video_name), int(video_number), text, tuple(options),
                        int(answer_index), qtype, relation, tokens, content_words(tokens))


# --------------------------------------------------------------------------- reading


def _is_int(value: Any) -> bool:
    return not isinstance(value, bool) and (isinstance(value, int)
                                            or (isinstance(value, str) and value.strip().isdigit()))


class _AvqaParser:
    def __init__(self, path: Path):
        self.path = path

    def fail(self, index: int, record: Any, message: str) -> AnnotationError:
        rid = record.get("id") if isinstance(record, dict) else None
        where = f"{self.path}: record {index}" + (f" (id {rid})" if rid is not None else "")
        return AnnotationError(f"{where}: {message}")

    def parse(self, index: int, record: Any) -> AvqaQuestion:
        if not isinstance(record, dict):
            raise AnnotationError(f"{self.path}: record {index} is a {type(record).__name__}, expected a JSON "
                                  "object with the AVQA keys " + ", ".join(REQUIRED_KEYS))
        missing = [k for k in REQUIRED_KEYS if k not in record]
        if missing:
            hint = (" (this looks like a MUSIC-AVQA record: read it with mcdlib.data.music_avqa)"
                    if "question_content" in record else "")
            raise self.fail(index, record, f"missing key(s) {', '.join(map(repr, missing))}; every AVQA record "
                            f"needs {', '.join(REQUIRED_KEYS)}{hint}")
        for key in ("id", "video_id"):
            if not _is_int(record[key]):
                raise self.fail(index, record, f"{key!r} must be an integer, got {record[key]!r}")
        name = record["video_name"]
        problem = name_problem(name) if isinstance(name, str) else f"is a {type(name).__name__}, not a string"
        if problem:
            raise self.fail(index, record, f"video_name {name!r} {problem}; it names the video's feature files "
                            "(feats/<feature>/<video_name>.npy) and must be a plain file name such as "
                            "'-HG3Omg_89c_000030'")
        text = record["question_text"]
        if not isinstance(text, str) or not text.strip():
            raise self.fail(index, record, f"question_text must be a non-empty string, got {text!r}")
        options = record["multi_choice"]
        if (not isinstance(options, list) or len(options) != NUM_OPTIONS
                or not all(isinstance(o, str) and o.strip() for o in options)):
            raise self.fail(index, record, f"multi_choice must be a list of {NUM_OPTIONS} non-empty strings, "
                            f"got {options!r}")
        answer = record["answer"]
        if not _is_int(answer) or not 0 <= int(answer) < NUM_OPTIONS:
            raise self.fail(index, record, f"answer must be the index (0-{NUM_OPTIONS - 1}) of the correct option "
                            f"in multi_choice, got {answer!r}")
        qtype = record["question_type"]
        if qtype not in QUESTION_TYPES:
            close = difflib.get_close_matches(str(qtype), QUESTION_TYPES, n=1, cutoff=0.6)
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.fail(index, record, f"question_type {qtype!r} is not an AVQA question type{suggestion}; "
                            f"valid types: {', '.join(QUESTION_TYPES)}")
        relation = record["question_relation"]
        if not isinstance(relation, str) or not relation.strip():
            raise self.fail(index, record, f"question_relation must be a non-empty string, got {relation!r}")
        return make_avqa_question(int(record["id"]), name, int(record["video_id"]), text,
                                  [o.strip() for o in options], int(answer), qtype, relation.strip())


def parse_avqa_records(records: Iterable[Any], path: str | Path = "<records>") -> list[AvqaQuestion]:
    """Parse raw AVQA records (as in a file), duplicates kept."""
    parser = _AvqaParser(Path(path))
    return [parser.parse(i, r) for i, r in enumerate(records)]


def read_avqa_annotations(path: str | Path, duplicates: str = "first") -> list[AvqaQuestion]:
    """Read and validate one AVQA annotation file (``train_qa.json``, ``val_qa.json``).

    Duplicated ids are announced with a :class:`DuplicateQuestionWarning` and resolved with
    ``duplicates`` (``first`` | ``last`` | ``drop`` | ``error``), as for MUSIC-AVQA.
    """
    return read_with_duplicate_policy(path, parse_avqa_records, duplicates, corrected_version=False)


@lru_cache(maxsize=16)
def _cached_read(path: str, mtime_ns: int, size: int, duplicates: str) -> tuple[AvqaQuestion, ...]:
    with warnings.catch_warnings():
        if duplicates != "error":
            warnings.simplefilter("ignore", DuplicateQuestionWarning)
        return tuple(read_avqa_annotations(path, duplicates))


def read_avqa_cached(path: str | Path, duplicates: str = "first") -> list[AvqaQuestion]:
    """:func:`read_avqa_annotations`, parsed once per process for an unchanged file (the dataset
    reads every split file to fix the question length, the vocabulary and the relations)."""
    path = Path(path)
    stat = path.stat()
    return list(_cached_read(str(path.resolve()), stat.st_mtime_ns, stat.st_size, duplicates))


def avqa_split_path(dataset_dir: str | Path, split: str, annotations: str = "json") -> Path:
    """``<dataset_dir>/<annotations>/<split>_qa.json`` (``annotations="auto"`` resolved first; both
    names checked: plain file names)."""
    safe_name(annotations, what="annotation folder name", error=ConfigError)
    safe_name(split, what="split name", error=ConfigError)
    return Path(dataset_dir) / resolve_annotations(dataset_dir, annotations) / f"{split}{SPLIT_SUFFIX}"


def avqa_split_files(dataset_dir: str | Path, annotations: str = "json") -> dict[str, Path]:
    """split name → file, for every ``*_qa.json`` of the annotation folder (sorted by name)."""
    folder = Path(dataset_dir) / resolve_annotations(dataset_dir, annotations)
    return {p.name[:-len(SPLIT_SUFFIX)]: p for p in sorted(folder.glob(f"*{SPLIT_SUFFIX}"))}


def load_avqa_split(dataset_dir: str | Path, split: str, annotations: str = "json",
                    duplicates: str = "first") -> list[AvqaQuestion]:
    """Read ``<dataset_dir>/<annotations>/<split>_qa.json`` (AnnotationError with a hint when absent)."""
    path = avqa_split_path(dataset_dir, split, annotations)
    if not path.is_file():
        available = sorted(avqa_split_files(dataset_dir, annotations))
        hint = (f"; {path.parent} holds the splits {', '.join(available)}" if available
                else f"; {path.parent} holds no *{SPLIT_SUFFIX} file")
        if split not in RELEASED_SPLITS:
            hint += (". AVQA releases only train and val and papers report val: evaluate with --split val "
                     "(or set data.test_split=val)")
        raise AnnotationError(f"{path}: AVQA annotation file for split {split!r} not found{hint}")
    return read_avqa_cached(path, duplicates)


# --------------------------------------------------------------------------- writing


def to_avqa_record(question: AvqaQuestion) -> dict[str, Any]:
    """The AVQA record of a question (the 8 keys, in the order of the released files)."""
    return {"id": question.question_id, "video_name": question.video_id, "video_id": question.video_number,
            "question_text": question.text, "multi_choice": list(question.options),
            "answer": question.answer_index, "question_relation": question.relation,
            "question_type": question.qtype}


def write_avqa_annotations(questions: Iterable[AvqaQuestion], path: str | Path) -> Path:
    """Write questions as an AVQA annotation file (what :func:`read_avqa_annotations` reads back)."""
    return write_records((to_avqa_record(q) for q in questions), path)


def looks_like_avqa(records: Sequence[Any]) -> bool:
    """Whether raw records are AVQA's (the first record has ``multi_choice``), not MUSIC-AVQA's."""
    return bool(records) and isinstance(records[0], dict) and "multi_choice" in records[0]


# --------------------------------------------------------------------------- reporting groups


def avqa_scheme(relations: Iterable[str]) -> ReportScheme:
    """The AVQA cells (every question type x every relation given, types in
    :data:`QUESTION_TYPES` order, relations sorted) and rows: one per question type, one per
    relation (``relation: <name>``) and Overall."""
    relations = sorted(set(relations))
    if not relations:
        raise AnnotationError("an AVQA report needs at least one question_relation")
    cells = tuple((t, r) for t in QUESTION_TYPES for r in relations)
    rows = [ReportRow(t, tuple(i for i, c in enumerate(cells) if c[0] == t), "type") for t in QUESTION_TYPES]
    rows += [ReportRow(f"relation: {r}", tuple(i for i, c in enumerate(cells) if c[1] == r), "relation", key=r)
             for r in relations]
    rows.append(ReportRow(OVERALL, tuple(range(len(cells))), "overall"))
    return ReportScheme("AVQA", cells, tuple(rows))


def scheme_of(questions: Iterable[AvqaQuestion]) -> ReportScheme:
    """The :func:`avqa_scheme` of the relations some questions use."""
    return avqa_scheme({q.relation for q in questions})


class OptionVocab:
    """The "answer vocabulary" of a multiple-choice dataset: option positions ``0`` .. ``C-1``.

    Logits are scores of a question's own options, so a class index is an option index;
    predictions files hold it as an integer (the AVQA ``answer`` convention).
    """

    def __init__(self, num_options: int = NUM_OPTIONS):
        self.answers = [str(i) for i in range(num_options)]
        self.known = list(self.answers)

    def __len__(self) -> int:
        return len(self.answers)

    def __repr__(self) -> str:
        return f"OptionVocab({len(self)} options)"

    def encode(self, questions: Iterable[AvqaQuestion]) -> list[int]:
        return [q.answer_index for q in questions]
