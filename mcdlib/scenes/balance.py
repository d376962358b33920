"""Choosing balanced questions for music scenes and writing them as MUSIC-AVQA annotations.

:func:`make_annotations` turns scenes into the three official annotation lists (records with
the 7 official keys, ``anser`` included). How the questions are chosen:

* **Mix of types**: each video gets about ``profile.questions_per_video`` questions of
  different templates. A greedy chooser keeps the share of every (scenario, type) cell, and
  of every template inside it, close to the corrected official test split
  (:data:`OFFICIAL_TEST_TEMPLATE_COUNTS`): each question goes to the cell most behind its
  target share, then to that cell's template most behind, among the templates the scene can
  ask (:func:`mcdlib.scenes.questions.scene_candidates`).
* **Weak language priors**: inside a template, the chosen answer is the least used one so
  far among those the scene offers, and no answer may exceed ``BINARY_CAP`` (templates with
  two answers) or ``MULTI_CAP`` (more) of the template's questions (plus ``CAP_SLACK``).
  So guessing each template's (or cell's) most frequent answer, the prior a question-only
  model learns, scores about 50% per template on yes/no templates and far less elsewhere;
  :func:`majority_baseline` measures it (train majority evaluated on test).
* **Splits**: ``profile.split_by == "video"`` (default): videos are dealt to train / val /
  test by ``profile.split`` and questions are balanced inside each split, so no video's
  questions leak across splits. ``"question"``: as the official MUSIC-AVQA split (the same
  video appears in several splits): questions are balanced over all videos, then dealt to
  the splits within every (template, answer) group by a low-discrepancy sequence, so every
  split keeps the balance.

* **Balanced against the other sense** (generator version 2, ``profile.balance_views``):
  the answers of each template are balanced *within groups of questions that the other
  sense alone perceives the same way* (:class:`ViewBalancedChooser`): Audio questions are
  grouped by their vision-only signature, Visual questions by their audio-only signature,
  Audio-Visual questions by both (:meth:`mcdlib.scenes.ceilings.SceneViews.signature`).
  Inside a group the chosen answer is the one most behind an even share of the answers the
  group has offered, under the same caps (per group and per template). Knowing what one
  sense perceives then says little about the answer of a question filed under the other
  (or both), which is what :mod:`mcdlib.scenes.ceilings` measures. The balance is against
  scene-graph views, never against a trained model.

Everything is deterministic in ``seed``.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.data.templates import CELLS, TEMPLATES, canonical_template, find_template
from mcdlib.errors import ConfigError
from mcdlib.scenes.ceilings import SceneViews
from mcdlib.scenes.profiles import SceneProfile
from mcdlib.scenes.questions import RULES, Candidate, file_spelling, scene_candidates
from mcdlib.scenes.sampling import instrument_pool
from mcdlib.scenes.scene import Scene

#: questions per template in the corrected official test split (json_update/avqa-test.json,
#: 9,129 questions), in the order of mcdlib.data.templates.TEMPLATES: the target mix
OFFICIAL_TEST_TEMPLATE_COUNTS: dict[str, int] = dict(zip(
    (t.text for t in TEMPLATES),
    (364, 350, 303, 307, 158, 129, 297, 358, 273, 269, 340, 276, 323, 286, 267, 433, 288, 427,
     281, 275, 282, 262, 232, 345, 81, 291, 322, 244, 244, 361, 185, 176, 100), strict=True))
#: most an answer may take of a two-answer template's questions (before CAP_SLACK)
BINARY_CAP = 0.5
#: most an answer may take of a template's questions when it has three answers or more
MULTI_CAP = 0.4
#: questions an answer may exceed its cap by (lets small datasets start)
CAP_SLACK = 1
#: version 2: most of a template's questions whose answer the other sense alone perceives
AGREE_CAP = 0.5
GROUP_SLACK = 0.5
#: version 2: a template below this fraction of its target share skips the view caps (so
#: templates that one sense alone answers by nature, e.g. "Is there a voiceover?", stay present)
TEMPLATE_FLOOR = 0.2
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: the 7 keys of an official record, in the official order
RECORD_KEYS: tuple[str, ...] = ("video_id", "question_id", "type", "question_content",
                                "templ_values", "question_deleted", "anser")
_GOLDEN = (5 ** 0.5 - 1) / 2


def template_shares(counts: dict[str, int] | None = None) -> dict[str, float]:
    """Target share of every template (default: the official test mix)."""
    counts = counts or OFFICIAL_TEST_TEMPLATE_COUNTS
    total = sum(counts.values())
    return {text: n / total for text, n in counts.items()}


def cell_shares(counts: dict[str, int] | None = None) -> dict[tuple[str, str], float]:
    """Target share of every (scenario, type) cell (default: the official test mix)."""
    shares: dict[tuple[str, str], float] = defaultdict(float)
    for text, share in template_shares(counts).items():
        shares[RULES[text].template.cell] += share
    return dict(shares)


@dataclass(frozen=True)
class ChosenQuestion:
    """A question chosen for a video (canonical template text)."""

    video_id: str
    template: str
    templ_values: tuple[str, ...]
    answer: str


@dataclass
class QuestionChooser:
    """Greedy chooser that keeps the cell / template mix on target and answers balanced.

    One chooser is one balanced pool: call :meth:`choose` video after video.
    """

    rng: np.random.Generator
    template_share: dict[str, float] = field(default_factory=template_shares)
    total: int = 0
    per_cell: Counter = field(default_factory=Counter)
    per_template: Counter = field(default_factory=Counter)
    per_answer: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    per_cell_answer: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))
    answers_offered: dict[str, set] = field(default_factory=lambda: defaultdict(set))

    def __post_init__(self) -> None:
        self.cell_share = defaultdict(float)
        self.cell_templates: dict[tuple[str, str], list[str]] = defaultdict(list)
        for text, share in self.template_share.items():
            cell = RULES[text].template.cell
            self.cell_share[cell] += share
            self.cell_templates[cell].append(text)

    def _cap(self, template: str) -> float:
        domain = len(self.answers_offered[template])
        cap = BINARY_CAP if domain <= 2 else MULTI_CAP
        return cap * (self.per_template[template] + 1) + CAP_SLACK

    def _pick_answer(self, template: str, by_answer: dict[str, list[Candidate]]) -> str | None:
        cap = self._cap(template)
        counts, cell_counts = self.per_answer[template], self.per_cell_answer[RULES[template].template.cell]
        allowed = [a for a in by_answer if counts[a] + 1 <= cap]
        if not allowed:
            return None
        noise = self.rng.random(len(allowed))
        return min(zip(allowed, noise), key=lambda an: (counts[an[0]], cell_counts[an[0]], an[1]))[0]

    def _ranked(self, keys: Sequence, share: dict, count: Counter) -> list:
        """Keys most behind their target share first (random order among equals)."""
        noise = self.rng.random(len(keys))
        return [k for _, _, k in sorted(
            ((count[k] - share[k] * (self.total + 1), n, k) for k, n in zip(keys, noise)),
            key=lambda item: (item[0], item[1]))]

    def choose(self, video_id: str, options: dict[str, list[Candidate]], k: int) -> list[ChosenQuestion]:
        """Up to ``k`` questions of different templates for one video (fewer when the scene
        runs out of admissible templates)."""
        by_template: dict[str, dict[str, list[Candidate]]] = {}
        for text, found in options.items():
            if text not in self.template_share:
                continue
            groups: dict[str, list[Candidate]] = defaultdict(list)
            for cand in found:
                groups[cand.answer].append(cand)
            by_template[text] = groups
            self.answers_offered[text].update(groups)
        chosen: list[ChosenQuestion] = []
        for _ in range(k):
            pick = self._choose_one(by_template)
            if pick is None:
                break
            text, ans = pick
            cand = by_template.pop(text)[ans]
            values = cand[int(self.rng.integers(len(cand)))].templ_values
            self._count(text, ans)
            chosen.append(ChosenQuestion(video_id, text, values, ans))
        return chosen

    def _choose_one(self, by_template: dict[str, dict[str, list[Candidate]]]) -> tuple[str, str] | None:
        open_cells = [c for c in CELLS if any(t in by_template for t in self.cell_templates[c])]
        for cell in self._ranked(open_cells, self.cell_share, self.per_cell):
            templates = [t for t in self.cell_templates[cell] if t in by_template]
            for text in self._ranked(templates, self.template_share, self.per_template):
                ans = self._pick_answer(text, by_template[text])
                if ans is not None:
                    return text, ans
        return None

    def _count(self, template: str, answer: str) -> None:
        cell = RULES[template].template.cell
        self.total += 1
        self.per_cell[cell] += 1
        self.per_template[template] += 1
        self.per_answer[template][answer] += 1
        self.per_cell_answer[cell][answer] += 1


def view_conditions(template: str, signatures: dict[str, object]) -> tuple[tuple[str, object], ...]:
    """What the *other* sense perceives of a question of ``template``, as ``(view, signature)``
    pairs: the vision-only signature for Audio templates, the audio-only one for Visual
    templates, each of the two for Audio-Visual ones. Every pair names a group within which a
    :class:`ViewBalancedChooser` balances the template's answers."""
    scenario = RULES[template].template.scenario
    views = {"Audio": ("vision_only",), "Visual": ("audio_only",)}.get(scenario, ("vision_only", "audio_only"))
    return tuple((view, signatures[view]) for view in views)


