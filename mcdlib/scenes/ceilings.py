"""Shortcut structure of a music-scenes dataset: what each sense alone could answer.

A question filed under "Audio" should need the sound, one filed under "Visual" the picture,
and an "Audio-Visual" one both. Whether it does is a property of the data, not of a model:
this module re-answers every question from a *view* of its scene graph (what one observer
perceives) with the project's own answer rules (:mod:`mcdlib.scenes.questions`) and reports
the accuracy each view reaches, per official row and per template. These are **ceilings of
observers**, not model results: a report of the benchmark, never a training target.

The four views (**CHOICE**, mcdlib's definitions):

``prior``
    The language prior: the observer sees only the question and answers the most frequent
    ``train`` answer of its template (as :func:`mcdlib.scenes.balance.majority_baseline`).
``vision_only``
    The observer sees the frames: the visible players, their instruments and stage positions,
    the backdrop (and, in version 2, the camera and the lights). It does not know who sounds,
    when, how loud or how rhythmically, nor about off-screen players or a voiceover. Its
    *perception* of a question is the rule's answer on the scene as the frames suggest it:
    only the visible players, each imputed as playing the whole video at one common loudness
    and rhythm, no off-screen player, no voiceover (:func:`vision_scene`).
``audio_only``
    The observer hears the mono mix: which instruments sound (two of one instrument count
    two), when, how loud, how rhythmically, and whether a voiceover speaks. It does not know
    where anyone stands, who is on screen, who is on stage but silent, nor the backdrop. Its
    perception: the rule's answer on the sounding players only, all imputed visible, with
    positions unknown (no column, side or left/right-most is defined; :func:`audio_scene`),
    except that it takes a question's word for where a *named* instrument stands ("the
    <Object> on the <LR>": :data:`NAMED_POSITION_TEMPLATES`), so it compares the two named
    sounds.
``perfect``
    Perfect perception of the frames and the mix: everything above, but sound is tied to a
    picture only through the instrument's identity, so the sounding attributes (intervals,
    loudness, rhythm) of two players of the same instrument cannot be told apart. Its
    perception is the rule's answer when it is the same under every such swap
    (:func:`swapped_scenes`), else the set of possible answers.

From perception to an answer, every view uses the same **calibrated observer**: the answer
most frequent in the ``train`` split among the questions of the same template that the view
perceives the same way (its *signature*); a signature unseen in train answers the perceived
answer itself (or, for "cannot tell" / a set of options, the template's most frequent train
answer among them). So each view is at least about as good as the prior, and an imputation
that is systematically wrong is corrected as any learner would correct it. Every split is
scored with the observer calibrated on ``train`` (in-sample on train itself).

The table (the manifest's ``"ceilings"`` key, :func:`compute_ceilings`)::

    {"train": {"prior": {label: %}, "vision_only": {...}, "audio_only": {...}, "perfect": {...}},
     "val": {...}, "test": {...},
     "templates": {split: {template: {"cell": "Audio Counting", "n": int,
                                      "prior": %, "vision_only": %, "audio_only": %, "perfect": %}}}}

with the 13 official row labels of :meth:`mcdlib.evaluation.EvaluationResult.rows` (``None``
where a row has no question) and canonical template texts. :func:`read_ceilings` returns it
from a dataset folder (computed from ``scenes/`` and ``json/`` for builds that predate it).

>>> table = compute_ceilings(scenes, annotations)     # scenes: {video_id: Scene}
>>> table["test"]["vision_only"]["Audio (all)"]
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from mcdlib.data.music_avqa import Question, parse_records
from mcdlib.data.templates import CELLS, find_template
from mcdlib.errors import McdError
from mcdlib.evaluation import REPORT_ROWS, evaluate
from mcdlib.scenes.questions import RULES, SceneFacts, TemplateRule, scene_facts
from mcdlib.scenes.scene import Player, Scene

#: the views, in report order
VIEWS: tuple[str, ...] = ("prior", "vision_only", "audio_only", "perfect")
#: the views a question's signature is computed for (the prior has none)
PERCEIVING_VIEWS: tuple[str, ...] = ("vision_only", "audio_only", "perfect")
#: the split the calibrated observers are fitted on
CALIBRATION_SPLIT = "train"
#: loudness (dB) and rhythm (notes/s) the vision-only view imputes to every visible player
IMPUTED_LOUDNESS_DB = 0.0
IMPUTED_RHYTHM = 2.0
#: a perceived answer that cannot be told (the rule is undefined on the view)
UNKNOWN = "?"
#: templates naming an instrument *and* its column: the audio-only observer takes the
#: question's word for the column and compares the two named sounds
NAMED_POSITION_TEMPLATES: frozenset[str] = frozenset({
    "Is the <Object> on the <LR> louder than the <Object> on the <LR>?",
    "Is the <Object> on the <LR> more rhythmic than the <Object> on the <LR>?",
})

Signature = "str | tuple[str, ...]"


# --------------------------------------------------------------------------- the views


def vision_scene(scene: Scene) -> Scene:
    """The scene as the frames suggest it: visible players only, each playing the whole video
    at one imputed loudness and rhythm; no off-screen player, no voiceover."""
    whole = [(0.0, float(scene.seconds))]
    players = [Player(p.instrument, p.x, True, list(whole), IMPUTED_LOUDNESS_DB, IMPUTED_RHYTHM)
               for p in scene.players if p.visible]
    return Scene(scene.video_id, scene.seconds, players, scene.backdrop, [], scene.seed, version=scene.version)


def audio_scene(scene: Scene) -> Scene:
    """The scene as the mix tells it: the sounding players only, all imputed visible, at a
    placeholder position (use it with ``positions_known=False``), in an order that does not
    depend on positions; the voiceover kept; the backdrop unknown (``None``)."""
    sounding = sorted((p for p in scene.players if p.intervals),
                      key=lambda p: (p.instrument, p.onset, p.loudness_db, p.rhythm))
    players = [Player(p.instrument, 0.5, True, list(p.intervals), p.loudness_db, p.rhythm) for p in sounding]
    return Scene(scene.video_id, scene.seconds, players, None, list(scene.voiceover), scene.seed,  # type: ignore[arg-type]
                 version=scene.version)


def swapped_scenes(scene: Scene) -> list[Scene]:
    """Every scene the perfect observer cannot tell from ``scene``: the sounding attributes
    (intervals, loudness, rhythm) permuted among the players of each instrument. The first is
    ``scene`` itself; a scene without a repeated instrument has only itself."""
    groups = defaultdict(list)
    for index, p in enumerate(scene.players):
        groups[p.instrument].append(index)
    groups = {name: members for name, members in groups.items() if len(members) > 1}
    if not groups:
        return [scene]
    sound = [(list(p.intervals), p.loudness_db, p.rhythm) for p in scene.players]
    out = []
    for choice in itertools.product(*(itertools.permutations(m) for m in groups.values())):
        source = list(range(len(scene.players)))
        for members, order in zip(groups.values(), choice):
            for target, origin in zip(members, order):
                source[target] = origin
        players = [Player(p.instrument, p.x, p.visible, *sound[source[i]]) for i, p in enumerate(scene.players)]
        out.append(Scene(scene.video_id, scene.seconds, players, scene.backdrop, list(scene.voiceover), scene.seed,
                         **_extra_fields(scene)))
    return out


def _extra_fields(scene: Scene) -> dict:
    """Scene fields beyond version 1's (the visual time line), copied as they are."""
    return {name: getattr(scene, name) for name in getattr(Scene, "V2_FIELDS", ())}


