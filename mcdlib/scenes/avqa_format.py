"""The music scenes rendered as AVQA: four-option multiple-choice questions (``--format avqa``).

``mcd data synth --format avqa`` builds the same scenes, media and features as the MUSIC-AVQA
rendering and writes the questions in AVQA's format (``json/{train,val,test}_qa.json``, records
with ``id``, ``video_name``, ``video_id``, ``question_text``, ``multi_choice``, ``answer``,
``question_relation``, ``question_type``), so the whole AVQA path (reader, multiple-choice
scoring, per-type evaluation) runs without the real data. Each question is answered from the
scene graph (:mod:`mcdlib.scenes.scene`) with the thresholds of :mod:`mcdlib.scenes.questions`.

The question kinds (CHOICE: the AVQA types that fit a music performance; *Why* and *Used For*
do not, so the rendering has none of them):

=============  ========  =============================================================  ==========================
question_type  relation  question                                                       options
=============  ========  =============================================================  ==========================
Which          Visual    Which instrument can be seen in the video?                     the instruments heard off screen, then absent ones
Which          Audio     Which instrument can be heard in the video?                    the silent instruments on stage, then absent ones
Which          Visual    Which instrument is played on the left of the stage?           the scene's instruments
Which          Audio     Which instrument sounds the loudest?                           the scene's instruments
Come From      Both      Where does the sound of the <violin> come from?                the left / the middle / the right / off screen
Happening      Both      What is the performer on the left doing?                       playing / holding <X> without playing, for two scene instruments
Where          Visual    Where is the <violin> on the stage?                            on the left / in the middle / on the right / not in the video
Before Next    Audio     Which instrument starts playing right after the <violin>?      the scene's other instruments
When           Audio     When does the <violin> start playing?                          at the beginning / in the middle / near the end / it never plays
=============  ========  =============================================================  ==========================

Asked only when well defined: a column names one visible player; "the loudest" beats every other
sounding player by ``MIN_LOUDNESS_GAP_DB``; the instrument of Come From / Before Next / When is
the only sounding player of its instrument (When's "it never plays": the only visible player of
its instrument, silent); "right after" needs onsets ``MIN_ONSET_GAP_S`` apart around it; a When
onset lies at least ``WHEN_MARGIN_S`` inside its third of the video; Where asks about the only
visible player of an instrument, or an instrument the scene neither shows nor plays.

**Options are not guessable from the question.** Instrument distractors come from the scene's
own instruments first (absent instruments of the profile's pool only fill the four; for "seen" /
"heard" the scene's instruments that are heard but not seen / seen but not heard), never the
instrument the question names; position, state and time options are the whole closed set of the
question kind. Options are shuffled, so the correct index is uniform over 0-3, and within each
kind the answer least used so far is chosen among those the scene offers (weak answer priors).
Relations (``Visual``, ``Audio``, ``Both``: which modality a question needs) are this
rendering's labels (CHOICE): the real AVQA files carry their own ``question_relation`` values,
which the reader takes as they are. Videos are split as the MUSIC-AVQA rendering of the same
seed splits them (:func:`mcdlib.scenes.balance.split_of_videos`); unlike the real AVQA (train and
val only) the rendering also writes a test split, so runs can pick the best epoch on val and
report test.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.data.avqa import (AvqaQuestion, NUM_OPTIONS, avqa_split_path, make_avqa_question,
                              write_avqa_annotations)
from mcdlib.data.text_cache import keyword_text
from mcdlib.errors import ConfigError
from mcdlib.scenes.balance import SPLITS, split_of_videos
from mcdlib.scenes.profiles import SceneProfile
from mcdlib.scenes.questions import (COLUMNS, MIN_LOUDNESS_GAP_DB, MIN_ONSET_GAP_S, SceneFacts, column_of,
                                     scene_facts)
from mcdlib.scenes.sampling import instrument_pool
from mcdlib.scenes.scene import Scene
from mcdlib.utils.io import file_sha256

ANNOTATION_FORMAT = "avqa"
#: bump when the questions of the rendering change: builds are keyed (and cached) by it
RENDER_VERSION = 2
#: what the AVQA rendering adds to a build's manifest key
KEY_PARTS = {"annotation_format": ANNOTATION_FORMAT, "avqa_rendering_version": RENDER_VERSION}
VISUAL, AUDIO, BOTH = "Visual", "Audio", "Both"
#: a When onset must lie this far (s) inside its third of the video
WHEN_MARGIN_S = 0.5
COME_FROM_OPTIONS = ("the left", "the middle", "the right", "off screen")
WHERE_OPTIONS = ("on the left", "in the middle", "on the right", "not in the video")
WHEN_OPTIONS = ("at the beginning", "in the middle", "near the end", "it never plays")


@dataclass(frozen=True)
class SceneQuestion:
    """One multiple-choice question a scene can answer, before its options are drawn.

    Distractors are drawn from ``own`` first (the scene's own instruments, or the closed set of
    the kind), then from ``fill`` (instruments absent from the scene), each group shuffled."""

    kind: str
    text: str
    answer: str
    own: tuple[str, ...]
    fill: tuple[str, ...] = ()


@dataclass(frozen=True)
class Kind:
    """A question kind: its AVQA type and relation and the questions it asks of a scene."""

    name: str
    qtype: str
    relation: str
    ask: Callable[[SceneFacts, Sequence[str], np.random.Generator], list[SceneQuestion]]


#: how a stage column is named in a question
COLUMN_PHRASE = {"left": "on the left", "middle": "in the middle", "right": "on the right"}


def _name(instrument: str) -> str:
    return keyword_text(instrument)


def _instrument_groups(facts: SceneFacts, pool: Sequence[str], *exclude: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the scene's other instruments, the pool's instruments absent from the scene), as text."""
    present = list(dict.fromkeys(p.instrument for p in facts.scene.players))
    own = tuple(_name(i) for i in present if i not in exclude)
    absent = tuple(_name(i) for i in pool if i not in present and i not in exclude)
    return own, absent


