"""``mcd data check``: validate an annotation file or a whole dataset folder.

:func:`check_path` takes an annotation file (``avqa-<split>.json``) or a dataset folder
holding ``json/`` and/or ``json_update/`` (and optionally ``feats/``) and returns a
:class:`DataCheckReport`: record counts, the per-cell table, duplicated question ids
(warnings: the reader resolves them by policy), and the problems that make a dataset invalid:
answers outside the vocabulary, templates not among the 33 official ones, a template filed
under another cell, more fillers than placeholders, questions longer than the reference
encoder's 14 tokens, feature problems (:func:`mcdlib.data.features.check_feature_folder`) and,
when the dataset has one, packed-store problems (:func:`mcdlib.data.store.check_packed_store`:
a corrupt index, truncated or reshaped arrays, NaN/Inf, missing videos, rows or sources changed
since packing).

AVQA files (``<split>_qa.json``, multiple choice) get their own counts (per question type, per
relation, per position of the correct option) and checks (:class:`AvqaFileCheck`: duplicated
ids, options repeated within a question).

An unreadable file raises :class:`~mcdlib.errors.AnnotationError` (the CLI exits 2);
``report.ok`` is False when problems were found (the CLI exits 1).
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from tqdm.auto import tqdm

from mcdlib.config import DataConfig
from mcdlib.data import avqa
from mcdlib.data.music_avqa import (
    ANNOTATION_VERSIONS, MAX_QUESTION_TOKENS, DUPLICATE_POLICIES, Question, describe_ids,
    duplicate_message, find_duplicates, parse_records, read_records,
)
from mcdlib.data.store import check_packed_store, packed_dir
from mcdlib.data.templates import CELLS, find_template, placeholders_of
from mcdlib.data.vocab import AnswerVocab
from mcdlib.errors import AnnotationError
from mcdlib.evaluation import REPORT_ROWS

@dataclass
class FileCheck:
    """What one annotation file holds and what is wrong with it."""

    path: str
    records: int
    cell_counts: list[int]  # per cell, CELLS order, duplicates included
    duplicates: dict[int, list[str]] = field(default_factory=dict)  # question_id → its answers
    unknown_answers: dict[str, int] = field(default_factory=dict)  # answer → how many records
    unknown_templates: dict[str, int] = field(default_factory=dict)  # question_content → how many
    cell_mismatches: list[int] = field(default_factory=list)  # question ids whose template is another cell's
    extra_fillers: list[int] = field(default_factory=list)  # question ids with more fillers than placeholders
    long_questions: list[int] = field(default_factory=list)  # question ids over max_tokens tokens
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def unique_ids(self) -> int:
        return self.records - sum(len(a) - 1 for a in self.duplicates.values())


@dataclass
class AvqaFileCheck:
    """What one AVQA annotation file holds and what is wrong with it."""

    path: str
    records: int
    type_counts: dict[str, int]  # question type → records (the 8 types, in order)
    relation_counts: dict[str, int]  # relation → records (sorted)
    answer_positions: list[int]  # records whose correct option is at 0, 1, 2, 3
    duplicates: dict[int, list[str]] = field(default_factory=dict)  # id → its questions
    repeated_options: list[int] = field(default_factory=list)  # ids with an option text given twice
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def unique_ids(self) -> int:
        return self.records - sum(len(a) - 1 for a in self.duplicates.values())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = "avqa"
        d["unique_ids"] = self.unique_ids
        d["duplicates"] = {str(k): v for k, v in self.duplicates.items()}
        return d


def check_avqa_questions(questions: Sequence[avqa.AvqaQuestion], path: str | Path,
                         duplicates: str = "first") -> AvqaFileCheck:
    """Check parsed AVQA records (duplicates kept, as in the file) of one annotation file."""
    types = Counter(q.qtype for q in questions)
    report = AvqaFileCheck(
        path=str(path), records=len(questions),
        type_counts={t: types[t] for t in avqa.QUESTION_TYPES},
        relation_counts=dict(sorted(Counter(q.relation for q in questions).items())),
        answer_positions=[sum(q.answer_index == i for q in questions) for i in range(avqa.NUM_OPTIONS)],
        repeated_options=[q.question_id for q in questions if len(set(q.options)) < len(q.options)])
    found = find_duplicates(questions)
    report.duplicates = {qid: [q.text for q in qs] for qid, qs in found.items()}
    if found:
        message = duplicate_message(path, found, duplicates, corrected_version=False)
        (report.problems if duplicates == "error" else report.warnings).append(message)
    if not questions:
        report.problems.append(f"{path}: the file holds no question records")
    if report.repeated_options:
        report.warnings.append(f"{path}: {len(report.repeated_options)} questions give the same option text twice "
                               f"(ids {describe_ids(report.repeated_options)}); a model scoring option texts cannot "
                               "tell those options apart")
    return report


def _avqa_count_table(files: Sequence[AvqaFileCheck]) -> list[str]:
    """Record counts per question type, relation and correct-option position, one column per file."""
    names = [Path(f.path).name[:-len(avqa.SPLIT_SUFFIX)] for f in files]
    width = max(9, *(len(n) + 2 for n in names))
    relations = list(dict.fromkeys(r for f in files for r in f.relation_counts))

    def line(label: str, values) -> str:
        return f"{label:<24}" + "".join(f"{v:>{width},}" for v in values)

    lines = [f"{'':<24}" + "".join(f"{n:>{width}}" for n in names),
             line("records", [f.records for f in files]), line("unique ids", [f.unique_ids for f in files])]
    lines += [line(t, [f.type_counts.get(t, 0) for f in files]) for t in avqa.QUESTION_TYPES]
    lines += [line(f"relation: {r}", [f.relation_counts.get(r, 0) for f in files]) for r in relations]
    lines += [line(f"answer at option {i}", [f.answer_positions[i] for f in files]) for i in range(avqa.NUM_OPTIONS)]
    return lines


@dataclass
class FeatureCheck:
    """The result of ``check_feature_folder`` (or why it was skipped)."""

    folder: str
    rows: list[tuple[str, int, tuple, str]] = field(default_factory=list)  # (name, n files, shape, dtype)
    problems: list[str] = field(default_factory=list)
    skipped: str = ""


@dataclass
class DataCheckReport:
    """Everything ``mcd data check`` prints, also as a JSON-ready dict (:meth:`to_dict`)."""

    path: str
    files: list[FileCheck | AvqaFileCheck]
    features: FeatureCheck | None = None
    packed: FeatureCheck | None = None  # the packed store (packed/), when the dataset has one

    @property
    def problems(self) -> list[str]:
        out = [p for f in self.files for p in f.problems]
        return out + (self.features.problems if self.features else []) + (self.packed.problems if self.packed else [])

    @property
    def warnings(self) -> list[str]:
        return [w for f in self.files for w in f.warnings]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        files = []
        for f in self.files:
            if isinstance(f, AvqaFileCheck):
                files.append(f.to_dict())
                continue
            d = asdict(f)
            d["unique_ids"] = f.unique_ids
            d["cell_counts"] = {f"{s} {t}": n for (s, t), n in zip(CELLS, f.cell_counts)}
            d["duplicates"] = {str(k): v for k, v in f.duplicates.items()}
            files.append(d)
        features = asdict(self.features) if self.features else None
        packed = asdict(self.packed) if self.packed else None
        return {"path": self.path, "ok": self.ok, "problems": self.problems, "warnings": self.warnings,
                "files": files, "features": features, "packed": packed}

    def save_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=list) + "\n")
        return path

    def format(self) -> str:
        """The human-readable report."""
        lines = [f"data check: {self.path}"]
        groups: dict[tuple[str, bool], list] = {}
        for f in self.files:
            groups.setdefault((str(Path(f.path).parent), isinstance(f, AvqaFileCheck)), []).append(f)
        for (folder, is_avqa), files in groups.items():
            table = _avqa_count_table(files) if is_avqa else _count_table(files)
            lines += ["", f"{folder}/" + (" (AVQA, multiple choice)" if is_avqa else "")] + table
        if self.features is not None:
            lines += ["", f"features: {self.features.folder}"]
            if self.features.skipped:
                lines.append(f"  skipped: {self.features.skipped}")
            for name, n_files, shape, dtype in self.features.rows:
                lines.append(f"  {name:<20} {n_files:>7,} files  shape {tuple(shape)}  {dtype}")
        if self.packed is not None:
            lines += ["", f"packed store: {self.packed.folder}"]
            for name, n_videos, shape, dtype in self.packed.rows:
                lines.append(f"  {name:<20} {n_videos:>7,} videos  shape {tuple(shape)}  {dtype}")
        for title, items in (("warnings", self.warnings), ("problems", self.problems)):
            if items:
                lines += ["", f"{title} ({len(items)}):"] + [f"  - {item}" for item in items]
        lines += ["", "OK: no problems found" if self.ok else f"INVALID: {len(self.problems)} problem(s) found"]
        return "\n".join(lines)


def _split_name(path: str) -> str:
    """``avqa-test_real.json`` → ``test_real`` (other names unchanged but for the suffix)."""
    stem = Path(path).stem
    return stem[len("avqa-"):] if stem.startswith("avqa-") else stem


def _count_table(files: Sequence[FileCheck]) -> list[str]:
    """Record counts and the 13 official lines, one column per file."""
    names = [_split_name(f.path) for f in files]
    width = max(9, *(len(n) + 2 for n in names))
    lines = [f"{'':<24}" + "".join(f"{n:>{width}}" for n in names),
             f"{'records':<24}" + "".join(f"{f.records:>{width},}" for f in files),
             f"{'unique question ids':<24}" + "".join(f"{f.unique_ids:>{width},}" for f in files)]
    for row in REPORT_ROWS:
        counts = [sum(f.cell_counts[i] for i in row.cells) for f in files]
        lines.append(f"{row.label:<24}" + "".join(f"{c:>{width},}" for c in counts))
    return lines


def check_questions(questions: Sequence[Question], path: str | Path, vocab: AnswerVocab | None = None,
                    max_tokens: int = MAX_QUESTION_TOKENS, duplicates: str = "first") -> FileCheck:
    """Check parsed records (duplicates kept, as in the file) of one annotation file."""
    vocab = vocab or AnswerVocab()
    report = FileCheck(path=str(path), records=len(questions), cell_counts=[0] * len(CELLS))
    unknown_answers: Counter = Counter()
    unknown_templates: Counter = Counter()
    for q in questions:
        report.cell_counts[CELLS.index(q.cell)] += 1
        if q.answer not in vocab:
            unknown_answers[q.answer] += 1
        template = find_template(q.template)
        if template is None:
            unknown_templates[q.template] += 1
        elif template.cell != q.cell:
            report.cell_mismatches.append(q.question_id)
        if len(q.templ_values) > len(placeholders_of(q.template)):
            report.extra_fillers.append(q.question_id)
        if len(q.tokens) > max_tokens:
            report.long_questions.append(q.question_id)
    report.unknown_answers = dict(unknown_answers)
    report.unknown_templates = dict(unknown_templates)
    found = find_duplicates(questions)
    report.duplicates = {qid: [q.answer for q in qs] for qid, qs in found.items()}
    if found:
        message = duplicate_message(path, found, duplicates)
        (report.problems if duplicates == "error" else report.warnings).append(message)
    if not questions:
        report.problems.append(f"{path}: the file holds no question records")
    if unknown_answers:
        report.problems.append(f"{path}: {sum(unknown_answers.values())} records have answers outside the "
                               f"{len(vocab.known)}-answer vocabulary: {describe_ids(map(repr, unknown_answers))}")
    if unknown_templates:
        report.problems.append(f"{path}: {sum(unknown_templates.values())} records use templates not among the 33 "
                               f"official ones: {describe_ids(map(repr, unknown_templates), limit=3)}")
    if report.cell_mismatches:
        report.problems.append(f"{path}: {len(report.cell_mismatches)} records file an official template under "
                               f"another (scenario, type) cell (question ids {describe_ids(report.cell_mismatches)})")
    if report.extra_fillers:
        report.problems.append(f"{path}: {len(report.extra_fillers)} records have more templ_values than "
                               f"placeholders (question ids {describe_ids(report.extra_fillers)})")
    if report.long_questions:
        report.problems.append(f"{path}: {len(report.long_questions)} questions have more than {max_tokens} tokens "
                               f"(question ids {describe_ids(report.long_questions)})")
    return report


def check_annotation_file(path: str | Path, vocab: AnswerVocab | None = None,
                          max_tokens: int = MAX_QUESTION_TOKENS, duplicates: str = "first") -> FileCheck | AvqaFileCheck:
    """Read (AnnotationError when unreadable) and check one annotation file (either format)."""
    records = read_records(path)
    if avqa.looks_like_avqa(records):
        return check_avqa_questions(avqa.parse_avqa_records(records, path), path, duplicates)
    return check_questions(parse_records(records, path), path, vocab, max_tokens, duplicates)


def annotation_files(folder: str | Path) -> list[Path]:
    """The ``avqa-*.json`` files of a dataset folder (under json/ and json_update/), or of an
    annotation folder itself; else its AVQA ``*_qa.json`` files (under any sub-folder, or itself)."""
    folder = Path(folder)
    files = [p for version in ANNOTATION_VERSIONS for p in sorted((folder / version).glob("avqa-*.json"))]
    files = files or sorted(folder.glob("avqa-*.json"))
    return files or sorted(folder.glob(f"*/*{avqa.SPLIT_SUFFIX}")) or sorted(folder.glob(f"*{avqa.SPLIT_SUFFIX}"))


def check_features(dataset_dir: Path, video_ids: set[str], progress: bool = True) -> FeatureCheck:
    """Check ``<dataset_dir>/feats`` with :func:`mcdlib.data.features.check_feature_folder`
    (nominal seconds from ``manifest.json``, else 60), or say why it was skipped."""
    feats_dir = dataset_dir / "feats"
    try:
        features = importlib.import_module("mcdlib.data.features")
        checker = features.check_feature_folder
    except (ModuleNotFoundError, AttributeError):
        return FeatureCheck(str(feats_dir), skipped="mcdlib.data.features.check_feature_folder is not available "
                                                    "in this version of mcdlib")
    seconds = features.resolve_data_config(DataConfig(root=str(dataset_dir))).seconds
    extra = {"progress": progress} if "progress" in inspect.signature(checker).parameters else {}
    result = checker(feats_dir, video_ids, seconds, **extra)
    return FeatureCheck(str(feats_dir), rows=[tuple(r) for r in result.rows], problems=list(result.problems))


def check_path(path: str | Path, vocab: AnswerVocab | None = None, max_tokens: int = MAX_QUESTION_TOKENS,
               duplicates: str = "first", progress: bool = True) -> DataCheckReport:
    """Check an annotation file or a dataset folder (annotations, then ``feats/`` if present)."""
    if duplicates not in DUPLICATE_POLICIES:
        raise AnnotationError(f"unknown duplicates policy {duplicates!r}; choose one of {', '.join(DUPLICATE_POLICIES)}")
    path = Path(path)
    if path.is_file():
        return DataCheckReport(str(path), [check_annotation_file(path, vocab, max_tokens, duplicates)])
    if not path.is_dir():
        raise AnnotationError(f"{path}: no such file or folder; give an annotation file (avqa-<split>.json) "
                              "or a dataset folder holding json/ or json_update/")
    files = annotation_files(path)
    if not files:
        raise AnnotationError(f"{path}: no annotation files found; a dataset folder holds json/ or json_update/ "
                              "with avqa-<split>.json files (MUSIC-AVQA), or json/<split>_qa.json (AVQA)")
    checks, video_ids = [], set()
    for file in tqdm(files, desc="checking annotations", unit="file", disable=not progress, leave=False):
        records = read_records(file)
        if avqa.looks_like_avqa(records):
            questions = avqa.parse_avqa_records(records, file)
            checks.append(check_avqa_questions(questions, file, duplicates))
        else:
            questions = parse_records(records, file)
            checks.append(check_questions(questions, file, vocab, max_tokens, duplicates))
        video_ids.update(q.video_id for q in questions)
    report = DataCheckReport(str(path), checks)
    if (path / "feats").is_dir():
        report.features = check_features(path, video_ids, progress)
    if packed_dir(path).is_dir():
        result = check_packed_store(path, video_ids, progress=progress)
        report.packed = FeatureCheck(str(packed_dir(path)), rows=[tuple(r) for r in result.rows],
                                     problems=list(result.problems))
    return report
