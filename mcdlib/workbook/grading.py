"""Graded exercises: nbgrader's cell metadata on the solution notebooks, and the checks on it.

A graded exercise in a workbook notebook is three cells, in this order:

1. a markdown cell with the task, its points and a hint (``**Exercise 2 (3 points).** ...``);
2. the **answer cell**: code with one or more ``# BEGIN SOLUTION: <hint>`` ...
   ``# END SOLUTION`` regions, marked as an nbgrader *autograded answer* cell
   (``metadata.nbgrader``: ``solution: true``, ``grade: false``, ``grade_id``);
3. one or more **check cells**: visible checks (``check_close``, ``assert``) and hidden checks
   between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``, marked as nbgrader
   *autograder tests* cells (``grade: true``, ``locked: true``, ``points``, ``grade_id``).

The solution notebooks in ``notebooks/`` carry this metadata, so a teacher's ``nbgrader
generate_assignment`` makes the student release (regions stubbed, hidden checks removed, check
cells locked) and ``nbgrader autograde`` scores a submission: a check cell earns its points when
it runs without an error. :func:`write_course` lays out an nbgrader course folder from the
notebooks (``mcd notebooks course``). ``mcd notebooks exercises`` writes the same student view
into ``notebooks/exercises/`` for self-study (:mod:`mcdlib.workbook.exercises`).

:func:`exercise_problems` lists what is wrong with a notebook's exercises (tests/test_exercises.py
asserts there is nothing, and at least :data:`MIN_EXERCISES` per notebook), and
:func:`with_failure_probes` prepares the CI run that proves every check fails on the student
stub (tests/test_notebooks.py).
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from mcdlib.errors import ConfigError

#: nbgrader's metadata schema version (nbgrader 0.9)
SCHEMA_VERSION = 3
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
#: every workbook notebook has at least this many graded exercises ...
MIN_EXERCISES = 3
#: ... except the five-minute tour
UNGRADED = ("00_tour.ipynb",)
_GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")


# --------------------------------------------------------------------------- cell metadata


def answer_metadata(grade_id: str) -> dict:
    """nbgrader metadata of an autograded answer cell."""
    return {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": SCHEMA_VERSION,
            "solution": True, "task": False}


def check_metadata(grade_id: str, points: float) -> dict:
    """nbgrader metadata of an autograder tests cell worth ``points``."""
    return {"grade": True, "grade_id": grade_id, "locked": True, "points": points,
            "schema_version": SCHEMA_VERSION, "solution": False, "task": False}


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader") or {}


def is_answer_cell(cell: dict) -> bool:
    return cell.get("cell_type") == "code" and bool(_nbgrader(cell).get("solution"))


def is_check_cell(cell: dict) -> bool:
    return cell.get("cell_type") == "code" and bool(_nbgrader(cell).get("grade"))


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def strip_hidden_tests(source: str, where: str = "cell") -> str:
    """``source`` without its ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` regions
    (what students see of a check cell; nbgrader's ClearHiddenTests does the same)."""
    out, hidden = [], False
    for number, line in enumerate(source.splitlines(keepends=True), start=1):
        if "BEGIN HIDDEN TESTS" in line:
            if hidden:
                raise ConfigError(f"{where}, line {number}: nested '{HIDDEN_BEGIN}'; close the first region")
            hidden = True
        elif "END HIDDEN TESTS" in line:
            if not hidden:
                raise ConfigError(f"{where}, line {number}: '{HIDDEN_END}' without a '{HIDDEN_BEGIN}'")
            hidden = False
        elif not hidden:
            out.append(line)
    if hidden:
        raise ConfigError(f"{where}: '{HIDDEN_BEGIN}' is never closed; add a '{HIDDEN_END}' line")
    text = "".join(out)
    return text.rstrip("\n") if not source.endswith("\n") else text


# --------------------------------------------------------------------------- exercises of a notebook


@dataclass
class Exercise:
    """One answer cell and the check cells that grade it (indices into ``nb["cells"]``)."""

    grade_id: str
    answer: int
    checks: list[int] = field(default_factory=list)
    points: float = 0.0
    hints: list[str] = field(default_factory=list)


def exercises(nb: dict, name: str = "notebook") -> list[Exercise]:
    """The graded exercises of a raw-JSON notebook, in order."""
    from mcdlib.workbook.exercises import find_regions

    found: list[Exercise] = []
    for index, cell in enumerate(nb.get("cells", [])):
        meta = _nbgrader(cell)
        if is_answer_cell(cell):
            regions = find_regions(_source(cell), f"{name} cell {index}")
            found.append(Exercise(meta.get("grade_id", ""), index, hints=[r.hint for r in regions]))
        elif is_check_cell(cell) and found:
            found[-1].checks.append(index)
            found[-1].points += float(meta.get("points") or 0)
    return found


def exercise_problems(nb: dict, name: str = "notebook") -> list[str]:
    """What keeps a notebook's exercises from being graded (empty when all is well)."""
    from mcdlib.workbook.exercises import DEFAULT_HINT, find_regions

    problems: list[str] = []
    ids: dict[str, int] = {}
    seen_answer = False
    for index, cell in enumerate(nb.get("cells", [])):
        where = f"{name} cell {index}"
        meta = _nbgrader(cell)
        if cell.get("cell_type") == "code" and find_regions(_source(cell), where) and not is_answer_cell(cell):
            problems.append(f"{where}: has a solution region but no nbgrader answer metadata "
                            "(mcdlib.workbook.grading.answer_metadata)")
        if not meta:
            continue
        grade_id = meta.get("grade_id", "")
        if not _GRADE_ID.match(grade_id or ""):
            problems.append(f"{where}: nbgrader grade_id {grade_id!r} must be letters, digits, _ or -")
        elif grade_id in ids:
            problems.append(f"{where}: grade_id {grade_id!r} is also used by cell {ids[grade_id]}")
        ids[grade_id] = index
        if meta.get("schema_version") != SCHEMA_VERSION:
            problems.append(f"{where}: nbgrader schema_version must be {SCHEMA_VERSION}")
        if is_answer_cell(cell):
            seen_answer = True
            regions = find_regions(_source(cell), where)
            if not regions:
                problems.append(f"{where}: answer cell without a '# BEGIN SOLUTION: <hint>' region")
            if any(r.hint == DEFAULT_HINT for r in regions):
                problems.append(f"{where}: a solution region without a hint ('# BEGIN SOLUTION: <hint>')")
        if is_check_cell(cell):
            if not seen_answer:
                problems.append(f"{where}: check cell before any answer cell")
            if not meta.get("locked"):
                problems.append(f"{where}: check cell not locked")
            if not (meta.get("points") or 0) > 0:
                problems.append(f"{where}: check cell without points")
            source = _source(cell)
            if HIDDEN_BEGIN not in source:
                problems.append(f"{where}: check cell without hidden checks ('{HIDDEN_BEGIN}')")
            if not strip_hidden_tests(source, where).strip():
                problems.append(f"{where}: check cell with no visible check (students need one to try)")
    for ex in exercises(nb, name):
        if not ex.checks:
            problems.append(f"{name} cell {ex.answer}: answer cell {ex.grade_id!r} has no check cell after it")
    return problems


# --------------------------------------------------------------------------- CI: every check fails on the stub


def with_failure_probes(nb: dict, name: str = "notebook") -> dict:
    """A copy of a raw-JSON solution notebook with a probe cell before each answer cell.

    The probe runs the answer cell as the student copy has it (regions stubbed) and then each
    of its check cells as students see them (hidden checks removed), and raises unless every
    check fails. The real answer cell runs right after it, so the rest of the notebook is
    unchanged: executing the probed notebook proves in one run that the solution passes every
    check and that no check passes on the stub (write answer cells so that running them twice
    is harmless).
    """
    from mcdlib.workbook.exercises import stub_solutions

    nb = json.loads(json.dumps(nb))
    cells = nb["cells"]
    probes: dict[int, dict] = {}
    for ex in exercises(nb, name):
        stub = stub_solutions(_source(cells[ex.answer]), f"{name} cell {ex.answer}")
        checks = {_nbgrader(cells[i]).get("grade_id", str(i)): strip_hidden_tests(_source(cells[i]))
                  for i in ex.checks}
        code = ("from mcdlib.workbook.grading import expect_checks_fail\n"
                f"expect_checks_fail({ex.grade_id!r}, {stub!r}, {checks!r})")
        probes[ex.answer] = {"cell_type": "code", "execution_count": None, "id": f"probe-{ex.answer}",
                             "metadata": {"tags": ["mcdlib-probe"]}, "outputs": [], "source": code}
    nb["cells"] = [c for i, cell in enumerate(cells) for c in ([probes[i]] if i in probes else []) + [cell]]
    return nb


def expect_checks_fail(grade_id: str, stub: str, checks: dict[str, str], namespace: dict | None = None) -> None:
    """Run an answer cell's student stub, then each check, in the notebook's namespace (or
    ``namespace``); raise AssertionError naming the checks that passed anyway."""
    from IPython import get_ipython

    shell = get_ipython()
    if namespace is None:
        if shell is None:
            raise RuntimeError("expect_checks_fail runs inside a notebook kernel, or pass namespace=")
        namespace = shell.user_ns

    def run(source: str, label: str) -> BaseException | None:
        code = shell.transform_cell(source) if shell is not None else source
        try:
            exec(compile(code, label, "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - any error is a failing check
            return exc
        return None

    stub_error = run(stub, f"<student stub of {grade_id}>")
    passed = [check_id for check_id, source in checks.items() if run(source, f"<{check_id}>") is None]
    if passed:
        raise AssertionError(f"{grade_id}: with the student's stub ({stub_error!r}) these checks pass anyway: "
                             f"{', '.join(passed)}; make each check depend on the answer")
    print(f"probe {grade_id}: the stub raises {type(stub_error).__name__}; "
          f"{len(checks)} check(s) fail on it as they should")


# --------------------------------------------------------------------------- an nbgrader course folder

COURSE_CONFIG = '''\
# nbgrader configuration of an mcdlib course folder (written by `mcd notebooks course`).
# Run nbgrader from this folder: `nbgrader generate_assignment 04_mcd_components`, ...
from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput,
                                    ComputeChecksums, IncludeHeaderFooter, InstantiateTests, LockCells,
                                    SaveCells)

from mcdlib.workbook.nbgrader_plugin import HintedClearSolutions

c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.course_id = {course_id!r}
# the workbook's notebooks train small models: give a cell time (nbgrader's default is 30 s)
c.Execute.timeout = {timeout}
# nbgrader's own pipeline, with mcdlib's stub: `raise NotImplementedError("Exercise: <hint>")`
c.GenerateAssignment.preprocessors = [IncludeHeaderFooter, InstantiateTests, LockCells, HintedClearSolutions,
                                      ClearOutput, CheckCellMetadata, ComputeChecksums, SaveCells,
                                      ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata]
'''


def write_course(out_dir: str | Path, notebooks: list[Path], course_id: str = "mcdlib",
                 timeout: int = 1800) -> Path:
    """An nbgrader course folder: ``nbgrader_config.py`` and ``source/<stem>/<name>.ipynb`` (one
    assignment per notebook). Existing source notebooks are replaced; nothing else is touched."""
    out = Path(out_dir)
    (out / "source").mkdir(parents=True, exist_ok=True)
    (out / "nbgrader_config.py").write_text(COURSE_CONFIG.format(course_id=course_id, timeout=timeout))
    for path in notebooks:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        if not exercises(nb, path.name):
            raise ConfigError(f"{path}: the notebook has no graded exercise; choose a notebook with nbgrader "
                              "answer and check cells")
        problems = exercise_problems(nb, path.name)
        if problems:
            raise ConfigError(f"{path}: its exercises cannot be graded:\n  " + "\n  ".join(problems))
        target = out / "source" / path.stem
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / path.name)
    return out