def _which_seen_or_heard(kind: str, verb: str, present: dict, others: set):
    def ask(facts, pool, rng):
        """One question per instrument that is seen (heard); traps: the scene's instruments that
        are only heard (only seen), then absent ones."""
        shown, traps = present(facts), others(facts)
        everything = {p.instrument for p in facts.scene.players}
        trap_names = tuple(_name(i) for i in sorted(traps - shown))
        absent = tuple(_name(i) for i in pool if i not in everything)
        return [SceneQuestion(kind, f"Which instrument can be {verb} in the video?", _name(i), trap_names, absent)
                for i in sorted(shown)]
    return ask


_which_seen = _which_seen_or_heard("which_seen", "seen", lambda f: set(f.visible_by_name), lambda f: set(f.sounding_by_name))
_which_heard = _which_seen_or_heard("which_heard", "heard", lambda f: set(f.sounding_by_name), lambda f: set(f.visible_by_name))


def _which_column(facts, pool, rng):
    out = []
    for column, player in facts.by_column.items():
        out.append(SceneQuestion("which_column", f"Which instrument is played {COLUMN_PHRASE[column]} of the stage?",
                                 _name(player.instrument), *_instrument_groups(facts, pool, player.instrument)))
    return out


def _which_loudest(facts, pool, rng):
    if len(facts.sounding) < 2:
        return []
    loudest = max(facts.sounding, key=lambda p: p.loudness_db)
    if any(p is not loudest and loudest.loudness_db - p.loudness_db < MIN_LOUDNESS_GAP_DB for p in facts.sounding):
        return []
    return [SceneQuestion("which_loudest", "Which instrument sounds the loudest?", _name(loudest.instrument),
                          *_instrument_groups(facts, pool, loudest.instrument))]


def _closed(kind: str, text: str, answer: str, options: Sequence[str]) -> SceneQuestion:
    return SceneQuestion(kind, text, answer, tuple(o for o in options if o != answer))


def _come_from(facts, pool, rng):
    out = []
    for instrument in sorted(facts.sounding_by_name):
        player = facts.only_sounding(instrument)
        if player is None:
            continue
        answer = f"the {column_of(player.x)}" if player.visible else "off screen"
        out.append(_closed("come_from", f"Where does the sound of the {_name(instrument)} come from?", answer,
                           COME_FROM_OPTIONS))
    return out


def _happening(facts, pool, rng):
    out = []
    states = {True: "playing the {}", False: "holding the {} without playing"}
    for column, player in facts.by_column.items():
        own, absent = _instrument_groups(facts, pool, player.instrument)
        others = own or absent
        other = others[int(rng.integers(len(others)))]
        name = _name(player.instrument)
        answer = states[bool(player.intervals)].format(name)
        out.append(_closed("happening", f"What is the performer {COLUMN_PHRASE[column]} doing?", answer,
                           [states[s].format(i) for i in (name, other) for s in (True, False)]))
    return out