@dataclass
class ViewBalancedChooser(QuestionChooser):
    """:class:`QuestionChooser` that balances answers within the groups of
    :func:`view_conditions` (generator version 2; see the module doc): a question may be
    chosen only if its answer stays under the cap of every group it belongs to, and the
    answer most behind an even share of its groups' offered answers is preferred.

    :meth:`choose` takes ``options`` as :func:`view_options` gives them.
    """

    per_group_answer: dict[tuple, Counter] = field(default_factory=lambda: defaultdict(Counter))
    group_offered: dict[tuple, set] = field(default_factory=lambda: defaultdict(set))
    agreement: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))

    def _pick_answer(self, template: str, by_key: dict) -> tuple | None:
        template_cap = self._cap(template)
        counts, cell_counts = self.per_answer[template], self.per_cell_answer[RULES[template].template.cell]
        allowed = []
        for answer, conditions, decidable in by_key:
            if counts[answer] + 1 > template_cap:
                continue
            deficit, fits = 0.0, True
            if self.per_template[template] < TEMPLATE_FLOOR * self.template_share[template] * (self.total + 1):
                conditions_checked = ()  # under its floor: only the template's own answer cap applies
            else:
                conditions_checked = conditions
            for view, perceived in conditions_checked:  # not needing this sense <= AGREE_CAP
                agree = self.agreement[(template, view)]
                if _shortcut(perceived, answer, decidable) and agree[True] + 1 > AGREE_CAP * (agree.total() + 1) + CAP_SLACK:
                    fits = False
                    break
            for condition in conditions_checked if fits else ():
                group = self.per_group_answer[(template, condition)]
                size, domain = sum(group.values()), len(self.group_offered[(template, condition)])
                if group[answer] + 1 > (BINARY_CAP if domain <= 2 else MULTI_CAP) * (size + 1) + GROUP_SLACK:
                    fits = False
                    break
                deficit += group[answer] - size / max(domain, 1)
            if fits:
                allowed.append(((deficit, counts[answer], cell_counts[answer]), (answer, conditions, decidable)))
        if not allowed:
            return None
        noise = self.rng.random(len(allowed))
        return min(zip(allowed, noise), key=lambda item: (item[0][0], item[1]))[0][1]

    def choose(self, video_id: str, options: dict, k: int) -> list[ChosenQuestion]:
        by_template: dict[str, dict[tuple, list[Candidate]]] = {}
        for text, found in options.items():
            if text not in self.template_share:
                continue
            groups: dict[tuple, list[Candidate]] = defaultdict(list)
            for cand, conditions, decidable in found:
                groups[(cand.answer, conditions, decidable)].append(cand)
                for condition in conditions:
                    self.group_offered[(text, condition)].add(cand.answer)
            by_template[text] = groups
            self.answers_offered[text].update(key[0] for key in groups)
        chosen: list[ChosenQuestion] = []
        for _ in range(k):
            pick = self._choose_one(by_template)
            if pick is None:
                break
            text, (answer, conditions, decidable) = pick
            cand = by_template.pop(text)[(answer, conditions, decidable)]
            values = cand[int(self.rng.integers(len(cand)))].templ_values
            self._count(text, answer)
            for condition in conditions:
                self.per_group_answer[(text, condition)][answer] += 1
                self.agreement[(text, condition[0])][_shortcut(condition[1], answer, decidable)] += 1
            chosen.append(ChosenQuestion(video_id, text, values, answer))
        return chosen