@dataclass
class SceneViews:
    """A scene's facts under each perceiving view, computed once (for many questions)."""

    scene: Scene
    vision: SceneFacts
    audio: SceneFacts
    swapped: list[SceneFacts]  # [0] is the scene itself

    @classmethod
    def of(cls, scene: Scene) -> "SceneViews":
        return cls(scene, scene_facts(vision_scene(scene)),
                   scene_facts(audio_scene(scene), positions_known=False),
                   [scene_facts(s) for s in swapped_scenes(scene)])

    def signature(self, view: str, rule: TemplateRule, values: Sequence[str]) -> Signature:
        """What ``view`` perceives of the question: an answer, :data:`UNKNOWN`, or (perfect
        view, ambiguous) the sorted tuple of the possible answers."""
        values = tuple(values)
        if view == "vision_only":
            return _or_unknown(rule.answer(self.vision, values))
        if view == "audio_only":
            facts = self.audio
            if rule.template.text in NAMED_POSITION_TEMPLATES:
                name_a, col_a, name_b, col_b = values
                placed = {col: facts.only_sounding(name) for col, name in ((col_a, name_a), (col_b, name_b))}
                facts = dataclasses.replace(facts, by_column={c: p for c, p in placed.items() if p is not None},
                                            _ordered={})
            return _or_unknown(rule.answer(facts, values))
        if view == "perfect":
            found = {_or_unknown(rule.answer(facts, values)) for facts in self.swapped}
            return found.pop() if len(found) == 1 else tuple(sorted(found))
        raise McdError(f"unknown view {view!r}; choose one of {', '.join(PERCEIVING_VIEWS)}")

    def signatures(self, rule: TemplateRule, values: Sequence[str]) -> dict[str, Signature]:
        return {view: self.signature(view, rule, values) for view in PERCEIVING_VIEWS}


