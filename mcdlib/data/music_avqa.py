"""The official MUSIC-AVQA annotation reader.

Reads both official versions (``json/`` original and ``json_update/`` corrected) and the
real/fake subsets into frozen :class:`Question` records::

    questions = load_split("data/music_avqa", "test", annotations="json_update")
    q = questions[0]
    q.cell      # ('Audio', 'Counting')
    q.tokens    # ('How', 'many', 'musical', 'instruments', 'were', 'heard', ...)  (reference)
    q.text      # 'How many musical instruments were heard throughout the video?'
    q.keywords  # ()  (templ_values)

A record (see docs/DATASETS.md) holds ``video_id``, ``question_id``, ``type`` (a
STRING holding the JSON list ``[scenario, type]``), ``question_content`` (the template),
``templ_values`` (a STRING holding a JSON list of fillers, possibly ``[]``),
``question_deleted`` and ``anser`` (sic). Questions are tokenised exactly as the reference
AVST code does (:func:`reference_tokens`). Duplicated question ids (the original version has
55 in test and 27 in val, with different answers) are announced with a
:class:`DuplicateQuestionWarning` and resolved by an explicit policy (``first``, ``last``,
``drop`` or ``error``; ``DataConfig.duplicates``).

Every malformed input raises :class:`~mcdlib.errors.AnnotationError` naming the file, the
record index and the question_id at fault. A ``video_id`` is joined into file names
(``feats/<name>/<video_id>.npy``), so one holding a path separator, ``..``, a leading dot or a
control character is refused here (:func:`mcdlib.utils.names.safe_name`).
"""

from __future__ import annotations

import ast
import json
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from mcdlib.data.templates import CELLS, QUESTION_MARKS, find_template, placeholders_of
from mcdlib.errors import AnnotationError, ConfigError
from mcdlib.utils.names import safe_name

#: keys every record must have (``question_deleted`` is optional: it is always 0)
REQUIRED_KEYS: tuple[str, ...] = ("video_id", "question_id", "type", "question_content", "templ_values")
#: the answer key as spelled in the official files, then an accepted correct spelling
ANSWER_KEYS: tuple[str, ...] = ("anser", "answer")
#: question length (in reference tokens) of the 33 official templates and of the reference code
MAX_QUESTION_TOKENS = 14
#: policies for duplicated question ids
DUPLICATE_POLICIES: tuple[str, ...] = ("first", "last", "drop", "error")
#: the annotation versions shipped by the official repository
ANNOTATION_VERSIONS: tuple[str, ...] = ("json", "json_update")


class DuplicateQuestionWarning(UserWarning):
    """An annotation file holds the same question_id more than once (original version)."""


@dataclass(frozen=True)
class Question:
    """One annotation record, parsed (the reader's output; see docs/ARCHITECTURE.md)."""

    question_id: int
    video_id: str
    scenario: str
    qtype: str
    template: str
    templ_values: tuple[str, ...]
    answer: str
    tokens: tuple[str, ...]
    text: str

    @property
    def cell(self) -> tuple[str, str]:
        """(scenario, qtype), one of :data:`mcdlib.data.templates.CELLS`."""
        return (self.scenario, self.qtype)

    @property
    def keywords(self) -> tuple[str, ...]:
        """MCD keyword text objects: the template fillers."""
        return self.templ_values

    @property
    def type_labels(self) -> tuple[str, str]:
        """MCD type text objects: the scenario and the type."""
        return (self.scenario, self.qtype)


# --------------------------------------------------------------------------- tokenisation


def reference_tokens(template: str, templ_values: Sequence[str]) -> tuple[str, ...]:
    """Tokenise a question exactly as the reference (AVST) code does.

    Strip, split on single spaces, drop the last character of the last token (the question
    mark, ASCII or full-width), then replace each token containing ``<`` by the next filler.
    Raises ValueError when there are fewer fillers than placeholder tokens.

    >>> reference_tokens("Is the <Object> louder than the <Object>?", ["piano", "cello"])
    ('Is', 'the', 'piano', 'louder', 'than', 'the', 'cello')
    """
    words = template.strip().split(" ")
    words[-1] = words[-1][:-1]
    fillers = iter(templ_values)
    out = []
    for word in words:
        if "<" in word:
            try:
                word = next(fillers)
            except StopIteration:
                raise ValueError(f"{len(templ_values)} templ_values for the placeholders of "
                                 f"{template!r}") from None
        out.append(word)
    return tuple(out)