def _shortcut(perceived: object, answer: str, decidable: bool) -> bool:
    """Whether a question does not need the sense whose perception is ``perceived``: that
    perception alone is right, or not even perfect perception decides it."""
    return perceived == answer or not decidable


def view_options(scene: Scene, options: dict[str, list[Candidate]]) -> dict[str, list[tuple]]:
    """``options`` of a scene as ``(candidate, view_conditions, decidable)`` triples;
    ``decidable``: perfect perception answers it (:meth:`SceneViews.signature`)."""
    views = SceneViews.of(scene)
    out = {}
    for text, found in options.items():
        rule = RULES[text]
        out[text] = [(cand, view_conditions(text, views.signatures(rule, cand.templ_values)),
                      views.signature("perfect", rule, cand.templ_values) == cand.answer)
                     for cand in found]
    return out


# --------------------------------------------------------------------------- splits


def _check_split(profile: SceneProfile) -> tuple[float, float, float]:
    fractions = tuple(float(f) for f in profile.split)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"music-scenes profile {profile.name!r}: split={list(profile.split)} must "
                          "be three non-negative train/val/test fractions summing to 1")
    return fractions  # type: ignore[return-value]


def split_of_videos(n: int, fractions: Sequence[float], rng: np.random.Generator) -> list[str]:
    """Deal ``n`` videos to train / val / test (rounded fractions, random order)."""
    n_train = int(round(fractions[0] * n))
    n_val = min(n - n_train, int(round(fractions[1] * n)))
    labels = ["train"] * n_train + ["val"] * n_val + ["test"] * (n - n_train - n_val)
    return [labels[i] for i in np.argsort(rng.permutation(n), kind="stable")]