def _or_unknown(answer: str | None) -> str:
    return UNKNOWN if answer is None else answer


# --------------------------------------------------------------------------- calibrated observers


def _canonical(template: str) -> str:
    found = find_template(template)
    if found is None:
        raise McdError(f"{template!r} is not one of the 33 MUSIC-AVQA templates")
    return found.text


@dataclass
class Observer:
    """The calibrated observer of one view: (template, signature) -> most frequent train answer."""

    view: str
    table: dict[tuple[str, object], str]
    prior: dict[str, Counter]  # template -> train answer counts

    @classmethod
    def fit(cls, view: str, rows: Iterable[tuple[str, object, str]]) -> "Observer":
        """``rows``: (canonical template, signature, true answer) of the calibration split."""
        counts: dict[tuple[str, object], Counter] = defaultdict(Counter)
        prior: dict[str, Counter] = defaultdict(Counter)
        for template, signature, answer in rows:
            counts[(template, signature)][answer] += 1
            prior[template][answer] += 1
        return cls(view, {key: _most_common(c) for key, c in counts.items()}, dict(prior))

    def answer(self, template: str, signature) -> str | None:
        found = self.table.get((template, signature))
        if found is not None:
            return found
        if isinstance(signature, str) and signature != UNKNOWN:
            return signature  # its own perception
        known = self.prior.get(template, Counter())
        if isinstance(signature, tuple):  # a set of options: the most frequent of them in train
            options = [a for a in signature if a != UNKNOWN]
            if options:
                return max(options, key=lambda a: (known[a], a))
        return _most_common(known) if known else None


def _most_common(counts: Counter) -> str:
    """The most frequent key; ties broken by the key (deterministic)."""
    return max(counts.items(), key=lambda item: (item[1], item[0]))[0]


# --------------------------------------------------------------------------- the table


def _as_questions(records: Sequence, split: str) -> list[Question]:
    records = list(records)
    if records and isinstance(records[0], Question):
        return records
    return parse_records(records, f"<{split} annotations>")


def question_signatures(questions: Sequence[Question], scenes: Mapping[str, Scene]) -> list[dict[str, object]]:
    """Per question, the signature of each perceiving view (:meth:`SceneViews.signature`)."""
    views: dict[str, SceneViews] = {}
    out = []
    for q in questions:
        scene = scenes.get(q.video_id)
        if scene is None:
            raise McdError(f"question {q.question_id}: no scene graph for video {q.video_id}; ceilings need "
                           "the scenes/ folder of a music-scenes build")
        if q.video_id not in views:
            views[q.video_id] = SceneViews.of(scene)
        out.append(views[q.video_id].signatures(RULES[_canonical(q.template)], q.templ_values))
    return out


