"""How questions are grouped for reporting: cells (the finest groups) and the lines of a table.

Every accuracy in mcdlib is counted per **cell** and pooled over cells into the **rows** of a
results table, over questions (micro), as the official MUSIC-AVQA script does. A
:class:`ReportScheme` names the cells and the rows of one dataset format:

* MUSIC-AVQA (:data:`MUSIC_AVQA_SCHEME`): the 9 (scenario, type) cells and the 13 official lines
  (Audio Counting ... AV Temporal, the three scenarios, Overall);
* AVQA (:func:`mcdlib.data.avqa.avqa_scheme`): (question type, question relation) cells, one row
  per question type, one per relation and Overall.

The same cell index is the batch's ``type_index`` (and the target of MCD's type classifier), so
the training loop, ``mcd eval`` and the ablation tables all count with one scheme.

>>> MUSIC_AVQA_SCHEME.cell_index(("Visual", "Location"))
3
>>> [row.label for row in MUSIC_AVQA_SCHEME.rows][-1]
'Overall'
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from mcdlib.data.templates import CELLS, SCENARIOS
from mcdlib.errors import AnnotationError

#: the label of the row pooling every question (the same in every scheme)
OVERALL = "Overall"


@dataclass(frozen=True)
class ReportRow:
    """One line of a results table: a label and the cells it pools.

    ``kind`` groups rows (``cell``/``scenario``/``overall`` for MUSIC-AVQA, ``type``/``relation``/
    ``overall`` for AVQA); ``key`` is the row's name in JSON output (default: the label).
    """

    label: str
    cells: tuple[int, ...]
    kind: str
    key: str = ""

    @property
    def json_key(self) -> str:
        return self.key or self.label


@dataclass(frozen=True)
class ReportScheme:
    """The cells of a dataset format (each a pair of labels) and the rows pooled from them."""

    name: str  # "MUSIC-AVQA" | "AVQA": table titles
    cells: tuple[tuple[str, str], ...]
    rows: tuple[ReportRow, ...]

    @cached_property
    def _index(self) -> dict[tuple[str, str], int]:
        return {cell: i for i, cell in enumerate(self.cells)}

    def cell_index(self, cell: tuple[str, str]) -> int:
        """Index of a cell (AnnotationError naming the valid cells when it is not one)."""
        try:
            return self._index[tuple(cell)]
        except KeyError:
            raise AnnotationError(f"{tuple(cell)} is not a {self.name} question cell; valid cells: "
                                  + ", ".join(map(str, self.cells))) from None

    @property
    def label_texts(self) -> list[str]:
        """Every label of every cell, once (first appearance order): the type text objects."""
        return list(dict.fromkeys(label for cell in self.cells for label in cell))

    @property
    def row_labels(self) -> list[str]:
        return [row.label for row in self.rows]


def _music_avqa_rows() -> tuple[ReportRow, ...]:
    short = {"Audio-Visual": "AV"}
    rows = []
    for scenario in SCENARIOS:
        cells = tuple(i for i, (s, _) in enumerate(CELLS) if s == scenario)
        rows += [ReportRow(f"{short.get(scenario, scenario)} {CELLS[i][1]}", (i,), "cell") for i in cells]
        rows.append(ReportRow(f"{scenario} (all)", cells, "scenario"))
    rows.append(ReportRow(OVERALL, tuple(range(len(CELLS))), "overall"))
    return tuple(rows)


#: MUSIC-AVQA: the 9 official (scenario, type) cells and the 13 official lines, in order
MUSIC_AVQA_SCHEME = ReportScheme("MUSIC-AVQA", CELLS, _music_avqa_rows())
