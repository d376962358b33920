"""Graded exercises: nbgrader metadata, hidden checks, the failure probes and the nbgrader cycle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from mcdlib.errors import ConfigError
from mcdlib.workbook.exercises import expected_copies, student_notebook
from mcdlib.workbook.grading import (HIDDEN_BEGIN, MIN_EXERCISES, UNGRADED, answer_metadata, check_metadata,
                                     exercise_problems, exercises, expect_checks_fail, strip_hidden_tests,
                                     with_failure_probes, write_course)
from mcdlib.workbook.runner import list_notebooks, load_param_set, parameterize, parameters_for

REPO = Path(__file__).resolve().parents[1]

ANSWER = '''def double(x):
    # BEGIN SOLUTION: multiply by two
    return 2 * x
    # END SOLUTION

result = double(21)'''
CHECK = f'''assert result == 42, result
{HIDDEN_BEGIN}
assert double(0) == 0
### END HIDDEN TESTS'''


def _graded_notebook(check_source: str = CHECK) -> dict:
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_code_cell("seed = 0\ndevice = 'auto'", metadata={"tags": ["parameters"]}),
        v4.new_markdown_cell("**Exercise 1 (2 points).** Double it. *Hint:* multiply."),
        v4.new_code_cell(ANSWER, metadata={"nbgrader": answer_metadata("ex_double")}),
        v4.new_code_cell(check_source, metadata={"nbgrader": check_metadata("ex_double_check", 2)}),
    ]
    return json.loads(nbformat.writes(nb))


def test_hidden_tests_are_stripped_like_nbgrader_does():
    assert strip_hidden_tests(CHECK) == "assert result == 42, result"
    assert strip_hidden_tests("a\n### BEGIN HIDDEN TESTS\nb\n### END HIDDEN TESTS") == "a"
    with pytest.raises(ConfigError, match="never closed"):
        strip_hidden_tests("### BEGIN HIDDEN TESTS\nb\n", "nb cell 3")


def test_exercises_and_their_problems():
    nb = _graded_notebook()
    (ex,) = exercises(nb)
    assert (ex.grade_id, ex.answer, ex.checks, ex.points, ex.hints) == ("ex_double", 2, [3], 2.0, ["multiply by two"])
    assert exercise_problems(nb) == []

    bad = _graded_notebook("assert result == 42")  # no hidden checks
    bad["cells"][3]["metadata"]["nbgrader"]["points"] = 0
    bad["cells"][2]["source"] = ANSWER.replace(": multiply by two", "")
    problems = "\n".join(exercise_problems(bad, "01_x.ipynb"))
    assert "without hidden checks" in problems and "without points" in problems and "without a hint" in problems

    unmarked = _graded_notebook()
    del unmarked["cells"][2]["metadata"]["nbgrader"]
    assert "no nbgrader answer metadata" in "\n".join(exercise_problems(unmarked))


def test_student_copy_drops_hidden_tests_and_keeps_the_metadata():
    copy = student_notebook(_graded_notebook(), "01_x.ipynb")
    answer, check = copy["cells"][3], copy["cells"][4]
    assert 'raise NotImplementedError("Exercise: multiply by two")' in answer["source"]
    assert "HIDDEN" not in check["source"] and "double(0)" not in check["source"]
    assert check["metadata"]["nbgrader"]["points"] == 2 and answer["metadata"]["nbgrader"]["solution"]


def test_probe_passes_when_checks_fail_on_the_stub_and_fails_otherwise(capsys):
    nb = _graded_notebook()
    probed = with_failure_probes(nb, "01_x.ipynb")
    assert [c["cell_type"] for c in probed["cells"]] == ["code", "markdown", "code", "code", "code"]
    assert "expect_checks_fail('ex_double'" in probed["cells"][2]["source"]
    stub = student_notebook(nb)["cells"][3]["source"]

    expect_checks_fail("ex_double", stub, {"c": "assert result == 42"}, namespace={})
    assert "1 check(s) fail on it" in capsys.readouterr().out
    # a check that does not depend on the answer passes on the stub: the probe says so
    with pytest.raises(AssertionError, match="pass anyway: c"):
        expect_checks_fail("ex_double", stub, {"c": "assert True"}, namespace={})
    # a stale value of the same name from earlier in the notebook is caught as well
    with pytest.raises(AssertionError, match="pass anyway"):
        expect_checks_fail("ex_double", stub, {"c": "assert result == 42"}, namespace={"result": 42})


@pytest.mark.parametrize("nb_path", [p for p in list_notebooks(REPO / "notebooks") if p.name not in UNGRADED],
                         ids=lambda p: p.stem)
def test_every_notebook_has_graded_exercises(nb_path: Path):
    nb = json.loads(nb_path.read_text())
    found = exercises(nb, nb_path.name)
    assert len(found) >= MIN_EXERCISES, f"{nb_path.name}: {len(found)} graded exercises, at least {MIN_EXERCISES} wanted"
    assert exercise_problems(nb, nb_path.name) == []
    assert all(ex.points > 0 for ex in found)


# --------------------------------------------------------------------------- the nbgrader cycle


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    # nbgrader runs the `alembic` command of its environment: put the interpreter's bin first on PATH
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0",
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args, "--CourseDirectory.root=" + str(course)],
                          cwd=course, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
    return proc


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.xdist_group("nbgrader")
def test_nbgrader_release_and_autograde_cycle(tmp_path):
    """generate_assignment makes the release; autograde gives a filled-in copy every point and
    the untouched release none (notebook 04 at smoke size)."""
    pytest.importorskip("nbgrader")
    from nbgrader.api import Gradebook

    name = "04_mcd_components"
    source = REPO / "notebooks" / f"{name}.ipynb"
    smoke = tmp_path / "smoke" / source.name
    params = parameters_for(source, load_param_set(REPO / "notebooks" / "params" / "smoke.yaml"),
                            {"runs_root": str(tmp_path / "runs")})
    parameterize(source, params, smoke)
    course = write_course(tmp_path / "course", [smoke])
    assert (course / "source" / name / source.name).is_file()

    _nbgrader(course, "generate_assignment", name, "--force")
    release = json.loads((course / "release" / name / source.name).read_text())
    text = json.dumps(release)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    solution = json.loads(smoke.read_text())
    graded = exercises(solution, name)
    # the release stubs are mcdlib's hinted stubs, as in notebooks/exercises/
    stubs = [c["source"] for c in release["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    assert len(stubs) == len(graded) and all('raise NotImplementedError("Exercise: ' in "".join(s) for s in stubs)
    ours = [c["source"] for c in json.loads(expected_copies(REPO / "notebooks")[source.name])["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
    assert ["".join(s) for s in stubs] == ["".join(s) for s in ours]

    # two submissions: the release filled in with the solutions, and the release untouched
    answers = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in solution["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    filled = json.loads(json.dumps(release))
    for cell in filled["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    for student, nb in (("filled", filled), ("empty", release)):
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        (folder / source.name).write_text(json.dumps(nb))
    _nbgrader(course, "autograde", name, "--create", "--force")

    total = sum(ex.points for ex in graded)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s: gradebook.find_submission(name, s).score for s in ("filled", "empty")}
        max_score = gradebook.find_assignment(name).max_score
    assert max_score == total and total >= 3
    assert scores == {"filled": total, "empty": 0.0}, scores


def test_course_command_lays_out_an_nbgrader_course(tmp_path, capsys):
    from mcdlib.cli import main

    assert main(["notebooks", "course", str(tmp_path / "course"), "04", "--params", "smoke"]) == 0
    assert "source/04_mcd_components/04_mcd_components.ipynb" in capsys.readouterr().out
    config = (tmp_path / "course" / "nbgrader_config.py").read_text()
    assert "HintedClearSolutions" in config and "c.Execute.timeout = 1800" in config
    copied = json.loads((tmp_path / "course" / "source" / "04_mcd_components" / "04_mcd_components.ipynb").read_text())
    assert any("injected-parameters" in c["metadata"].get("tags", []) for c in copied["cells"])
    assert len(exercises(copied)) >= MIN_EXERCISES
    assert main(["notebooks", "course", str(tmp_path / "other"), "00_tour"]) == 2  # no graded exercise
    assert "no graded exercise" in capsys.readouterr().err