def compute_ceilings(scenes: Mapping[str, Scene] | Sequence[Scene],
                     annotations: Mapping[str, Sequence[dict] | Sequence[Question]],
                     calibrate_on: str = CALIBRATION_SPLIT) -> dict:
    """The ceilings table (see the module doc) of ``annotations`` (``{split: records or
    Question list}``) on their ``scenes`` (``{video_id: Scene}`` or a list)."""
    if not isinstance(scenes, Mapping):
        scenes = {s.video_id: s for s in scenes}
    if calibrate_on not in annotations:
        raise McdError(f"ceilings: no {calibrate_on!r} split to calibrate the observers on; "
                       f"give annotations with splits including {calibrate_on!r}")
    questions = {split: _as_questions(records, split) for split, records in annotations.items()}
    signatures = {split: question_signatures(qs, scenes) for split, qs in questions.items()}
    templates = {split: [_canonical(q.template) for q in qs] for split, qs in questions.items()}
    calibration = list(zip(templates[calibrate_on], signatures[calibrate_on], questions[calibrate_on]))
    observers = {"prior": Observer.fit("prior", ((t, None, q.answer) for t, _, q in calibration))}
    for view in PERCEIVING_VIEWS:
        observers[view] = Observer.fit(view, ((t, s[view], q.answer) for t, s, q in calibration))
    table: dict = {}
    per_template: dict = {}
    for split, qs in questions.items():
        table[split], per_template[split] = {}, {}
        answers = {view: [observers[view].answer(t, s.get(view)) for t, s in zip(templates[split], signatures[split])]
                   for view in VIEWS}
        for view in VIEWS:
            predictions = {q.question_id: a or "" for q, a in zip(qs, answers[view])}
            result = evaluate(predictions, qs, missing="wrong", source=f"{view} on {split}") if qs else None
            table[split][view] = {row.label: (result.rows()[k][1] if result else None)
                                  for k, row in enumerate(REPORT_ROWS)}
        for text in dict.fromkeys(RULES):  # official template order
            index = [i for i, t in enumerate(templates[split]) if t == text]
            if not index:
                continue
            cell = RULES[text].template.cell
            entry = {"cell": _row_label(cell), "n": len(index)}
            for view in VIEWS:
                right = sum(answers[view][i] == qs[i].answer for i in index)
                entry[view] = round(100.0 * right / len(index), 2)
            per_template[split][text] = entry
    table["templates"] = per_template
    return table


def _row_label(cell: tuple[str, str]) -> str:
    return next(row.label for row in REPORT_ROWS if row.kind == "cell" and row.cells == (CELLS.index(cell),))


def dataset_ceilings(dataset_dir: str | Path) -> dict:
    """:func:`compute_ceilings` of a music-scenes folder (``scenes/`` and ``json/``)."""
    from mcdlib.data.music_avqa import load_split

    dataset_dir = Path(dataset_dir)
    splits = [p.stem[len("avqa-"):] for p in sorted((dataset_dir / "json").glob("avqa-*.json"))]
    if not splits or not (dataset_dir / "scenes").is_dir():
        raise McdError(f"{dataset_dir}: ceilings need the scene graphs (scenes/) and annotations (json/) "
                       "of a music-scenes build (`mcd data synth`)")
    annotations = {split: load_split(dataset_dir, split) for split in splits}
    needed = {q.video_id for qs in annotations.values() for q in qs}
    scenes = {vid: Scene.load(dataset_dir / "scenes" / f"{vid}.json") for vid in sorted(needed)}
    order = ("train", "val", "test")
    annotations = dict(sorted(annotations.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else 9, kv[0])))
    return compute_ceilings(scenes, annotations)


def read_ceilings(dataset_dir: str | Path) -> dict | None:
    """The ceilings table of a dataset folder: the manifest's ``"ceilings"``; for a
    music-scenes build made before they were stored, computed from its scene graphs; None when
    neither is available (e.g. real MUSIC-AVQA data)."""
    dataset_dir = Path(dataset_dir)
    manifest_path = dataset_dir / "manifest.json"
    if manifest_path.is_file():
        try:
            stored = json.loads(manifest_path.read_text()).get("ceilings")
        except (OSError, json.JSONDecodeError):
            stored = None
        if stored:
            return stored
    if (dataset_dir / "scenes").is_dir() and any((dataset_dir / "json").glob("avqa-*.json")):
        return dataset_ceilings(dataset_dir)
    return None


def format_ceilings(table: dict, split: str = "test", labels: Sequence[str] | None = None) -> str:
    """The ceilings of one split as a text table: one line per official row, one column per view."""
    if split not in table:
        raise McdError(f"no ceilings for split {split!r}; available: {', '.join(k for k in table if k != 'templates')}")
    labels = labels or [row.label for row in REPORT_ROWS]
    header = f"{'ceilings (' + split + ', %)':<24}" + "".join(f"{v:>13}" for v in VIEWS)
    lines = [header]
    for label in labels:
        cells = [table[split][view].get(label) for view in VIEWS]
        lines.append(f"{label:<24}" + "".join(f"{('-' if c is None else f'{c:.1f}'):>13}" for c in cells))
    return "\n".join(lines)


def ceilings_frame(table: dict, split: str = "test"):
    """The ceilings of one split as a pandas DataFrame (rows: official labels, columns: views)."""
    import pandas as pd

    return pd.DataFrame({view: table[split][view] for view in VIEWS})


def templates_frame(table: dict, split: str = "test"):
    """The per-template ceilings of one split as a pandas DataFrame (official template order)."""
    import pandas as pd

    return pd.DataFrame.from_dict(table["templates"][split], orient="index")