def natural_text(template: str, templ_values: Sequence[str]) -> str:
    """The question as a sentence for pretrained text encoders: placeholders substituted, a
    single ASCII "?" at the end (full-width marks and trailing spaces removed).

    >>> natural_text("How many sounding <Object> in the video\\uff1f", ["violin"])
    'How many sounding violin in the video?'
    """
    text = template.strip()
    if text and text[-1] in QUESTION_MARKS:
        text = text[:-1].rstrip()
    fillers = iter(templ_values)
    for placeholder in placeholders_of(text):
        try:
            text = text.replace(placeholder, next(fillers), 1)
        except StopIteration:
            raise ValueError(f"{len(templ_values)} templ_values for the placeholders of "
                             f"{template!r}") from None
    return text + "?"


# --------------------------------------------------------------------------- reading


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """The raw records of an annotation file (a JSON list of objects), with clear errors for a
    missing, empty, truncated or non-JSON file and a top level that is not a list."""
    path = Path(path)
    if not path.is_file():
        hint = " (it is a folder: give a file such as json_update/avqa-test.json)" if path.is_dir() else ""
        raise AnnotationError(f"{path}: annotation file not found{hint}")
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{path}: not UTF-8 text ({exc}); give a JSON annotation file (MUSIC-AVQA "
                              "avqa-<split>.json or AVQA <split>_qa.json)") from None
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read the file ({exc.strerror})") from None
    if not text.strip():
        raise AnnotationError(f"{path}: the file is empty; expected a JSON list of question records")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = " (the file looks truncated: re-download or re-copy it)" if exc.pos >= len(text.rstrip()) else ""
        raise AnnotationError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg}{truncated}") from None
    if not isinstance(data, list):
        raise AnnotationError(f"{path}: the top-level JSON value is a {type(data).__name__}, expected a "
                              "list of question records (a MUSIC-AVQA avqa-<split>.json or AVQA <split>_qa.json file)")
    return data


def _parse_listish(value: Any) -> list:
    """A JSON list given as a list or as a string holding one (JSON, or a Python literal as the
    reference code's ``ast.literal_eval`` accepts)."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a string holding a JSON list, got {type(value).__name__} {value!r}")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ValueError(f"{value!r} is not a JSON list") from None
    if not isinstance(parsed, (list, tuple)):
        raise ValueError(f"{value!r} is not a JSON list")
    return list(parsed)


class _RecordParser:
    """Parses the records of one file; caches the few distinct ``type`` strings (fast path)."""

    def __init__(self, path: Path):
        self.path = path
        self._types: dict[str, tuple[str, str]] = {}

    def where(self, index: int, record: dict) -> str:
        qid = record.get("question_id") if isinstance(record, dict) else None
        return f"{self.path}: record {index}" + (f" (question_id {qid})" if qid is not None else "")

    def fail(self, index: int, record: dict, message: str) -> AnnotationError:
        return AnnotationError(f"{self.where(index, record)}: {message}")

    def cell(self, index: int, record: dict) -> tuple[str, str]:
        raw = record["type"]
        key = raw if isinstance(raw, str) else json.dumps(raw)
        cell = self._types.get(key)
        if cell is None:
            try:
                value = _parse_listish(raw)
            except ValueError as exc:
                raise self.fail(index, record, f"'type' must be a two-element list [scenario, type]: {exc}") from None
            if len(value) != 2 or not all(isinstance(v, str) for v in value):
                raise self.fail(index, record, f"'type' must be a two-element list [scenario, type], got {raw!r}")
            cell = (value[0], value[1])
            if cell not in CELLS:
                raise self.fail(index, record, f"'type' {list(cell)} is not a MUSIC-AVQA cell; valid cells: "
                                + ", ".join(f"[{s}, {t}]" for s, t in CELLS))
            self._types[key] = cell
        return cell

    def parse(self, index: int, record: Any) -> Question:
        if not isinstance(record, dict):
            raise AnnotationError(f"{self.path}: record {index} is a {type(record).__name__}, expected a JSON object")
        missing = [k for k in REQUIRED_KEYS if k not in record]
        answer_key = next((k for k in ANSWER_KEYS if k in record), None)
        if answer_key is None:
            missing.append("anser")
        if missing:
            raise self.fail(index, record, f"missing key(s) {', '.join(map(repr, missing))}; every record needs "
                            f"{', '.join(REQUIRED_KEYS)} and 'anser'")
        qid = record["question_id"]
        if isinstance(qid, bool) or not isinstance(qid, (int, str)) or not str(qid).strip().lstrip("-").isdigit():
            raise self.fail(index, record, f"question_id must be an integer, got {qid!r}")
        scenario, qtype = self.cell(index, record)
        template = record["question_content"]
        if not isinstance(template, str) or not template.strip():
            raise self.fail(index, record, f"question_content must be a non-empty string, got {template!r}")
        try:
            values = tuple(str(v) for v in _parse_listish(record["templ_values"]))
        except ValueError as exc:
            raise self.fail(index, record, f"templ_values is not parseable: {exc}") from None
        video_id = safe_name(str(record["video_id"]), what="video_id", where=self.where(index, record))
        try:
            return make_question(int(qid), video_id, template, values,
                                 str(record[answer_key]), cell=(scenario, qtype))
        except ValueError as exc:
            raise self.fail(index, record, f"fewer templ_values than placeholders: {exc}") from None


def make_question(question_id: int, video_id: str, template: str, templ_values: Sequence[str], answer: str,
                  cell: tuple[str, str] | None = None) -> Question:
    """Build a :class:`Question` from a template and its fillers (tokens and text derived as the
    reader does). ``cell`` defaults to the official template's cell; ValueError when it is not
    given and the template is not among the 33, or when fillers are missing.

    >>> make_question(7, "00000001", "Where is the <LL> instrument?", ["loudest"], "left").tokens
    ('Where', 'is', 'the', 'loudest', 'instrument')
    """
    if cell is None:
        official = find_template(template)
        if official is None:
            raise ValueError(f"{template!r} is not one of the 33 official templates; pass cell=(scenario, type)")
        cell = official.cell
    values = tuple(templ_values)
    return Question(question_id=int(question_id), video_id=str(video_id), scenario=cell[0], qtype=cell[1],
                    template=template, templ_values=values, answer=answer,
                    tokens=reference_tokens(template, values), text=natural_text(template, values))


def to_record(question: Question) -> dict[str, Any]:
    """The official record of a question (string-encoded ``type`` and ``templ_values``, ``anser``)."""
    return {
        "video_id": question.video_id,
        "question_id": question.question_id,
        "type": json.dumps([question.scenario, question.qtype]),
        "question_content": question.template,
        "templ_values": json.dumps(list(question.templ_values)),
        "question_deleted": 0,
        "anser": question.answer,
    }


def write_records(records: Iterable[dict[str, Any]], path: str | Path) -> Path:
    """Write raw records as an annotation file: a JSON list, UTF-8, one key per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(records), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def write_annotations(questions: Iterable[Question], path: str | Path) -> Path:
    """Write questions as an official annotation file (what :func:`read_annotations` reads back)."""
    return write_records((to_record(q) for q in questions), path)


