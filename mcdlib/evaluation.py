"""The official MUSIC-AVQA evaluation: accuracy per (scenario, type) cell, per scenario and
overall, pooled over questions (micro) as the reference script does.

Unlike the reference script (which reads question types from a hard-coded original test file,
so its per-type numbers are silently wrong on the corrected file), the types always come from
the annotation records being evaluated.

::

    questions = load_split(root, "test", annotations="json_update")
    result = evaluate(load_predictions("predictions.json"), questions)
    print(result.table()); result.save_json("scores.json")

Three entry points: :func:`evaluate` (question_id → answer string, e.g. a predictions file),
:func:`evaluate_indices` (answer / prediction / cell index arrays, for the training loop) and
:func:`compare_table` (several results side by side, e.g. MCD against the baselines).

AVQA (multiple choice) is counted by the same code with another
:class:`~mcdlib.data.report_scheme.ReportScheme`: cells (question type, relation), rows per
question type, per relation and Overall. :func:`evaluate` recognises AVQA records
(:class:`~mcdlib.data.avqa.AvqaQuestion`) and then reads a prediction as the index of the chosen
option (an int, ``"2"``) or the option's text.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from mcdlib.data.avqa import AvqaQuestion, scheme_of
from mcdlib.data.music_avqa import Question, describe_ids, find_duplicates
from mcdlib.data.report_scheme import MUSIC_AVQA_SCHEME, ReportRow, ReportScheme
from mcdlib.data.templates import CELLS, SCENARIOS, cell_index
from mcdlib.data.vocab import AnswerVocab
from mcdlib.errors import AnnotationError, PredictionError

MISSING_POLICIES: tuple[str, ...] = ("error", "wrong")
#: annotation answers outside the answer vocabulary: an error, or scored as given (string match)
UNKNOWN_ANSWER_POLICIES: tuple[str, ...] = ("error", "score")


class UnknownPredictionWarning(UserWarning):
    """Some predicted answers are outside the answer vocabulary (they count as wrong)."""


#: the 13 official lines in the official order (Audio Counting ... AV Temporal, AV, Overall)
REPORT_ROWS: tuple[ReportRow, ...] = MUSIC_AVQA_SCHEME.rows


def _percent(correct: int, total: int) -> float | None:
    return round(100.0 * correct / total, 2) if total else None


@dataclass(frozen=True)
class EvaluationResult:
    """Per-cell counts (in the cell order of ``scheme``, MUSIC-AVQA's
    :data:`~mcdlib.data.templates.CELLS` by default) and everything derived.

    ``missing`` is how many questions had no prediction and were counted wrong
    (``missing="wrong"``); ``source`` names what was evaluated (for titles); ``annotations`` the
    annotation version evaluated (``json_update`` or ``json``; shown in the title and the JSON);
    ``scheme`` the cells and table rows (:mod:`mcdlib.data.report_scheme`).
    """

    correct: tuple[int, ...]
    total: tuple[int, ...]
    source: str = ""
    missing: int = 0
    annotations: str = ""
    scheme: ReportScheme = MUSIC_AVQA_SCHEME

    @property
    def n(self) -> int:
        return int(sum(self.total))

    def pooled(self, cells: Sequence[int]) -> tuple[int, int]:
        """(correct, total) pooled over the given cell indices."""
        return int(sum(self.correct[i] for i in cells)), int(sum(self.total[i] for i in cells))

    def accuracy(self, scenario: str | None = None, qtype: str | None = None) -> float | None:
        """Accuracy in % (2 decimals) of a cell, a scenario (``qtype=None``) or overall (no
        arguments); None when no question falls there. (Other schemes: :meth:`row_accuracy`.)"""
        if scenario is None:
            cells = range(len(self.total))
        elif self.scheme != MUSIC_AVQA_SCHEME:
            raise ValueError(f"accuracy(scenario, qtype) reads MUSIC-AVQA cells; this is a {self.scheme.name} "
                             "result: use row_accuracy(label), e.g. row_accuracy('Which')")
        elif qtype is None:
            cells = [i for i, (s, _) in enumerate(CELLS) if s == scenario]
            if not cells:
                raise ValueError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
        else:
            cells = [cell_index(scenario, qtype)]
        return _percent(*self.pooled(cells))

    @property
    def overall(self) -> float | None:
        return self.accuracy()

    def row_accuracy(self, label: str) -> float | None:
        """Accuracy in % of the table row ``label`` (e.g. ``"AV Temporal"``, ``"Which"``)."""
        for row in self.scheme.rows:
            if row.label == label:
                return _percent(*self.pooled(row.cells))
        raise ValueError(f"no row {label!r} in the {self.scheme.name} table; rows: {', '.join(self.scheme.row_labels)}")

    def rows(self) -> list[tuple[str, float | None, int, int]]:
        """The table lines (MUSIC-AVQA: the 13 official ones): (label, accuracy %, n correct, n)."""
        return [(row.label, _percent(*self.pooled(row.cells)), *self.pooled(row.cells)) for row in self.scheme.rows]

    def to_json(self) -> dict[str, Any]:
        """MUSIC-AVQA: ``{"Audio": {"Counting": %, "Comparative": %, "All": %}, "Visual": {...},
        "Audio-Visual": {...}, "Overall": %, "n": count}``; AVQA: ``{"types": {"Which": %, ...},
        "relations": {...}, "Overall": %, "n": count}`` (None where nothing falls)."""
        if self.scheme != MUSIC_AVQA_SCHEME:
            grouped: dict[str, Any] = {}
            for row in self.scheme.rows:
                acc = _percent(*self.pooled(row.cells))
                if row.kind == "overall":
                    grouped[row.json_key] = acc
                else:
                    grouped.setdefault(f"{row.kind}s", {})[row.json_key] = acc
            return {**grouped, "n": self.n, **({"annotations": self.annotations} if self.annotations else {})}
        out: dict[str, Any] = {}
        for scenario in SCENARIOS:
            out[scenario] = {qtype: self.accuracy(scenario, qtype) for s, qtype in CELLS if s == scenario}
            out[scenario]["All"] = self.accuracy(scenario)
        out["Overall"] = self.overall
        out["n"] = self.n
        if self.annotations:
            out["annotations"] = self.annotations
        return out

    def save_json(self, path: str | Path) -> Path:
        """Write :meth:`to_json` to ``path``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    def table(self, title: str | None = None) -> str:
        """The 13 official lines with labelled columns (row, accuracy %, correct / n)."""
        title = title if title is not None else f"{self.scheme.name} accuracy: {self.source or 'predictions'}"
        version = f"annotations {self.annotations}, " if self.annotations else ""
        lines = [f"{title} ({version}{self.n:,} questions"
                 + (f", {self.missing} missing counted wrong)" if self.missing else ")"),
                 f"{'row':<24}{'accuracy %':>11}{'correct / n':>16}"]
        for label, acc, correct, total in self.rows():
            acc_text = f"{acc:.2f}" if acc is not None else "-"
            lines.append(f"{label:<24}{acc_text:>11}{correct:>9} / {total:<6}".rstrip())
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def _tally(is_correct: np.ndarray, cells: np.ndarray, source: str = "", missing: int = 0,
           annotations: str = "", scheme: ReportScheme = MUSIC_AVQA_SCHEME) -> EvaluationResult:
    n_cells = len(scheme.cells)
    if len(cells) and (cells.min() < 0 or cells.max() >= n_cells):
        raise ValueError(f"cell indices must lie in 0..{n_cells - 1}, got {cells.min()}..{cells.max()}")
    correct = np.bincount(cells, weights=is_correct.astype(np.float64), minlength=n_cells)
    total = np.bincount(cells, minlength=n_cells)
    return EvaluationResult(tuple(int(round(c)) for c in correct), tuple(int(t) for t in total), source, missing,
                            annotations, scheme)