def _where(facts, pool, rng):
    out = []
    heard = set(facts.sounding_by_name)
    for instrument in pool:
        player = facts.only_visible(instrument)
        if player is not None:
            answer = WHERE_OPTIONS[COLUMNS.index(column_of(player.x))]
        elif instrument not in facts.visible_by_name and instrument not in heard:
            answer = WHERE_OPTIONS[-1]
        else:
            continue  # several on stage, or heard off screen: not well defined
        out.append(_closed("where", f"Where is the {_name(instrument)} on the stage?", answer, WHERE_OPTIONS))
    return out


def _before_next(facts, pool, rng):
    out = []
    ordered = sorted(facts.sounding, key=lambda p: p.onset)
    for k, player in enumerate(ordered[:-1]):
        if facts.only_sounding(player.instrument) is None:
            continue
        if any(q is not player and abs(q.onset - player.onset) < MIN_ONSET_GAP_S for q in ordered):
            continue
        following = ordered[k + 1]
        after = ordered[k + 2].onset if k + 2 < len(ordered) else None
        if after is not None and after - following.onset < MIN_ONSET_GAP_S:
            continue
        if following.instrument == player.instrument:
            continue
        out.append(SceneQuestion("before_next",
                                 f"Which instrument starts playing right after the {_name(player.instrument)}?",
                                 _name(following.instrument),
                                 *_instrument_groups(facts, pool, player.instrument, following.instrument)))
    return out


