"""The 33 official MUSIC-AVQA templates, answered exactly from a scene graph.

Each template is a :class:`TemplateRule`: ``fillers(facts)`` proposes ``templ_values`` for a
scene and ``answer(facts, values)`` computes the answer, or ``None`` when the question is not
well defined for that scene (an undefined reference, a tie, a difference too small to be
decided from the audio). :func:`candidates` lists the well-defined (templ_values, answer)
pairs of a scene; :func:`answer` is the oracle that recomputes any record's answer.

>>> from mcdlib.scenes.scene import Player, Scene
>>> duo = Scene("ms000000", 10, [Player("violin", 0.17, intervals=[(0, 10)], loudness_db=-7),
...                              Player("cello", 0.83, intervals=[(4, 10)], loudness_db=-19)])
>>> answer(duo, "Where is the <FL> sounding instrument?", ["first"])
'left'
>>> answer(duo, "Is the <Object> louder than the <Object>?", ["cello", "violin"])
'no'

Vocabulary used below. *Visible players* stand on stage, left to right; *sounding players*
are those with at least one sounding interval, on stage or off screen (``visible=False``).
*Column*: the stage is cut into three equal columns, left / middle / right; ``<LR>`` names
"the instrument on the left/middle/right" only when exactly one visible player stands in
that column (with four players "middle" holds two, so it is never a reference; as an
*answer* to a "where" question it is still correct). *Onset*: the start of a player's first
sounding interval; the *first* / *last* sounding player is the one whose onset is strictly
earliest / latest, at least ``MIN_ONSET_GAP_S`` from every other sounding player's onset.
*Louder*: a loudness difference of at least ``MIN_LOUDNESS_GAP_DB``; *more rhythmic*: a
note-density ratio of at least ``MIN_RHYTHM_RATIO``; *longer*: at least
``MIN_DURATION_GAP_S`` more sounding time. Counts are answered as words ("zero" ... "ten",
"more than ten"). "the <Object>" refers to the only player of that instrument: the only
*sounding* one in questions about its sound (Audio Comparative, "at the same time as",
"before / after"), the only *visible* one otherwise.

| cell | template | answer | asked only when |
|---|---|---|---|
| Audio Counting | How many musical instruments were heard throughout the video? | number of sounding players (on stage or off screen; two violins count two) | always |
| Audio Counting | Is there a <Object> sound? | yes iff a sounding player plays <Object> | always |
| Audio Counting | Are there <Object> and <Object> sound? | yes iff both instruments are sounding | the two differ |
| Audio Comparative | Is the <Object> louder than the <Object>? | yes iff the first is louder | each is the only sounding player of its instrument; the levels differ by >= 4 dB |
| Audio Comparative | Is the <Object> more rhythmic than the <Object>? | yes iff the first has the higher note density | as above, densities differ by a ratio >= 1.5 |
| Audio Comparative | Is the <Object> playing longer than the <Object>? | yes iff the first sounds longer in total | as above, sounding times differ by >= 2 s |
| Visual Counting | How many types of musical instruments appeared in the entire video? | number of distinct visible instruments | always |
| Visual Counting | How many <Object> are in the entire video? | number of visible players of <Object> (zero if absent) | always |
| Visual Counting | Are there <Object> and <Object> instruments in the video? | yes iff both are visible | the two differ |
| Visual Counting | Is there a <Object> in the entire video? | yes iff <Object> is visible | always |
| Visual Location | What is the instrument on the <LR> of <Object>? | instrument of the nearest visible player on that side of the <Object> | <LR> is left or right; <Object> is visible once; someone stands on that side |
| Visual Location | What kind of musical instrument is it? | the instrument on stage | all visible players play the same instrument |
| Visual Location | Where is the performance? | indoor / outdoor (the backdrop) | always |
| Visual Location | What kind of instrument is the <LRer> instrument? | instrument of the leftest / rightest visible player | at least two visible players |
| Audio-Visual Existential | Is this sound from the instrument in the video? | no iff an off-screen instrument sounds | always |
| Audio-Visual Existential | Is there a voiceover? | yes iff the scene has a voiceover | always |
| Audio-Visual Existential | Is the <Object> in the video always playing? | yes iff it sounds during the whole video | <Object> is visible once |
| Audio-Visual Counting | How many sounding <Object> in the video? | number of visible players of <Object> that sound at some time | always |
| Audio-Visual Counting | How many instruments in the video did not sound from beginning to end? | number of visible players that never sound | always |
| Audio-Visual Counting | How many instruments are sounding in the video? | number of visible players that sound at some time | always |
| Audio-Visual Counting | How many types of musical instruments sound in the video? | number of distinct instruments among visible sounding players | always |
| Audio-Visual Location | Is the <FL> sound coming from the <LR> instrument? | yes iff the first / last sounding player is the one in column <LR> | the first / last sounding player exists; <LR> names one player |
| Audio-Visual Location | Where is the <LL> instrument? | column of the loudest / lowest (quietest) sounding player | >= 2 sounding players; it beats all others by >= 4 dB; it is visible |
| Audio-Visual Location | Which is the musical instrument that sounds at the same time as the <Object>? | the only other instrument whose sound overlaps the <Object>'s by >= 1 s | <Object> is the only sounding player of its instrument; every other sounding player overlaps it by 0 s or >= 1 s; exactly one instrument overlaps |
| Audio-Visual Location | What is the <LR> instrument of the <FL> sounding instrument? | instrument of the nearest visible player on side <LR> of the first / last sounding player | <LR> is left or right; that player is visible and has a neighbour on that side |
| Audio-Visual Comparative | Is the <Object> on the <LR> louder than the <Object> on the <LR>? | yes iff the first player is louder | each <LR> names one player, playing that <Object>; both sound; >= 4 dB apart |
| Audio-Visual Comparative | Is the instrument on the <LR> louder than the instrument on the <LR>? | yes iff the first player is louder | each <LR> names one player; both sound; >= 4 dB apart |
| Audio-Visual Comparative | Is the instrument on the <LR> more rhythmic than the instrument on the <LR>? | yes iff the first has the higher note density | as above, ratio >= 1.5 |
| Audio-Visual Comparative | Is the <Object> on the <LR> more rhythmic than the <Object> on the <LR>? | yes iff the first has the higher note density | as the louder variant, ratio >= 1.5 |
| Audio-Visual Temporal | What is the <TH> instrument that comes in? | instrument of the player whose onset is the <TH> | that player's onset is >= 1 s from every other onset |
| Audio-Visual Temporal | Where is the <FL> sounding instrument? | column of the first / last sounding player | it exists and is visible |
| Audio-Visual Temporal | Which <Object> makes the sound <FL>? | "simultaneously" if all sounding <Object> players start together, else the column of the first / last of them | at least two visible <Object> players, one of them sounding; the answer is unambiguous |
| Audio-Visual Temporal | Which instrument makes sounds <BA> the <Object>? | the only instrument whose onset is before / after the <Object>'s (by >= 1 s) | <Object> is the only sounding player of its instrument; exactly one other instrument starts before / after it |

Two readings are ours (the official files do not define them): "did not sound from
beginning to end" counts players that never sound, and "lowest" means quietest.
"simultaneously" answers "Which <Object> makes the sound <FL>?", as in the official files.

**Generator version 2** (scenes with ``scene.version == 2``) reads three Audio-Visual
templates about the video's instruments: "What is the <TH> instrument that comes in?",
"Which is the musical instrument that sounds at the same time as the <Object>?" and "Which
instrument makes sounds <BA> the <Object>?" consider only the sounding players *in the
video* (visible; an off-screen instrument is ignored, and "the <Object>" must be in the
video), as "How many instruments are sounding in the video?" always did. Heard alone, the
order of entries does not tell which instrument of the video comes in first; it takes
both senses (:mod:`mcdlib.scenes.ceilings`). Version-1 scenes keep the rules above.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

from mcdlib.data.templates import (INSTRUMENTS, PLACEHOLDER_FILLERS, TEMPLATES, Template,
                                   find_template)
from mcdlib.errors import AnnotationError
from mcdlib.scenes.scene import Player, Scene

#: smallest loudness difference (dB) a "louder" / "loudest" question relies on
MIN_LOUDNESS_GAP_DB = 4.0
#: smallest note-density ratio a "more rhythmic" question relies on
MIN_RHYTHM_RATIO = 1.5
#: smallest difference of total sounding time (s) a "playing longer" question relies on
MIN_DURATION_GAP_S = 2.0
#: smallest onset difference (s) that orders two players in time (one segment)
MIN_ONSET_GAP_S = 1.0
#: onsets closer than this (s) start "simultaneously"
SAME_ONSET_S = 0.25
#: smallest overlap (s) of two players' sound that counts as "at the same time"
MIN_OVERLAP_S = 1.0
#: absent instruments proposed per scene for <Object> fillers when sampling candidates
ABSENT_PROBES = 2

COLUMNS: tuple[str, ...] = ("left", "middle", "right")
COUNT_WORDS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven",
                                "eight", "nine", "ten")
YES, NO = "yes", "no"

#: spelling of templates in the official files where it differs from the canonical one
FILE_SPELLINGS: dict[str, str] = {
    "How many sounding <Object> in the video?": "How many sounding <Object> in the video\uff1f",
    "Are there <Object> and <Object> sound?": "Are there <Object> and <Object> sound? ",
    "What kind of instrument is the <LRer> instrument?": "What kind of instrument is the <LRer> instrument? ",
}

Values = tuple[str, ...]


def file_spelling(template: Template | str) -> str:
    """A template exactly as the official files write it (full-width "?", trailing spaces)."""
    text = template.text if isinstance(template, Template) else template
    return FILE_SPELLINGS.get(text, text)


def count_word(n: int) -> str:
    """A count as MUSIC-AVQA answers it: "zero" ... "ten", then "more than ten"."""
    return COUNT_WORDS[n] if n < len(COUNT_WORDS) else "more than ten"


def yes_no(flag: bool) -> str:
    return YES if flag else NO


def column_of(x: float) -> str:
    """The stage column (left / middle / right) of a horizontal position in [0, 1]."""
    return COLUMNS[min(2, max(0, int(x * 3)))]


# --------------------------------------------------------------------------- scene facts


@dataclass
class SceneFacts:
    """What the templates read from a scene, computed once.

    ``probes`` are the instruments proposed as ``<Object>`` fillers: every instrument of the
    scene, then absent ones (all of them, or ``ABSENT_PROBES`` drawn at random).
    ``positions_known=False`` describes an observer who does not know where players stand
    (:mod:`mcdlib.scenes.ceilings`, the audio-only view): no column is a reference, players
    have no neighbours, columns and left/right extremes are undefined.
    """

    scene: Scene
    visible: list[Player]
    sounding: list[Player]
    by_column: dict[str, Player]
    visible_by_name: dict[str, list[Player]]
    sounding_by_name: dict[str, list[Player]]
    probes: tuple[str, ...] = field(default=())
    positions_known: bool = True
    _ordered: dict[str, Player | None] = field(default_factory=dict, repr=False)

    def first_or_last_sounding(self, which: str) -> Player | None:
        """The first / last sounding player of the scene (see :func:`first_or_last`), cached."""
        if which not in self._ordered:
            self._ordered[which] = first_or_last(self.sounding, which)
        return self._ordered[which]

    def only_visible(self, name: str) -> Player | None:
        """The only visible player of an instrument, or None (absent or several)."""
        players = self.visible_by_name.get(name, [])
        return players[0] if len(players) == 1 else None

    def only_sounding(self, name: str) -> Player | None:
        """The only sounding player of an instrument (on stage or off), or None."""
        players = self.sounding_by_name.get(name, [])
        return players[0] if len(players) == 1 else None

    @property
    def in_video_only(self) -> bool:
        """Whether the Audio-Visual order/overlap rules ignore off-screen players (version 2)."""
        return getattr(self.scene, "version", 1) >= 2

    @property
    def av_sounding(self) -> list[Player]:
        """The sounding players the Audio-Visual order/overlap templates consider: all of them
        (version 1) or those in the video (version 2)."""
        return [p for p in self.sounding if p.visible] if self.in_video_only else self.sounding

    def av_reference(self, name: str) -> Player | None:
        """"the <Object>" of those templates: the only sounding player of the instrument, which
        in version 2 must be in the video."""
        ref = self.only_sounding(name)
        return None if ref is None or (self.in_video_only and not ref.visible) else ref

    def neighbour(self, player: Player, side: str) -> Player | None:
        """The nearest visible player on the ``left`` / ``right`` of a visible player."""
        if not self.positions_known:
            return None
        k = next(i for i, p in enumerate(self.visible) if p is player)
        k += -1 if side == "left" else 1
        return self.visible[k] if 0 <= k < len(self.visible) else None

    def column(self, player: Player) -> str | None:
        return column_of(player.x) if self.positions_known else None


def scene_facts(scene: Scene, rng: np.random.Generator | None = None,
                pool: Sequence[str] = INSTRUMENTS, positions_known: bool = True) -> SceneFacts:
    """Facts of a scene; with ``rng``, only ``ABSENT_PROBES`` absent instruments of ``pool``
    are proposed as ``<Object>`` fillers (else all absent ones). ``positions_known=False``:
    see :class:`SceneFacts`."""
    visible = scene.visible_players
    sounding = [p for p in scene.players if p.intervals]
    per_column: dict[str, list[Player]] = defaultdict(list)
    for p in visible:
        per_column[column_of(p.x)].append(p)
    visible_by_name: dict[str, list[Player]] = defaultdict(list)
    for p in visible:
        visible_by_name[p.instrument].append(p)
    sounding_by_name: dict[str, list[Player]] = defaultdict(list)
    for p in sounding:
        sounding_by_name[p.instrument].append(p)
    present = list(dict.fromkeys(p.instrument for p in scene.players))
    absent = [name for name in pool if name not in present]
    if rng is not None and len(absent) > ABSENT_PROBES:
        absent = [absent[i] for i in sorted(rng.choice(len(absent), ABSENT_PROBES, replace=False))]
    return SceneFacts(scene=scene, visible=visible, sounding=sounding,
                      by_column={c: ps[0] for c, ps in per_column.items() if len(ps) == 1} if positions_known else {},
                      visible_by_name=dict(visible_by_name),
                      sounding_by_name=dict(sounding_by_name),
                      probes=tuple(present + absent), positions_known=positions_known)


# --------------------------------------------------------------------------- shared relations


def covers_whole_video(player: Player, seconds: float) -> bool:
    """Whether a player sounds from 0 to the end without a break."""
    t = 0.0
    for start, end in sorted(player.intervals):
        if start > t + 1e-6:
            return False
        t = max(t, end)
    return t >= seconds - 1e-6


def overlap_seconds(a: Player, b: Player) -> float:
    """Seconds during which both players sound."""
    return sum(max(0.0, min(e1, e2) - max(s1, s2))
               for s1, e1 in a.intervals for s2, e2 in b.intervals)


def _onset_order_defined(onset: float, others: Iterable[float]) -> bool:
    """Whether ``onset`` is ordered against every other onset (apart by >= MIN_ONSET_GAP_S)."""
    return all(abs(onset - o) >= MIN_ONSET_GAP_S for o in others)


def first_or_last(players: Sequence[Player], which: str) -> Player | None:
    """The player whose onset is strictly first / last (by >= MIN_ONSET_GAP_S), or None."""
    if not players:
        return None
    pick = (min if which == "first" else max)(players, key=lambda p: p.onset)
    others = [p.onset for p in players if p is not pick]
    return pick if _onset_order_defined(pick.onset, others) else None


def louder(a: Player, b: Player) -> bool | None:
    """True / False when a is louder / quieter than b by >= MIN_LOUDNESS_GAP_DB, else None."""
    gap = a.loudness_db - b.loudness_db
    return None if abs(gap) < MIN_LOUDNESS_GAP_DB else gap > 0


def more_rhythmic(a: Player, b: Player) -> bool | None:
    """True / False when a's note density is >= MIN_RHYTHM_RATIO times b's (or the reverse)."""
    if a.rhythm >= b.rhythm * MIN_RHYTHM_RATIO:
        return True
    if b.rhythm >= a.rhythm * MIN_RHYTHM_RATIO:
        return False
    return None


def playing_longer(a: Player, b: Player) -> bool | None:
    gap = a.sounding_seconds - b.sounding_seconds
    return None if abs(gap) < MIN_DURATION_GAP_S else gap > 0


def _distinct_pairs(names: Sequence[str]) -> list[Values]:
    return [(a, b) for a in names for b in names if a != b]


def _column_pairs(facts: SceneFacts) -> list[Values]:
    return _distinct_pairs(list(facts.by_column))


# --------------------------------------------------------------------------- the templates


@dataclass(frozen=True)
class TemplateRule:
    """How one template is asked and answered on a scene."""

    template: Template
    fillers: Callable[[SceneFacts], Iterable[Values]]
    answer: Callable[[SceneFacts, Values], str | None]


@dataclass(frozen=True)
class Candidate:
    """A well-defined question of a template on a scene."""

    templ_values: Values
    answer: str


def NO_FILLERS(facts: SceneFacts) -> list[Values]:
    """Fillers of a template without placeholders: the one empty ``templ_values``."""
    return [()]


def _objects(facts: SceneFacts) -> list[Values]:
    return [(name,) for name in facts.probes]


def _object_pairs(facts: SceneFacts) -> list[Values]:
    return _distinct_pairs(facts.probes)


def _sounding_names(facts: SceneFacts) -> list[Values]:
    return [(name,) for name in facts.sounding_by_name]


def _visible_names(facts: SceneFacts) -> list[Values]:
    return [(name,) for name in facts.visible_by_name]


# -- Audio


def _heard_count(facts, values):
    return count_word(len(facts.sounding))


def _is_sound(facts, values):
    return yes_no(values[0] in facts.sounding_by_name)


def _are_sounds(facts, values):
    a, b = values
    if a == b:
        return None
    return yes_no(a in facts.sounding_by_name and b in facts.sounding_by_name)


def _audio_comparison(relation):
    def rule(facts, values):
        a, b = values
        pa, pb = facts.only_sounding(a), facts.only_sounding(b)
        if a == b or pa is None or pb is None:
            return None
        result = relation(pa, pb)
        return None if result is None else yes_no(result)
    return rule


def _sounding_name_pairs(facts):
    return _distinct_pairs([n for n, ps in facts.sounding_by_name.items() if len(ps) == 1])


# -- Visual


def _visible_types(facts, values):
    return count_word(len(facts.visible_by_name))


def _visible_count(facts, values):
    return count_word(len(facts.visible_by_name.get(values[0], [])))


def _are_visible(facts, values):
    a, b = values
    if a == b:
        return None
    return yes_no(a in facts.visible_by_name and b in facts.visible_by_name)


def _is_visible(facts, values):
    return yes_no(values[0] in facts.visible_by_name)


def _side_of_object_fillers(facts):
    return [(side, name) for side in ("left", "right") for (name,) in _visible_names(facts)]


def _side_of_object(facts, values):
    side, name = values
    ref = facts.only_visible(name)
    if side not in ("left", "right") or ref is None:
        return None
    other = facts.neighbour(ref, side)
    return None if other is None else other.instrument


def _what_is_it(facts, values):
    names = list(facts.visible_by_name)
    return names[0] if len(names) == 1 else None


def _backdrop(facts, values):
    return facts.scene.backdrop


def _extreme_fillers(facts):
    return [("leftest",), ("rightest",)]


def _extreme(facts, values):
    if len(facts.visible) < 2 or not facts.positions_known:
        return None
    return (facts.visible[0] if values[0] == "leftest" else facts.visible[-1]).instrument


# -- Audio-Visual Existential


def _sound_from_stage(facts, values):
    return yes_no(all(p.visible for p in facts.sounding))


def _voiceover(facts, values):
    return yes_no(bool(facts.scene.voiceover))


def _always_playing(facts, values):
    player = facts.only_visible(values[0])
    return None if player is None else yes_no(covers_whole_video(player, facts.scene.seconds))


# -- Audio-Visual Counting


def _sounding_count(facts, values):
    return count_word(sum(1 for p in facts.visible_by_name.get(values[0], []) if p.intervals))


def _silent_count(facts, values):
    return count_word(sum(1 for p in facts.visible if not p.intervals))


def _visible_sounding_count(facts, values):
    return count_word(sum(1 for p in facts.visible if p.intervals))


def _visible_sounding_types(facts, values):
    return count_word(len({p.instrument for p in facts.visible if p.intervals}))


# -- Audio-Visual Location


def _fl_column_fillers(facts):
    return [(fl, column) for fl in ("first", "last") for column in facts.by_column]


def _fl_from_column(facts, values):
    fl, column = values
    target = facts.by_column.get(column)
    source = facts.first_or_last_sounding(fl)
    if target is None or source is None:
        return None
    return yes_no(source is target)


def _ll_fillers(facts):
    return [("loudest",), ("lowest",)]


def _loudest_or_lowest(facts, values):
    if len(facts.sounding) < 2:
        return None
    pick = (max if values[0] == "loudest" else min)(facts.sounding, key=lambda p: p.loudness_db)
    if any(p is not pick and abs(p.loudness_db - pick.loudness_db) < MIN_LOUDNESS_GAP_DB
           for p in facts.sounding) or not pick.visible:
        return None
    return facts.column(pick)


def _same_time(facts, values):
    ref = facts.av_reference(values[0])
    if ref is None:
        return None
    partners = set()
    for p in facts.av_sounding:
        if p is ref:
            continue
        shared = overlap_seconds(ref, p)
        if 0 < shared < MIN_OVERLAP_S:
            return None
        if shared >= MIN_OVERLAP_S:
            partners.add(p.instrument)
    return partners.pop() if len(partners) == 1 else None


def _side_fl_fillers(facts):
    return [(side, fl) for side in ("left", "right") for fl in ("first", "last")]


def _side_of_fl(facts, values):
    side, fl = values
    ref = facts.first_or_last_sounding(fl)
    if side not in ("left", "right") or ref is None or not ref.visible:
        return None
    other = facts.neighbour(ref, side)
    return None if other is None else other.instrument


# -- Audio-Visual Comparative


def _object_column_quads(facts):
    return [(facts.by_column[a].instrument, a, facts.by_column[b].instrument, b)
            for a, b in _column_pairs(facts)]


def _positional_comparison(relation, named: bool):
    def rule(facts, values):
        if named:
            name_a, col_a, name_b, col_b = values
        else:
            col_a, col_b = values
        pa, pb = facts.by_column.get(col_a), facts.by_column.get(col_b)
        if col_a == col_b or pa is None or pb is None or not (pa.intervals and pb.intervals):
            return None
        if named and (pa.instrument != name_a or pb.instrument != name_b):
            return None
        result = relation(pa, pb)
        return None if result is None else yes_no(result)
    return rule


# -- Audio-Visual Temporal


ORDINALS: tuple[str, ...] = PLACEHOLDER_FILLERS["<TH>"]


def _nth_fillers(facts):
    return [(ORDINALS[k],) for k in range(min(len(facts.av_sounding), len(ORDINALS)))]


def _nth_comes_in(facts, values):
    k = ORDINALS.index(values[0])
    ordered = sorted(facts.av_sounding, key=lambda p: p.onset)
    if k >= len(ordered):
        return None
    pick = ordered[k]
    if not _onset_order_defined(pick.onset, [p.onset for p in ordered if p is not pick]):
        return None
    return pick.instrument


def _fl_fillers(facts):
    return [("first",), ("last",)]


def _where_fl(facts, values):
    pick = facts.first_or_last_sounding(values[0])
    return None if pick is None or not pick.visible else facts.column(pick)


def _which_object_fillers(facts):
    return [(name, fl) for name, ps in facts.visible_by_name.items() if len(ps) >= 2
            for fl in ("first", "last")]


def _which_object_first(facts, values):
    name, fl = values
    players = facts.visible_by_name.get(name, [])
    active = [p for p in players if p.intervals]
    if len(players) < 2 or not active:
        return None
    if len(active) >= 2 and all(abs(p.onset - active[0].onset) < SAME_ONSET_S for p in active):
        return "simultaneously"
    pick = first_or_last(active, fl)
    if pick is None:
        return None
    column = facts.column(pick)
    if sum(1 for p in players if facts.column(p) == column) > 1:
        return None  # two of them stand in that column: the column does not say which
    return column


def _before_after_fillers(facts):
    return [(ba, name) for ba in ("before", "after") for (name,) in _sounding_names(facts)]


def _before_after(facts, values):
    ba, name = values
    ref = facts.av_reference(name)
    if ref is None:
        return None
    found = set()
    for p in facts.av_sounding:
        if p is ref:
            continue
        gap = p.onset - ref.onset
        if SAME_ONSET_S <= abs(gap) < MIN_ONSET_GAP_S:
            return None
        if (ba == "before" and gap <= -MIN_ONSET_GAP_S) or (ba == "after" and gap >= MIN_ONSET_GAP_S):
            found.add(p.instrument)
    return found.pop() if len(found) == 1 else None


_RULES: tuple[tuple[Callable, Callable], ...] = (
    # Audio Counting
    (NO_FILLERS, _heard_count),
    (_objects, _is_sound),
    (_object_pairs, _are_sounds),
    # Audio Comparative
    (_sounding_name_pairs, _audio_comparison(louder)),
    (_sounding_name_pairs, _audio_comparison(more_rhythmic)),
    (_sounding_name_pairs, _audio_comparison(playing_longer)),
    # Visual Counting
    (NO_FILLERS, _visible_types),
    (_objects, _visible_count),
    (_object_pairs, _are_visible),
    (_objects, _is_visible),
    # Visual Location
    (_side_of_object_fillers, _side_of_object),
    (NO_FILLERS, _what_is_it),
    (NO_FILLERS, _backdrop),
    (_extreme_fillers, _extreme),
    # Audio-Visual Existential
    (NO_FILLERS, _sound_from_stage),
    (NO_FILLERS, _voiceover),
    (_visible_names, _always_playing),
    # Audio-Visual Counting
    (_objects, _sounding_count),
    (NO_FILLERS, _silent_count),
    (NO_FILLERS, _visible_sounding_count),
    (NO_FILLERS, _visible_sounding_types),
    # Audio-Visual Location
    (_fl_column_fillers, _fl_from_column),
    (_ll_fillers, _loudest_or_lowest),
    (_sounding_names, _same_time),
    (_side_fl_fillers, _side_of_fl),
    # Audio-Visual Comparative
    (_object_column_quads, _positional_comparison(louder, named=True)),
    (_column_pairs, _positional_comparison(louder, named=False)),
    (_column_pairs, _positional_comparison(more_rhythmic, named=False)),
    (_object_column_quads, _positional_comparison(more_rhythmic, named=True)),
    # Audio-Visual Temporal
    (_nth_fillers, _nth_comes_in),
    (_fl_fillers, _where_fl),
    (_which_object_fillers, _which_object_first),
    (_before_after_fillers, _before_after),
)

#: one rule per official template, in the official order of :data:`TEMPLATES`
RULES: dict[str, TemplateRule] = {t.text: TemplateRule(t, fillers, rule)
                                  for t, (fillers, rule) in zip(TEMPLATES, _RULES, strict=True)}


# --------------------------------------------------------------------------- public API


def rule_for(template: str | Template) -> TemplateRule:
    """The rule of a template given as text (canonical or file spelling) or :class:`Template`."""
    found = template if isinstance(template, Template) else find_template(template)
    if found is None:
        raise AnnotationError(f"{template!r} is not one of the 33 MUSIC-AVQA templates; see "
                              "mcdlib.data.templates.TEMPLATES for their spelling")
    return RULES[found.text]


def _check_values(rule: TemplateRule, values: Values, where: str) -> None:
    placeholders = rule.template.placeholders
    if len(values) != len(placeholders):
        raise AnnotationError(f"{where}: template {rule.template.text!r} takes {len(placeholders)} "
                              f"templ_values ({', '.join(placeholders) or 'none'}), got {list(values)}")
    for placeholder, value in zip(placeholders, values):
        if value not in PLACEHOLDER_FILLERS[placeholder]:
            raise AnnotationError(f"{where}: {value!r} cannot fill {placeholder} of "
                                  f"{rule.template.text!r}; valid: {', '.join(PLACEHOLDER_FILLERS[placeholder])}")


def answer_or_none(scene: Scene | SceneFacts, template: str | Template,
                   templ_values: Sequence[str] | str) -> str | None:
    """The answer of a question on a scene, or None when it is not well defined there.

    ``templ_values`` may be a list or the JSON string of an annotation record.
    """
    rule = rule_for(template)
    if isinstance(templ_values, str):
        templ_values = json.loads(templ_values)
    values = tuple(templ_values)
    facts = scene if isinstance(scene, SceneFacts) else scene_facts(scene)
    _check_values(rule, values, f"video {facts.scene.video_id}")
    return rule.answer(facts, values)


def answer(scene: Scene | SceneFacts, template: str | Template,
           templ_values: Sequence[str] | str) -> str:
    """The oracle: the answer of a question recomputed from the scene graph.

    Raises :class:`~mcdlib.errors.AnnotationError` naming the video when the template is
    unknown, the values do not fit its placeholders, or the question is not well defined
    on that scene.
    """
    result = answer_or_none(scene, template, templ_values)
    if result is None:
        facts_scene = scene.scene if isinstance(scene, SceneFacts) else scene
        raise AnnotationError(f"video {facts_scene.video_id}: {template!r} with templ_values "
                              f"{list(templ_values) if not isinstance(templ_values, str) else templ_values} "
                              "is not well defined on this scene (an undefined reference, a tie, "
                              "or a difference too small to hear); see the table in "
                              "mcdlib.scenes.questions")
    return result


def candidates(scene: Scene | SceneFacts, template: str | Template) -> list[Candidate]:
    """The well-defined questions of one template on a scene (deduplicated, in filler order)."""
    facts = scene if isinstance(scene, SceneFacts) else scene_facts(scene)
    return _rule_candidates(facts, rule_for(template))


def _rule_candidates(facts: SceneFacts, rule: TemplateRule) -> list[Candidate]:
    out, seen = [], set()
    for values in rule.fillers(facts):
        if values in seen:
            continue
        seen.add(values)
        result = rule.answer(facts, values)
        if result is not None:
            out.append(Candidate(values, result))
    return out


def scene_candidates(scene: Scene, rng: np.random.Generator | None = None,
                     pool: Sequence[str] = INSTRUMENTS) -> dict[str, list[Candidate]]:
    """Every template's well-defined questions on a scene (canonical text -> candidates);
    templates without any are left out. ``rng`` samples the absent ``<Object>`` probes."""
    facts = scene_facts(scene, rng, pool)
    out = {}
    for text, rule in RULES.items():
        found = _rule_candidates(facts, rule)
        if found:
            out[text] = found
    return out
