"""MUSIC-AVQA vocabulary of things: instruments, the 9 question cells, the 33 official templates
and the words their placeholders are filled with.

>>> find_template("How many sounding <Object> in the video\uff1f").cell
('Audio-Visual', 'Counting')
>>> placeholders_of("What is the <LR> instrument of the <FL> sounding instrument?")
('<LR>', '<FL>')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: the 22 MUSIC-AVQA instruments, spelled as in the answer vocabulary
INSTRUMENTS: tuple[str, ...] = (
    "accordion", "acoustic_guitar", "bagpipe", "banjo", "bassoon", "cello", "clarinet", "congas",
    "drum", "electric_bass", "erhu", "flute", "guzheng", "piano", "pipa", "saxophone", "suona",
    "trumpet", "tuba", "ukulele", "violin", "xylophone",
)

#: the 9 (scenario, type) cells in the official print order
CELLS: tuple[tuple[str, str], ...] = (
    ("Audio", "Counting"), ("Audio", "Comparative"),
    ("Visual", "Counting"), ("Visual", "Location"),
    ("Audio-Visual", "Existential"), ("Audio-Visual", "Counting"), ("Audio-Visual", "Location"),
    ("Audio-Visual", "Comparative"), ("Audio-Visual", "Temporal"),
)
SCENARIOS: tuple[str, ...] = ("Audio", "Visual", "Audio-Visual")


def cell_index(scenario: str, qtype: str) -> int:
    """Index of a (scenario, type) cell in the official order; ValueError if not a cell."""
    try:
        return CELLS.index((scenario, qtype))
    except ValueError:
        raise ValueError(f"({scenario!r}, {qtype!r}) is not a MUSIC-AVQA question cell; "
                         f"valid cells: {CELLS}") from None


# --------------------------------------------------------------------------- the 33 templates

#: question marks a template may end with in the official files (ASCII and full-width U+FF1F)
QUESTION_MARKS: tuple[str, ...] = ("?", "\uff1f")

#: what each placeholder is filled with in MUSIC-AVQA (``templ_values``)
PLACEHOLDER_FILLERS: dict[str, tuple[str, ...]] = {
    "<Object>": INSTRUMENTS,
    "<LR>": ("left", "middle", "right"),
    "<LL>": ("loudest", "lowest"),
    "<TH>": ("first", "second", "third", "fourth", "fifth"),
    "<FL>": ("first", "last"),
    "<BA>": ("before", "after"),
    "<LRer>": ("leftest", "rightest"),
}


@dataclass(frozen=True)
class Template:
    """One official question template in canonical spelling (ASCII "?", no trailing space)."""

    text: str
    scenario: str
    qtype: str

    @property
    def cell(self) -> tuple[str, str]:
        return (self.scenario, self.qtype)

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The placeholders in order of appearance, e.g. ``("<Object>", "<LR>")``."""
        return placeholders_of(self.text)


def _cell_templates(scenario: str, qtype: str, *texts: str) -> tuple[Template, ...]:
    return tuple(Template(text, scenario, qtype) for text in texts)


#: the 33 official templates, grouped by cell in the official order
TEMPLATES: tuple[Template, ...] = (
    *_cell_templates("Audio", "Counting",
                     "How many musical instruments were heard throughout the video?",
                     "Is there a <Object> sound?",
                     "Are there <Object> and <Object> sound?"),
    *_cell_templates("Audio", "Comparative",
                     "Is the <Object> louder than the <Object>?",
                     "Is the <Object> more rhythmic than the <Object>?",
                     "Is the <Object> playing longer than the <Object>?"),
    *_cell_templates("Visual", "Counting",
                     "How many types of musical instruments appeared in the entire video?",
                     "How many <Object> are in the entire video?",
                     "Are there <Object> and <Object> instruments in the video?",
                     "Is there a <Object> in the entire video?"),
    *_cell_templates("Visual", "Location",
                     "What is the instrument on the <LR> of <Object>?",
                     "What kind of musical instrument is it?",
                     "Where is the performance?",
                     "What kind of instrument is the <LRer> instrument?"),
    *_cell_templates("Audio-Visual", "Existential",
                     "Is this sound from the instrument in the video?",
                     "Is there a voiceover?",
                     "Is the <Object> in the video always playing?"),
    *_cell_templates("Audio-Visual", "Counting",
                     "How many sounding <Object> in the video?",
                     "How many instruments in the video did not sound from beginning to end?",
                     "How many instruments are sounding in the video?",
                     "How many types of musical instruments sound in the video?"),
    *_cell_templates("Audio-Visual", "Location",
                     "Is the <FL> sound coming from the <LR> instrument?",
                     "Where is the <LL> instrument?",
                     "Which is the musical instrument that sounds at the same time as the <Object>?",
                     "What is the <LR> instrument of the <FL> sounding instrument?"),
    *_cell_templates("Audio-Visual", "Comparative",
                     "Is the <Object> on the <LR> louder than the <Object> on the <LR>?",
                     "Is the instrument on the <LR> louder than the instrument on the <LR>?",
                     "Is the instrument on the <LR> more rhythmic than the instrument on the <LR>?",
                     "Is the <Object> on the <LR> more rhythmic than the <Object> on the <LR>?"),
    *_cell_templates("Audio-Visual", "Temporal",
                     "What is the <TH> instrument that comes in?",
                     "Where is the <FL> sounding instrument?",
                     "Which <Object> makes the sound <FL>?",
                     "Which instrument makes sounds <BA> the <Object>?"),
)

_BY_TEXT: dict[str, Template] = {t.text: t for t in TEMPLATES}
_PLACEHOLDER = re.compile(r"<[^<>\s]*>")


def canonical_template(text: str) -> str:
    """The canonical spelling of a template as written in a file: strip surrounding spaces and
    turn a final full-width question mark (U+FF1F) into "?" (the official files have both quirks)."""
    text = text.strip()
    if text.endswith("\uff1f"):
        text = text[:-1] + "?"
    return text


def find_template(text: str) -> Template | None:
    """The official template a ``question_content`` spells (quirks allowed), or None."""
    return _BY_TEXT.get(canonical_template(text))


def placeholders_of(text: str) -> tuple[str, ...]:
    """The ``<...>`` placeholders of a template text, in order (``"<Object>?"`` gives ``<Object>``)."""
    return tuple(_PLACEHOLDER.findall(text))
