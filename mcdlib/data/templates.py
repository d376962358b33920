"""MUSIC-AVQA vocabulary of things: instruments, placeholder fillers, the 9 question cells.

(The 33 official templates are added here by the reader work; see docs/ARCHITECTURE.md.)
"""

from __future__ import annotations

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