def _when(facts, pool, rng):
    out = []
    third = facts.scene.seconds / 3
    for instrument in sorted(set(facts.sounding_by_name) | set(facts.visible_by_name)):
        sounding = facts.only_sounding(instrument)
        if sounding is not None:
            onset = sounding.onset
            index = min(2, int(onset // third))
            near_start = index > 0 and onset - index * third < WHEN_MARGIN_S
            near_end = index < 2 and (index + 1) * third - onset < WHEN_MARGIN_S
            if near_start or near_end:
                continue  # too close to the boundary between two thirds
            answer = WHEN_OPTIONS[index]
        else:
            visible = facts.only_visible(instrument)
            if visible is None or visible.intervals or instrument in facts.sounding_by_name:
                continue
            answer = WHEN_OPTIONS[-1]
        out.append(_closed("when", f"When does the {_name(instrument)} start playing?", answer, WHEN_OPTIONS))
    return out


#: the question kinds, in record order (see the module table)
KINDS: tuple[Kind, ...] = (
    Kind("which_seen", "Which", VISUAL, _which_seen),
    Kind("which_heard", "Which", AUDIO, _which_heard),
    Kind("which_column", "Which", VISUAL, _which_column),
    Kind("which_loudest", "Which", AUDIO, _which_loudest),
    Kind("come_from", "Come From", BOTH, _come_from),
    Kind("happening", "Happening", BOTH, _happening),
    Kind("where", "Where", VISUAL, _where),
    Kind("before_next", "Before Next", AUDIO, _before_next),
    Kind("when", "When", AUDIO, _when),
)
KIND_OF: dict[str, Kind] = {k.name: k for k in KINDS}


def scene_questions(scene: Scene, pool: Sequence[str], rng: np.random.Generator | None = None
                    ) -> dict[str, list[SceneQuestion]]:
    """Every well-defined question of every kind on a scene (kind name → questions)."""
    facts = scene_facts(scene)
    rng = rng if rng is not None else np.random.default_rng(0)
    out = {}
    for kind in KINDS:
        found = kind.ask(facts, pool, rng)
        if found:
            out[kind.name] = found
    return out


def draw_options(question: SceneQuestion, rng: np.random.Generator) -> tuple[list[str], int]:
    """Four options, shuffled, and the answer's index: the answer and three distractors drawn
    from ``own`` first, then ``fill`` (each group in random order)."""
    groups = [[d for d in dict.fromkeys(group) if d != question.answer] for group in (question.own, question.fill)]
    candidates = [g[i] for g in groups for i in rng.permutation(len(g))]
    if len(candidates) < NUM_OPTIONS - 1:
        raise ConfigError(f"question {question.text!r}: only {len(candidates)} distractors; the profile's "
                          f"instrument pool needs at least {NUM_OPTIONS + 1} instruments for the AVQA rendering")
    options = [question.answer] + candidates[:NUM_OPTIONS - 1]
    order = rng.permutation(NUM_OPTIONS)
    return [options[i] for i in order], int(np.flatnonzero(order == 0)[0])


class _Chooser:
    """Picks, video after video, the kinds most behind an even share and within a kind the answer
    used least so far (random ties): weak answer priors, as the MUSIC-AVQA chooser."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.per_kind: Counter = Counter()
        self.per_answer: dict[str, Counter] = defaultdict(Counter)

    def choose(self, found: dict[str, list[SceneQuestion]], k: int) -> list[SceneQuestion]:
        kinds = list(found)
        noise = self.rng.random(len(kinds))
        ranked = [kind for _, _, kind in sorted((self.per_kind[kind], n, kind) for kind, n in zip(kinds, noise))]
        chosen = []
        for kind in ranked[:k]:
            questions = found[kind]
            counts = self.per_answer[kind]
            noise = self.rng.random(len(questions))
            pick = min(zip(questions, noise), key=lambda qn: (counts[qn[0].answer], qn[1]))[0]
            self.per_kind[kind] += 1
            counts[pick.answer] += 1
            chosen.append(pick)
        return chosen


def make_avqa_questions(scenes: Sequence[Scene], profile: SceneProfile, seed: int = 0,
                        progress: bool = False) -> dict[str, list[AvqaQuestion]]:
    """The train / val / test AVQA questions of the scenes (deterministic in the arguments).

    About ``profile.questions_per_video`` questions of different kinds per video; ids unique
    over splits; ``video_id`` is the scene's index, ``video_name`` its video id.
    """
    fractions = tuple(float(f) for f in profile.split)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(f"music-scenes profile {profile.name!r}: split={list(profile.split)} must be three "
                          "non-negative train/val/test fractions summing to 1")
    pool = instrument_pool(profile)
    if len(pool) < NUM_OPTIONS + 1:
        raise ConfigError(f"music-scenes profile {profile.name!r}: the AVQA rendering needs at least "
                          f"{NUM_OPTIONS + 1} instruments to draw options from, the profile has {len(pool)}")
    labels = split_of_videos(len(scenes), fractions, np.random.default_rng([int(seed), 0]))
    rng = np.random.default_rng([int(seed), 7])
    base = int(np.floor(profile.questions_per_video))
    extra = rng.random(len(scenes)) < profile.questions_per_video - base
    chooser = _Chooser(np.random.default_rng([int(seed), 8]))
    if profile.split_by == "question":
        question_rng = np.random.default_rng([int(seed), 9])
    out: dict[str, list[AvqaQuestion]] = {split: [] for split in SPLITS}
    question_id = 0
    kind_order = {kind.name: i for i, kind in enumerate(KINDS)}
    for index, scene in enumerate(tqdm(scenes, desc="AVQA questions", unit="video", disable=not progress,
                                       leave=False)):
        picked = chooser.choose(scene_questions(scene, pool, rng), base + int(extra[index]))
        for question in sorted(picked, key=lambda q: kind_order[q.kind]):
            kind = KIND_OF[question.kind]
            options, answer = draw_options(question, rng)
            split = labels[index]
            if profile.split_by == "question":
                split = SPLITS[int(np.searchsorted(np.cumsum(fractions)[:-1], question_rng.random(), side="right"))]
            out[split].append(make_avqa_question(question_id, scene.video_id, index, question.text, options,
                                                 answer, kind.qtype, kind.relation))
            question_id += 1
    return out


def annotation_counts(annotations: dict[str, list[AvqaQuestion]]) -> dict:
    """What the manifest records of the questions: per split the questions and videos, the
    question types, the relations and the correct option positions."""
    return {
        "splits": {s: {"questions": len(qs), "videos": len({q.video_id for q in qs})} for s, qs in annotations.items()},
        "types": {s: dict(sorted(Counter(q.qtype for q in qs).items())) for s, qs in annotations.items()},
        "relations": {s: dict(sorted(Counter(q.relation for q in qs).items())) for s, qs in annotations.items()},
        "answers": {s: dict(sorted(Counter(str(q.answer_index) for q in qs).items())) for s, qs in annotations.items()},
    }


def render_avqa(out_dir: str | Path, scenes: Sequence[Scene], profile: SceneProfile, seed: int,
                manifest: dict, progress: bool = False) -> None:
    """The build hook of ``--format avqa``: replace the MUSIC-AVQA files of ``out_dir/json`` by
    the AVQA rendering (``json/<split>_qa.json``) and record its counts and hashes in ``manifest``."""
    out_dir = Path(out_dir)
    for old in (out_dir / "json").glob("avqa-*.json"):
        old.unlink()
    annotations = make_avqa_questions(scenes, profile, seed, progress)
    hashes = {}
    for split, questions in annotations.items():
        path = write_avqa_annotations(questions, avqa_split_path(out_dir, split, "json"))
        hashes[f"json/{path.name}"] = file_sha256(path)
    manifest["annotation_format"] = ANNOTATION_FORMAT
    manifest["counts"] = {"videos": len(scenes), **annotation_counts(annotations)}
    manifest.setdefault("hashes", {})["annotations"] = hashes