def parse_records(records: Iterable[Any], path: str | Path = "<records>") -> list[Question]:
    """Parse raw records (as in a file) into :class:`Question` objects, keeping duplicates."""
    parser = _RecordParser(Path(path))
    return [parser.parse(i, r) for i, r in enumerate(records)]


def find_duplicates(questions: Sequence[Question]) -> dict[int, list[Question]]:
    """question_id → every record holding it, for ids that occur more than once (file order)."""
    by_id: dict[int, list[Question]] = defaultdict(list)
    for q in questions:
        by_id[q.question_id].append(q)
    return {qid: qs for qid, qs in by_id.items() if len(qs) > 1}


def resolve_duplicates(questions: Sequence[Question], policy: str = "first",
                       path: str | Path = "<records>") -> list[Question]:
    """Apply a duplicate policy: keep the ``first`` or ``last`` record of each duplicated id,
    ``drop`` every record of such ids, or raise (``error``). File order is kept."""
    if policy not in DUPLICATE_POLICIES:
        raise AnnotationError(f"unknown duplicates policy {policy!r}; choose one of {', '.join(DUPLICATE_POLICIES)}")
    duplicates = find_duplicates(questions)
    if not duplicates:
        return list(questions)
    if policy == "error":
        raise AnnotationError(f"{path}: {len(duplicates)} question ids occur more than once "
                              f"({describe_ids(duplicates)}); choose data.duplicates=first, last or drop, "
                              "or use the corrected annotations (json_update/)")
    if policy == "drop":
        return [q for q in questions if q.question_id not in duplicates]
    keep = {qid: id(qs[0] if policy == "first" else qs[-1]) for qid, qs in duplicates.items()}
    return [q for q in questions if q.question_id not in keep or keep[q.question_id] == id(q)]


