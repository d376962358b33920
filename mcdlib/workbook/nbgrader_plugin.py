"""nbgrader's ClearSolutions with mcdlib's stub, for the course folders of ``mcd notebooks course``.

nbgrader replaces a solution region by a fixed stub (``# YOUR CODE HERE`` /
``raise NotImplementedError()``); the workbook's regions carry a hint
(``# BEGIN SOLUTION: <hint>``), and this preprocessor keeps it, so the nbgrader release reads
exactly like ``notebooks/exercises/``: ``raise NotImplementedError("Exercise: <hint>")``.
Imported only by a course's ``nbgrader_config.py`` (it needs nbgrader, the ``teach`` extra).
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearSolutions

from mcdlib.workbook.exercises import find_regions, stub_solutions


class HintedClearSolutions(ClearSolutions):
    """Solution regions become mcdlib's hinted stub; everything else is nbgrader's behaviour."""

    def _replace_solution_region(self, cell, language: str) -> bool:
        if cell.cell_type != "code" or not find_regions(cell.source):
            return super()._replace_solution_region(cell, language)
        cell.source = stub_solutions(cell.source)
        return True
