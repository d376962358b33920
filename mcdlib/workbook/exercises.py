"""Exercises from one source: student copies generated from the solution notebooks.

The committed notebooks (``notebooks/NN_topic.ipynb``) are the solutions and the single
source. Inside a code cell, a solution region is marked by two whole-line comments::

    def attention(q, k, v):
        # BEGIN SOLUTION: scaled dot-product attention over the last axis
        weights = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
        return weights @ v
        # END SOLUTION

    check_close("attention", attention(q, k, v), library_attention(q, k, v))

The student copy replaces each region (markers included) by one stub line with the region's
indentation, ``raise NotImplementedError("Exercise: <hint>")``, and keeps the lines before and
after it, so the check cell that follows runs once the student has filled the stub in. Hidden
checks (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``) are removed, as nbgrader's
release does; the nbgrader cell metadata (:mod:`mcdlib.workbook.grading`) is kept. Cells
tagged ``solution`` are dropped entirely. Outputs and execution counts are stripped; cell and
notebook metadata (the ``parameters`` tag included) are kept. A note cell at the top says where
the copy comes from.

Copies are written to ``notebooks/exercises/<same name>`` as deterministic bytes (nbformat's
JSON layout, computed from the raw JSON so no random cell ids appear), so they can be committed
and compared: :func:`check_exercises` lists stale, missing and extra copies and CI fails on any.

>>> generate_exercises()          # what ``mcd notebooks exercises`` does
>>> check_exercises()             # what ``mcd notebooks exercises --check`` does
[]
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from mcdlib.errors import ConfigError
from mcdlib.workbook.grading import strip_hidden_tests
from mcdlib.workbook.runner import list_notebooks, notebooks_dir

BEGIN_MARKER = "# BEGIN SOLUTION"
END_MARKER = "# END SOLUTION"
#: cells with this tag are left out of student copies entirely
SOLUTION_TAG = "solution"
#: the stub's message when a region has no hint
DEFAULT_HINT = "complete the code here"
#: id of the note cell put at the top of every student copy (nbformat >= 4.5 notebooks)
NOTE_CELL_ID = "exercises-note"

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)#[ \t]*BEGIN SOLUTION[ \t]*(?::[ \t]*(?P<hint>.*?))?[ \t]*$")
_END = re.compile(r"^[ \t]*#[ \t]*END SOLUTION[ \t]*$")


def exercises_dir() -> Path:
    """Where the student copies live: ``notebooks/exercises/``."""
    return notebooks_dir() / "exercises"


# --------------------------------------------------------------------------- one cell


@dataclass(frozen=True)
class SolutionRegion:
    """One marked region of a code cell: 0-based line numbers of its two marker lines."""

    begin: int
    end: int
    indent: str
    hint: str = DEFAULT_HINT

    @property
    def stub(self) -> str:
        """The line that replaces the region (no newline)."""
        message = json.dumps(f"Exercise: {self.hint}", ensure_ascii=False)  # a valid Python literal
        return f"{self.indent}raise NotImplementedError({message})"


def find_regions(source: str, where: str = "cell") -> list[SolutionRegion]:
    """The solution regions of one code cell's source, in order.

    Raises :class:`ConfigError` naming ``where`` and the line for a nested region, an END
    without a BEGIN, or a BEGIN that is never closed.
    """
    regions: list[SolutionRegion] = []
    open_at: tuple[int, re.Match] | None = None
    for number, line in enumerate(source.splitlines()):
        begin, end = _BEGIN.match(line), _END.match(line)
        if begin:
            if open_at is not None:
                raise ConfigError(f"{where}, line {number + 1}: '{BEGIN_MARKER}' inside the region opened at "
                                  f"line {open_at[0] + 1}; close it with '{END_MARKER}' first (regions do not nest)")
            open_at = (number, begin)
        elif end:
            if open_at is None:
                raise ConfigError(f"{where}, line {number + 1}: '{END_MARKER}' without a '{BEGIN_MARKER}' "
                                  "before it; add the BEGIN line or remove this one")
            start, match = open_at
            regions.append(SolutionRegion(start, number, match["indent"], match["hint"] or DEFAULT_HINT))
            open_at = None
    if open_at is not None:
        raise ConfigError(f"{where}, line {open_at[0] + 1}: '{BEGIN_MARKER}' is never closed; "
                          f"add a '{END_MARKER}' line after the solution")
    return regions


def stub_solutions(source: str, where: str = "cell") -> str:
    """``source`` with every solution region replaced by its stub line (other lines kept)."""
    lines = source.splitlines(keepends=True)
    for region in reversed(find_regions(source, where)):
        newline = "\n" if lines[region.end].endswith("\n") else ""
        lines[region.begin:region.end + 1] = [region.stub + newline]
    return "".join(lines)


# --------------------------------------------------------------------------- one notebook


def cell_source(cell: dict) -> str:
    """A raw-JSON cell's source as one string (the file may store a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def is_solution_cell(cell: dict) -> bool:
    """True for a cell tagged ``solution`` (dropped from student copies)."""
    return SOLUTION_TAG in (cell.get("metadata", {}).get("tags") or [])


def _where(name: str, index: int, cell: dict) -> str:
    return f"{name} cell {index}" + (f" (id {cell['id']})" if cell.get("id") else "")