def describe_ids(ids: Iterable[Any], limit: int = 5) -> str:
    """``"12, 48, 55 and 52 more"``: a few ids for messages."""
    ids = list(ids)
    shown = ", ".join(str(i) for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def duplicate_message(path: str | Path, duplicates: dict[int, list[Question]], policy: str,
                      corrected_version: bool = True) -> str:
    """The warning text for duplicated ids (shared by the readers and ``mcd data check``;
    ``corrected_version``: mention MUSIC-AVQA's corrected annotations, which have none)."""
    differing = sum(1 for qs in duplicates.values() if len({q.answer for q in qs}) > 1)
    return (f"{path}: {len(duplicates)} question ids occur more than once ({describe_ids(duplicates)}; "
            f"{differing} with different answers); resolved with duplicates={policy!r}"
            + (" (the corrected json_update/ annotations have none)" if corrected_version else ""))


def read_with_duplicate_policy(path: str | Path, parse, duplicates: str = "first",
                               corrected_version: bool = True) -> list:
    """Read a file's records, ``parse(records, path)`` them and apply the duplicate policy: the
    steps every annotation reader shares (an empty file is an error; duplicated ids are announced
    with a :class:`DuplicateQuestionWarning` and resolved, or an error with ``"error"``)."""
    if duplicates not in DUPLICATE_POLICIES:
        raise AnnotationError(f"unknown duplicates policy {duplicates!r}; choose one of {', '.join(DUPLICATE_POLICIES)}")
    questions = parse(read_records(path), path)
    if not questions:
        raise AnnotationError(f"{path}: the file holds no question records")
    found = find_duplicates(questions)
    if found:
        if duplicates != "error":
            warnings.warn(duplicate_message(path, found, duplicates, corrected_version), DuplicateQuestionWarning,
                          stacklevel=3)
        questions = resolve_duplicates(questions, duplicates, path)
    return questions


def read_annotations(path: str | Path, duplicates: str = "first") -> list[Question]:
    """Read and validate one official annotation file into :class:`Question` records.

    Duplicated question ids are announced with a :class:`DuplicateQuestionWarning` and resolved
    with ``duplicates`` (``first`` | ``last`` | ``drop`` | ``error``).
    """
    return read_with_duplicate_policy(path, parse_records, duplicates)


#: the order in which ``annotations="auto"`` looks for a version: the corrected one first
AUTO_PREFERENCE: tuple[str, ...] = ("json_update", "json")


def resolve_annotations(dataset_dir: str | Path, annotations: str = "auto") -> str:
    """The annotation folder ``annotations`` names: itself, or for ``"auto"`` the corrected
    ``json_update`` when ``<dataset_dir>/json_update/`` holds any ``avqa-*.json`` (or AVQA
    ``*_qa.json``), else ``json``.

    Every split of a run reads the same version (a dataset with both folders always gives
    ``json_update``, the version papers since 2023 report; the music scenes have only ``json``).
    """
    if annotations != "auto":
        return annotations
    for version in AUTO_PREFERENCE:
        folder = Path(dataset_dir) / version
        if any(folder.glob("avqa-*.json")) or any(folder.glob("*_qa.json")):
            return version
    return "json"


def annotation_version_of(path: str | Path) -> str:
    """The version of an annotation file from its folder (``json_update``/``json``), else
    ``"unknown (<file name>)"``: a results table must say which version it used."""
    path = Path(path)
    return path.parent.name if path.parent.name in ANNOTATION_VERSIONS else f"unknown ({path.name})"


def split_path(dataset_dir: str | Path, split: str, annotations: str = "json") -> Path:
    """``<dataset_dir>/<annotations>/avqa-<split>.json`` (``annotations="auto"`` resolved first; both
    names checked: plain file names)."""
    safe_name(annotations, what="annotation folder name", error=ConfigError)
    safe_name(split, what="split name", error=ConfigError)
    return Path(dataset_dir) / resolve_annotations(dataset_dir, annotations) / f"avqa-{split}.json"


def load_split(dataset_dir: str | Path, split: str, annotations: str = "json",
               duplicates: str = "first") -> list[Question]:
    """Read ``<dataset_dir>/<annotations>/avqa-<split>.json`` (e.g. split ``test``, ``val_real``;
    ``annotations="auto"``: :func:`resolve_annotations`)."""
    path = split_path(dataset_dir, split, annotations)
    if not path.is_file():
        folder = path.parent
        available = sorted(p.name for p in folder.glob("avqa-*.json")) if folder.is_dir() else []
        hint = (f"; {folder} holds {', '.join(available)}" if available
                else f"; {folder} does not exist or holds no avqa-*.json (data.annotations is auto, json or "
                      "json_update)")
        raise AnnotationError(f"{path}: annotation file for split {split!r} not found{hint}")
    return read_annotations(path, duplicates=duplicates)