def split_of_questions(questions: Sequence[ChosenQuestion], fractions: Sequence[float],
                       rng: np.random.Generator) -> list[str]:
    """Deal questions to splits keeping every (template, answer) group in proportion."""
    edges = np.cumsum(fractions)[:-1]
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, q in enumerate(questions):
        groups[(q.template, q.answer)].append(i)
    labels = [""] * len(questions)
    position = 0
    offset = float(rng.random())
    for key in sorted(groups):
        members = groups[key]
        for j in rng.permutation(len(members)):
            u = (offset + position * _GOLDEN) % 1.0
            labels[members[j]] = SPLITS[int(np.searchsorted(edges, u, side="right"))]
            position += 1
    return labels


# --------------------------------------------------------------------------- annotations


def _video_key(video_id: str) -> int:
    return zlib.crc32(video_id.encode())


def _questions_per_video(profile: SceneProfile, rng: np.random.Generator, n: int) -> np.ndarray:
    if profile.questions_per_video <= 0:
        raise ConfigError(f"music-scenes profile {profile.name!r}: questions_per_video must be "
                          f"positive, got {profile.questions_per_video}")
    base = int(np.floor(profile.questions_per_video))
    extra = rng.random(n) < profile.questions_per_video - base
    return base + extra.astype(int)


def to_record(question: ChosenQuestion, question_id: int) -> dict:
    """An official annotation record (7 keys; ``type`` and ``templ_values`` JSON strings)."""
    template = RULES[question.template].template
    return {
        "video_id": question.video_id,
        "question_id": int(question_id),
        "type": json.dumps([template.scenario, template.qtype]),
        "question_content": file_spelling(template),
        "templ_values": json.dumps(list(question.templ_values)),
        "question_deleted": 0,
        "anser": question.answer,
    }