def _as_array(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().numpy()
    return np.asarray(values).reshape(-1)


def evaluate_indices(answers: Any, predictions: Any, cell_indices: Any, source: str = "",
                     scheme: ReportScheme | None = None) -> EvaluationResult:
    """Evaluate index arrays (lists, numpy arrays or torch tensors) of equal length: the true
    answer classes, the predicted classes (argmax of the logits) and the cell index of each
    question (the batch's ``type_index``: 0..8 for MUSIC-AVQA, the default ``scheme``)."""
    answers, predictions, cells = (_as_array(x) for x in (answers, predictions, cell_indices))
    if not (len(answers) == len(predictions) == len(cells)):
        raise ValueError(f"answers, predictions and cell_indices differ in length: "
                         f"{len(answers)}, {len(predictions)}, {len(cells)}")
    return _tally(answers == predictions, cells.astype(np.int64), source, scheme=scheme or MUSIC_AVQA_SCHEME)


def _normalise_predictions(predictions: Mapping[Any, Any], name: str, option_index: bool = False) -> dict[int, Any]:
    """question_id (int) → prediction: answer strings, or with ``option_index`` also option indices
    given as integers (the AVQA predictions of mcdlib); keys that name the same question (``"7"``,
    ``"007"``, ``"7 "``) are an error listing them, never silently merged."""
    out: dict[int, Any] = {}
    keys: dict[int, list[Any]] = {}
    for key, answer in predictions.items():
        text = str(key).strip()
        if isinstance(key, bool) or not text.lstrip("-").isdigit():
            raise PredictionError(f"{name}: key {key!r} is not a question_id; predictions map question ids "
                                  "(as strings) to answer strings, e.g. {\"12\": \"two\"}")
        index_ok = option_index and isinstance(answer, int) and not isinstance(answer, bool)
        if not isinstance(answer, str) and not index_ok:
            raise PredictionError(f"{name}: the prediction for question_id {key} is {answer!r}, expected an "
                                  "answer string such as \"two\" (AVQA: the chosen option's index, e.g. 2)")
        out[int(text)] = answer
        keys.setdefault(int(text), []).append(key)
    aliased = {qid: ks for qid, ks in keys.items() if len(ks) > 1}
    if aliased:
        shown = "; ".join(f"question_id {qid} as {', '.join(map(repr, ks))}" for qid, ks in list(aliased.items())[:5])
        raise PredictionError(f"{name}: {len(aliased)} question ids have more than one key ({shown}"
                              f"{' ...' if len(aliased) > 5 else ''}); give each question exactly one "
                              "prediction, keyed by its question_id as written in the annotations")
    return out


def evaluate(predictions: Mapping[Any, str], questions: Sequence[Question], missing: str = "error",
             vocab: AnswerVocab | None = None, source: str = "",
             predictions_name: str = "predictions", unknown_answers: str = "error",
             annotations: str = "") -> EvaluationResult:
    """Evaluate predictions (question_id → answer string; ids as ints or strings) against the
    annotation records being evaluated (``annotations``: their version, reported with the result).

    Predictions naming ids that are not in ``questions`` are a PredictionError; so are
    questions without a prediction unless ``missing="wrong"`` (they count as wrong), and keys
    naming one question twice (``"7"`` and ``"007"``). Annotation answers outside ``vocab``
    (default: the 42 answers) are an AnnotationError listing the question ids unless
    ``unknown_answers="score"`` (then scored by string match). Predicted answers outside
    ``vocab`` are wrong, with a warning.
    """
    if missing not in MISSING_POLICIES:
        raise PredictionError(f"unknown missing-predictions policy {missing!r}; choose one of "
                              f"{', '.join(MISSING_POLICIES)}")
    if unknown_answers not in UNKNOWN_ANSWER_POLICIES:
        raise PredictionError(f"unknown policy for answers outside the vocabulary {unknown_answers!r}; choose one "
                              f"of {', '.join(UNKNOWN_ANSWER_POLICIES)}")
    source = source or "the annotations"
    duplicates = find_duplicates(questions)
    if duplicates:
        raise AnnotationError(f"{source}: question ids {describe_ids(duplicates)} occur more than once; "
                              "read the annotations with a duplicates policy (first, last or drop)")
    choices = bool(questions) and isinstance(questions[0], AvqaQuestion)
    vocab = vocab or AnswerVocab()
    if unknown_answers == "error" and not choices:
        outside_truth = [q for q in questions if q.answer not in vocab]
        if outside_truth:
            answers = sorted({q.answer for q in outside_truth})
            raise AnnotationError(f"{source}: {len(outside_truth)} questions have answers outside the "
                                  f"{len(vocab.known)}-answer vocabulary ({describe_ids(map(repr, answers))}; question "
                                  f"ids {describe_ids(q.question_id for q in outside_truth)}); fix the annotations "
                                  "(mcd data check), or score them anyway with --unknown-answers score")
    preds = _normalise_predictions(predictions, predictions_name, option_index=choices)
    known_ids = {q.question_id for q in questions}
    unknown_ids = sorted(set(preds) - known_ids)
    if unknown_ids:
        raise PredictionError(f"{predictions_name}: {len(unknown_ids)} question ids are not in {source} "
                              f"({describe_ids(unknown_ids)}); are these predictions for another split or "
                              "annotation version (json vs json_update)?")
    missing_ids = [q.question_id for q in questions if q.question_id not in preds]
    if missing_ids and missing == "error":
        raise PredictionError(f"{predictions_name}: {len(missing_ids)} of {len(questions)} questions of {source} "
                              f"have no prediction ({describe_ids(missing_ids)}); predict every question, or "
                              "count them as wrong with --missing wrong (missing='wrong')")
    if choices:
        return _evaluate_choices(preds, questions, source, predictions_name, len(missing_ids))
    outside = sorted({a for a in preds.values() if a not in vocab})
    if outside:
        n_outside = sum(1 for a in preds.values() if a not in vocab)
        warnings.warn(f"{predictions_name}: {n_outside} predicted answers are outside the "
                      f"{len(vocab.known)}-answer vocabulary and count as wrong ({describe_ids(map(repr, outside))})",
                      UnknownPredictionWarning, stacklevel=2)
    is_correct, cells, _ = question_correctness(preds, questions, predictions_name)
    return _tally(is_correct, cells, source, missing=len(missing_ids), annotations=annotations)


def chosen_option(prediction: Any, question: AvqaQuestion, name: str) -> int | None:
    """The option index a prediction names: an int or a digit string is an index (out of range:
    PredictionError), any other string an option's text (None when it is none of the options)."""
    if isinstance(prediction, str) and prediction.strip().isdigit():
        prediction = int(prediction.strip())
    if isinstance(prediction, int):
        if not 0 <= prediction < len(question.options):
            raise PredictionError(f"{name}: the prediction for question id {question.question_id} is option "
                                  f"{prediction}, but the question has options 0-{len(question.options) - 1}")
        return prediction
    try:
        return question.options.index(prediction)
    except ValueError:
        return None


def _evaluate_choices(preds: dict[int, Any], questions: Sequence[AvqaQuestion], source: str,
                      predictions_name: str, missing: int) -> EvaluationResult:
    """Multiple-choice accuracy (AVQA): a prediction is right when it names the correct option.
    (AVQA has one annotation version: no version is reported.)"""
    outside = [q.question_id for q in questions
               if q.question_id in preds and chosen_option(preds[q.question_id], q, predictions_name) is None]
    if outside:
        warnings.warn(f"{predictions_name}: {len(outside)} predictions name no option of their question and count "
                      f"as wrong (question ids {describe_ids(outside)})", UnknownPredictionWarning, stacklevel=3)
    is_correct, cells, scheme = question_correctness(preds, questions, predictions_name)
    return _tally(is_correct, cells, source, missing=missing, scheme=scheme)


def question_correctness(predictions: Mapping[int, Any], questions: Sequence[Question | AvqaQuestion],
                         predictions_name: str = "predictions") -> tuple[np.ndarray, np.ndarray, ReportScheme]:
    """Per question, in order: whether its prediction is right (none: wrong), its cell index and
    the scheme of the cells. What :func:`evaluate` tallies, and what paired statistics over
    questions read (``predictions`` keyed by the integer question id). MUSIC-AVQA: the answer
    string matches; AVQA: the prediction names the correct option (:func:`chosen_option`)."""
    n = len(questions)
    if questions and isinstance(questions[0], AvqaQuestion):
        scheme = scheme_of(questions)
        right = (q.question_id in predictions
                 and chosen_option(predictions[q.question_id], q, predictions_name) == q.answer_index
                 for q in questions)
        cells = (scheme.cell_index(q.cell) for q in questions)
    else:
        scheme = MUSIC_AVQA_SCHEME
        right = (predictions.get(q.question_id) == q.answer for q in questions)
        cells = (cell_index(q.scenario, q.qtype) for q in questions)
    return (np.fromiter(right, dtype=bool, count=n), np.fromiter(cells, dtype=np.int64, count=n), scheme)


def load_predictions(path: str | Path) -> dict[str, str]:
    """A predictions file: a JSON object mapping question_id (string) to the answer string
    (AVQA: to the chosen option's index, or its text)."""
    path = Path(path)
    if not path.is_file():
        raise PredictionError(f"{path}: predictions file not found")
    text = path.read_text(encoding="utf-8-sig")
    if not text.strip():
        raise PredictionError(f"{path}: the predictions file is empty; expected a JSON object "
                              "{\"question_id\": \"answer\", ...}")
    repeated: list[str] = []

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                repeated.append(key)
            seen[key] = value
        return seen

    try:
        data = json.loads(text, object_pairs_hook=keep_pairs)
    except json.JSONDecodeError as exc:
        raise PredictionError(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if repeated:
        raise PredictionError(f"{path}: keys repeated in the file ({describe_ids(map(repr, dict.fromkeys(repeated)))}); "
                              "JSON would keep only the last value of each: give each question one prediction")
    if not isinstance(data, dict):
        raise PredictionError(f"{path}: the top-level JSON value is a {type(data).__name__}, expected an object "
                              "mapping question_id to the answer string, e.g. {\"12\": \"two\"}")
    _normalise_predictions(data, str(path), option_index=True)  # validates keys and values, naming the file
    return data


def save_predictions(predictions: Mapping[Any, str], path: str | Path) -> Path:
    """Write predictions as the JSON object :func:`load_predictions` reads (ids as strings)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ordered = dict(sorted(((int(k), v) for k, v in predictions.items())))
    path.write_text(json.dumps({str(k): v for k, v in ordered.items()}, indent=0) + "\n")
    return path


def compare_table(results: Mapping[str, EvaluationResult], title: str | None = None) -> str:
    """Several results side by side: one column per named result, the table lines (MUSIC-AVQA:
    the 13 official ones) and the question count (e.g. ``compare_table({"MCD": r1, "AVST": r2})``).
    The results must share one scheme (the same dataset format and cells)."""
    if not results:
        raise ValueError("compare_table needs at least one result")
    names = list(results)
    scheme = results[names[0]].scheme
    if any(results[n].scheme != scheme for n in names):
        raise ValueError("compare_table: the results were counted over different question cells "
                         "(another dataset format or relations); compare results of one dataset")
    title = title if title is not None else f"{scheme.name} accuracy (%)"
    width = max(9, *(len(n) + 2 for n in names))
    lines = [title, f"{'row':<24}" + "".join(f"{n:>{width}}" for n in names)]
    for r, row in enumerate(scheme.rows):
        values = [results[n].rows()[r][1] for n in names]
        lines.append(f"{row.label:<24}" + "".join(f"{(f'{v:.2f}' if v is not None else '-'):>{width}}" for v in values))
    lines.append(f"{'n':<24}" + "".join(f"{results[n].n:>{width}}" for n in names))
    return "\n".join(lines)