def has_exercises(nb: dict, name: str = "notebook") -> bool:
    """True when a raw-JSON notebook has a solution region or a cell tagged ``solution``."""
    return any(
        is_solution_cell(cell)
        or (cell.get("cell_type") == "code" and find_regions(cell_source(cell), _where(name, i, cell)))
        for i, cell in enumerate(nb.get("cells", []))
    )


def _note_cell(name: str, with_id: bool) -> dict:
    text = (f"**Exercise copy** of [`../{name}`](../{name}), generated by `mcd notebooks exercises`; "
            "do not edit it in the repository (edit the source notebook and regenerate).\n"
            "Each `raise NotImplementedError(\"Exercise: ...\")` marks code for you to write; "
            "the check cell after it tells you when it is right.")
    cell = {"cell_type": "markdown", "metadata": {}, "source": text}
    if with_id:
        cell["id"] = NOTE_CELL_ID
    return cell


def student_notebook(nb: dict, name: str = "notebook") -> dict:
    """The student copy of a raw-JSON solution notebook (the input is not modified)."""
    nb = json.loads(json.dumps(nb))  # deep copy of plain JSON
    cells = []
    for index, cell in enumerate(nb.get("cells", [])):
        if is_solution_cell(cell):
            continue
        if cell.get("cell_type") == "code":
            where = _where(name, index, cell)
            cell["source"] = strip_hidden_tests(stub_solutions(cell_source(cell), where), where)
            cell["outputs"] = []
            cell["execution_count"] = None
        cells.append(cell)
    with_ids = (nb.get("nbformat", 4), nb.get("nbformat_minor", 0)) >= (4, 5)
    if with_ids and any(c.get("id") == NOTE_CELL_ID for c in cells):
        raise ConfigError(f"{name}: a cell already has the id {NOTE_CELL_ID!r}, reserved for the exercise "
                          "note; rename that cell's id")
    nb["cells"] = [_note_cell(name, with_ids), *cells]
    nb.setdefault("metadata", {})["mcdlib"] = {"exercises_from": name}
    return nb


def dumps_notebook(nb: dict) -> str:
    """Deterministic text of a raw-JSON notebook, laid out as nbformat writes it (sources as
    lists of lines, keys sorted, one-space indent, final newline)."""
    nb = json.loads(json.dumps(nb))
    for cell in nb.get("cells", []):
        cell["source"] = cell_source(cell).splitlines(keepends=True)
    return json.dumps(nb, indent=1, sort_keys=True, separators=(",", ": "), ensure_ascii=False) + "\n"


def read_notebook_json(path: Path) -> dict:
    """A notebook file as plain JSON (no nbformat normalisation, so nothing random is added)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the notebook ({exc}); fix or restore the file") from exc


# --------------------------------------------------------------------------- the folder


def expected_copies(src_dir: str | Path | None = None) -> dict[str, str]:
    """File name → text of the student copy, for each source notebook that has exercises."""
    copies = {}
    for path in list_notebooks(Path(src_dir) if src_dir else None):
        nb = read_notebook_json(path)
        if has_exercises(nb, path.name):
            copies[path.name] = dumps_notebook(student_notebook(nb, path.name))
    return copies


@dataclass(frozen=True)
class Drift:
    """A generated copy that does not match its source: ``missing``, ``stale`` or ``extra``."""

    path: Path
    reason: str

    def __str__(self) -> str:
        what = {"missing": "missing (its source has exercises)", "stale": "stale (differs from its source)",
                "extra": "extra (no source notebook with exercises)"}[self.reason]
        return f"{self.path}: {what}"


@dataclass
class ExerciseSync:
    """What :func:`generate_exercises` did."""

    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def _out(out_dir: str | Path | None) -> Path:
    return Path(out_dir) if out_dir else exercises_dir()


def check_exercises(src_dir: str | Path | None = None, out_dir: str | Path | None = None) -> list[Drift]:
    """Generated copies that are missing, stale or extra (empty when in sync)."""
    out = _out(out_dir)
    expected = expected_copies(src_dir)
    drift = []
    for name, text in expected.items():
        target = out / name
        if not target.is_file():
            drift.append(Drift(target, "missing"))
        elif target.read_bytes() != text.encode("utf-8"):
            drift.append(Drift(target, "stale"))
    if out.is_dir():
        drift += [Drift(p, "extra") for p in sorted(out.glob("*.ipynb")) if p.name not in expected]
    return drift


def generate_exercises(src_dir: str | Path | None = None, out_dir: str | Path | None = None) -> ExerciseSync:
    """Write the student copies (only files whose bytes change) and remove copies whose
    source no longer has exercises. Afterwards :func:`check_exercises` returns ``[]``."""
    out = _out(out_dir)
    expected = expected_copies(src_dir)
    sync = ExerciseSync()
    if expected:
        out.mkdir(parents=True, exist_ok=True)
    for name, text in expected.items():
        target, data = out / name, text.encode("utf-8")
        if target.is_file() and target.read_bytes() == data:
            sync.unchanged.append(target)
        else:
            target.write_bytes(data)
            sync.written.append(target)
    if out.is_dir():
        for extra in sorted(out.glob("*.ipynb")):
            if extra.name not in expected:
                extra.unlink()
                sync.removed.append(extra)
    return sync