def choose_questions(scenes: Sequence[Scene], profile: SceneProfile, seed: int, stream: int = 0,
                     progress: bool = False) -> list[ChosenQuestion]:
    """Balanced questions for ``scenes``, one balanced pool (``stream`` tells pools apart)."""
    order_rng = np.random.default_rng([int(seed), 1, int(stream)])
    by_views = bool(getattr(profile, "balance_views", False))
    chooser = (ViewBalancedChooser if by_views else QuestionChooser)(np.random.default_rng([int(seed), 2, int(stream)]))
    counts = _questions_per_video(profile, order_rng, len(scenes))
    pool = instrument_pool(profile)
    out: list[ChosenQuestion] = []
    for i in tqdm(order_rng.permutation(len(scenes)), desc="choosing questions",
                  disable=not progress, unit="video"):
        scene = scenes[i]
        probe_rng = np.random.default_rng([int(seed), 3, _video_key(scene.video_id)])
        options = scene_candidates(scene, probe_rng, pool)
        if by_views:
            options = view_options(scene, options)
        out.extend(chooser.choose(scene.video_id, options, int(counts[i])))
    return out


def make_annotations(scenes: Sequence[Scene], profile: SceneProfile, seed: int = 0,
                     progress: bool = False) -> dict[str, list[dict]]:
    """The train / val / test annotation records of a music-scenes dataset.

    Returns ``{"train": [...], "val": [...], "test": [...]}``; each record has exactly the
    7 official keys (``anser`` spelt as in the official files; ``type`` and ``templ_values``
    JSON-encoded strings) and a question_id unique over all splits. Deterministic in
    ``(scenes, profile, seed)``; see the module docstring for the balancing and splitting.
    """
    fractions = _check_split(profile)
    split_rng = np.random.default_rng([int(seed), 0])
    if profile.split_by == "video":
        labels = split_of_videos(len(scenes), fractions, split_rng)
        chosen: list[tuple[str, ChosenQuestion]] = []
        for k, split in enumerate(SPLITS):
            members = [s for s, label in zip(scenes, labels) if label == split]
            chosen += [(split, q) for q in choose_questions(members, profile, seed, k + 1, progress)]
    elif profile.split_by == "question":
        questions = choose_questions(scenes, profile, seed, progress=progress)
        chosen = list(zip(split_of_questions(questions, fractions, split_rng), questions))
    else:
        raise ConfigError(f"music-scenes profile {profile.name!r}: split_by={profile.split_by!r}; "
                          "choose 'video' or 'question'")
    order = {s.video_id: i for i, s in enumerate(scenes)}
    template_order = {text: i for i, text in enumerate(RULES)}
    chosen.sort(key=lambda sq: (order[sq[1].video_id], template_order[sq[1].template]))
    out: dict[str, list[dict]] = {split: [] for split in SPLITS}
    for question_id, (split, question) in enumerate(chosen):
        out[split].append(to_record(question, question_id))
    return out


# --------------------------------------------------------------------------- measuring


def _template_of(record: dict) -> str:
    found = find_template(record["question_content"])
    return found.text if found else canonical_template(record["question_content"])


def _cell_of(record: dict) -> str:
    return record["type"] if isinstance(record["type"], str) else json.dumps(list(record["type"]))


PRIOR_KEYS = {"template": _template_of, "cell": _cell_of}


def majority_baseline(train: Iterable[dict], test: Iterable[dict], by: str = "template") -> float:
    """Accuracy on ``test`` of answering each question with the most frequent ``train``
    answer of its template (``by="template"``) or (scenario, type) cell (``by="cell"``);
    groups unseen in train get the overall train majority. The language prior a
    question-only model can exploit."""
    if by not in PRIOR_KEYS:
        raise ConfigError(f"majority_baseline(by={by!r}): choose one of {', '.join(PRIOR_KEYS)}")
    key = PRIOR_KEYS[by]
    per_group: dict[str, Counter] = defaultdict(Counter)
    overall: Counter = Counter()
    for r in train:
        per_group[key(r)][r["anser"]] += 1
        overall[r["anser"]] += 1
    fallback = overall.most_common(1)[0][0] if overall else None
    majority = {g: c.most_common(1)[0][0] for g, c in per_group.items()}
    test = list(test)
    if not test:
        return float("nan")
    return sum(majority.get(key(r), fallback) == r["anser"] for r in test) / len(test)


def cell_mix(records: Iterable[dict]) -> dict[tuple[str, str], float]:
    """Share of each (scenario, type) cell among records, in the official cell order."""
    counts = Counter(tuple(json.loads(_cell_of(r))) for r in records)
    total = sum(counts.values()) or 1
    return {cell: counts[cell] / total for cell in CELLS}
