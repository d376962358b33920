"""``mcd eval``: the official MUSIC-AVQA evaluation table (and JSON); AVQA's per-type table.

Modes (exactly one per call), each a function returning the records being evaluated, the
predictions and names for messages; :func:`run` is shared by all of them:

* ``--annotations FILE --predictions FILE``: a predictions JSON object (question_id → answer)
  against an annotation file. The file's format is read from its records: an AVQA file
  (``val_qa.json``) is scored as multiple choice (a prediction is the chosen option's index or
  text), per question type, per relation and overall.

* ``--run RUN --split test``: predict the split with the run's best checkpoint (writes
  ``RUN/predictions_<split>.json``) and evaluate it against the split's annotations.

A further mode adds its arguments in :func:`register` and an entry in :data:`MODES`.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from mcdlib.config import DataConfig
from mcdlib.data.formats import read_annotation_file
from mcdlib.data.music_avqa import DUPLICATE_POLICIES, Question, annotation_version_of
from mcdlib.errors import McdError
from mcdlib.evaluation import MISSING_POLICIES, UNKNOWN_ANSWER_POLICIES, evaluate, load_predictions


@dataclass
class EvalInputs:
    """What one mode hands to the evaluation."""

    questions: Sequence[Question]
    predictions: Mapping[str, str]
    source: str  # what is evaluated, e.g. the annotation file
    predictions_name: str  # where the predictions come from, for messages
    unknown_answers: str = "error"  # annotation answers outside the vocabulary (evaluate())
    notes: dict | None = None  # added to the JSON (e.g. the run's status) and shown in the title
    annotations: str = ""  # the annotation version evaluated (json_update / json)


def annotations_mode(args) -> EvalInputs:
    """``--annotations FILE --predictions FILE``."""
    if not args.annotations or not args.predictions:
        raise McdError("--annotations and --predictions go together: "
                       "mcd eval --annotations avqa-test.json --predictions predictions.json")
    questions = read_annotation_file(args.annotations, duplicates=args.duplicates)  # either format
    return EvalInputs(questions, load_predictions(args.predictions), str(args.annotations), str(args.predictions),
                      annotations=annotation_version_of(args.annotations), unknown_answers=args.unknown_answers)


def run_mode(args) -> EvalInputs:
    """``--run RUN --split SPLIT [--checkpoint best|last|FILE] [--data DIR]``."""
    from mcdlib.train.predict import open_run_split, predict
    from mcdlib.train.run_folder import RunFolder

    folder = RunFolder(args.run)
    folder.require_config()
    status = folder.require_finished(args.allow_unfinished)
    state = folder.describe_status()
    if status.get("status") != "finished":
        print(f"mcd: warning: {args.run} is not finished ({state}): evaluating its {args.checkpoint} checkpoint "
              "as it is", file=sys.stderr)
    written = folder.predictions(args.split)  # checks the split name before anything is read
    dataset = open_run_split(args.run, args.split, args.checkpoint, args.data)
    predictions = predict(args.run, args.split, args.checkpoint, data_root=args.data, dataset=dataset,
                          allow_other_data=args.allow_other_data)
    print(f"predictions written to {written}")
    notes = {"run": str(args.run), "run_status": status.get("status", "unknown"), "run_state": state,
             "epochs_done": status.get("epochs_done"), "epochs": status.get("epochs"),
             "checkpoint": args.checkpoint}
    return EvalInputs(dataset.questions, predictions,
                      f"{args.run} ({args.split}, {args.checkpoint} checkpoint; run {state})",
                      str(written), annotations=dataset.annotations, unknown_answers="score", notes=notes)


#: (name, is this mode selected?, build its inputs) — the first selected mode runs
MODES: list[tuple[str, Callable[[object], bool], Callable[[object], EvalInputs]]] = [
    ("--annotations FILE --predictions FILE",
     lambda a: bool(a.annotations or a.predictions), annotations_mode),
    ("--run RUN --split SPLIT", lambda a: bool(a.run), run_mode),
]


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="the official MUSIC-AVQA accuracy table (or AVQA's) of a predictions file or a trained run",
        description="Official MUSIC-AVQA evaluation: accuracy per (scenario, type) cell, per scenario "
                    "and overall (pooled over questions), read from the annotation file evaluated. "
                    "AVQA (multiple choice): accuracy per question type, per relation and overall.")
    files = p.add_argument_group("annotations mode")
    files.add_argument("--annotations", metavar="FILE", default=None,
                       help="the annotation file evaluated (e.g. json_update/avqa-test.json, or AVQA's val_qa.json)")
    files.add_argument("--predictions", metavar="FILE", default=None,
                       help="JSON object mapping question_id (string) to the predicted answer string "
                            "(AVQA: to the chosen option's index 0-3, or its text)")
    trained = p.add_argument_group("run mode")
    trained.add_argument("--run", metavar="RUN", default=None,
                         help="a run folder of mcd train: predict --split with its checkpoint, then evaluate")
    trained.add_argument("--split", default="test",
                         help="split to predict: train, val, test or a file's split name (default: %(default)s)")
    trained.add_argument("--checkpoint", default="best", help="best, last or a checkpoint file (default: %(default)s)")
    trained.add_argument("--data", metavar="DIR", default=None,
                         help="the run's dataset folder, if it moved since training (default: the run's data.root)")
    trained.add_argument("--allow-unfinished", action="store_true",
                         help="evaluate a run that is not finished (interrupted or killed); its status and "
                              "epochs done are shown in the title and the JSON")
    trained.add_argument("--allow-other-data", action="store_true",
                         help="evaluate on a dataset other than the one the run was trained on (its recorded "
                              "fingerprint); refused by default")
    p.add_argument("--json", dest="json_out", metavar="OUT", default=None,
                   help="also write the accuracies (and the annotation version) as JSON")
    p.add_argument("--unknown-answers", choices=UNKNOWN_ANSWER_POLICIES, default="error",
                   help="annotation answers outside the 42-answer vocabulary: an error listing the question ids, "
                        "or score them by string match (default: %(default)s)")
    p.add_argument("--missing", choices=MISSING_POLICIES, default="error",
                   help="questions without a prediction: an error, or count them wrong (default: %(default)s)")
    p.add_argument("--duplicates", choices=DUPLICATE_POLICIES, default=DataConfig.duplicates,
                   help="duplicated question ids in the annotations (original version; default: %(default)s)")
    p.set_defaults(func=run)


def select_mode(args) -> Callable[[object], EvalInputs]:
    for _, selected, build in MODES:
        if selected(args):
            return build
    raise McdError("nothing to evaluate; use " + " or ".join(f"mcd eval {name}" for name, _, _ in MODES))


def check_json_out(path: str | None) -> None:
    """``--json OUT`` must name a file that can be written (checked before any evaluation)."""
    if not path:
        return
    out = Path(path)
    if out.is_dir():
        raise McdError(f"--json {path}: that is a folder; give a file name, e.g. {out / 'scores.json'}")
    parent = next((p for p in [out.parent, *out.parent.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise McdError(f"--json {path}: {parent} is not a writable folder; choose another place")


def run(args) -> int:
    check_json_out(args.json_out)
    build = select_mode(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = build(args)
        result = evaluate(inputs.predictions, inputs.questions, missing=args.missing,
                          source=inputs.source, predictions_name=inputs.predictions_name,
                          annotations=inputs.annotations, unknown_answers=inputs.unknown_answers)
    for warning in caught:
        print(f"mcd: warning: {warning.message}", file=sys.stderr)
    print(result.table())
    if args.json_out:
        out = Path(args.json_out)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({**result.to_json(), **(inputs.notes or {})}, indent=2) + "\n")
        except OSError as exc:
            raise McdError(f"--json {args.json_out}: cannot write it ({exc.strerror or exc})") from None
        print(f"accuracies written to {args.json_out}")
    return 0
