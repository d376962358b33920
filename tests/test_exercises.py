"""Student copies generated from the solution notebooks (mcdlib.workbook.exercises)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from mcdlib.cli import main
from mcdlib.errors import ConfigError
from mcdlib.workbook.exercises import (DEFAULT_HINT, NOTE_CELL_ID, check_exercises, expected_copies,
                                       exercises_dir, find_regions, generate_exercises, stub_solutions)
from mcdlib.workbook.runner import list_notebooks, notebooks_dir

SOLUTION_CELL = '''\
import math

def norm(xs):
    total = 0.0
    # BEGIN SOLUTION: sum the squares, then take the square root
    for x in xs:
        total += x * x
    return math.sqrt(total)
    # END SOLUTION

result = norm([3.0, 4.0])'''
CHECK_CELL = "assert result == 5.0, result"


def _solution_notebook(folder: Path, name: str = "01_norm.ipynb") -> Path:
    """A solution notebook: parameters cell, a region in a function, a check cell, a cell
    tagged ``solution`` and a code cell with stored outputs."""
    nb = v4.new_notebook()
    nb.cells = [
        v4.new_markdown_cell("# Norms"),
        v4.new_code_cell("seed = 0\ndevice = 'auto'", metadata={"tags": ["parameters"]}),
        v4.new_code_cell(SOLUTION_CELL),
        v4.new_code_cell(CHECK_CELL),
        v4.new_code_cell("print('the whole answer')", metadata={"tags": ["solution"]}),
        v4.new_code_cell("print(1)", execution_count=3,
                         outputs=[v4.new_output("stream", name="stdout", text="1\n")]),
    ]
    path = folder / name
    nbformat.write(nb, str(path))
    return path


def _plain_notebook(folder: Path, name: str = "02_plain.ipynb") -> Path:
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("seed = 0\ndevice = 'auto'", metadata={"tags": ["parameters"]})]
    nbformat.write(nb, str(folder / name))
    return folder / name


@pytest.fixture
def workbook(tmp_path) -> tuple[Path, Path]:
    src = tmp_path / "notebooks"
    src.mkdir()
    _solution_notebook(src)
    _plain_notebook(src)
    return src, src / "exercises"


# --------------------------------------------------------------------------- regions and stubs


def test_find_regions_reads_indentation_and_hints():
    source = "a = 1\n  # BEGIN SOLUTION\n  b = 2\n  # END SOLUTION\n#BEGIN SOLUTION:  add c  \nc = 3\n# END SOLUTION"
    first, second = find_regions(source)
    assert (first.begin, first.end, first.indent, first.hint) == (1, 3, "  ", DEFAULT_HINT)
    assert (second.begin, second.end, second.indent, second.hint) == (4, 6, "", "add c")
    assert find_regions("x = '# BEGIN SOLUTION'\n") == []  # only whole-line comments count


def test_stub_keeps_the_lines_around_the_region_with_its_indentation():
    stubbed = stub_solutions(SOLUTION_CELL)
    assert stubbed.splitlines() == [
        "import math", "", "def norm(xs):", "    total = 0.0",
        '    raise NotImplementedError("Exercise: sum the squares, then take the square root")',
        "", "result = norm([3.0, 4.0])",
    ]
    namespace: dict = {}
    with pytest.raises(NotImplementedError, match="Exercise: sum the squares"):
        exec(compile(stubbed, "student", "exec"), namespace)
    # a region at the very end of a cell keeps the cell's missing final newline
    assert stub_solutions("x = 1\n# BEGIN SOLUTION\ny = 2\n# END SOLUTION") == \
        f'x = 1\nraise NotImplementedError("Exercise: {DEFAULT_HINT}")'


def test_hint_with_quotes_gives_a_valid_literal():
    stubbed = stub_solutions('# BEGIN SOLUTION: use "softmax" \\ not argmax\npass\n# END SOLUTION\n')
    with pytest.raises(NotImplementedError) as info:
        exec(compile(stubbed, "student", "exec"), {})
    assert str(info.value) == 'Exercise: use "softmax" \\ not argmax'


@pytest.mark.parametrize("source, problem", [
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION\n", "do not nest"),
    ("x = 1\n# END SOLUTION\n", "without a '# BEGIN SOLUTION'"),
    ("# BEGIN SOLUTION\nx = 1\n", "never closed"),
])
def test_unbalanced_markers_name_the_cell_and_line(source, problem):
    with pytest.raises(ConfigError, match=problem) as info:
        find_regions(source, where="03_x.ipynb cell 4")
    assert "03_x.ipynb cell 4, line" in str(info.value)


def test_generation_names_the_notebook_with_broken_markers(tmp_path):
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("# BEGIN SOLUTION\nx = 1")]
    nbformat.write(nb, str(tmp_path / "07_broken.ipynb"))
    with pytest.raises(ConfigError, match=r"07_broken.ipynb cell 0 \(id .*\), line 1"):
        generate_exercises(tmp_path, tmp_path / "exercises")


# --------------------------------------------------------------------------- student copies


def test_student_copy_content(workbook):
    src, out = workbook
    sync = generate_exercises(src, out)
    assert sync.written == [out / "01_norm.ipynb"]  # 02_plain has no exercise: no copy
    copy = nbformat.read(str(out / "01_norm.ipynb"), as_version=4)
    nbformat.validate(copy)
    sources = [c.source for c in copy.cells]
    assert copy.cells[0].id == NOTE_CELL_ID and "../01_norm.ipynb" in sources[0]
    assert sources[1] == "# Norms"
    assert copy.cells[2].metadata["tags"] == ["parameters"]  # metadata kept
    assert sources[3] == stub_solutions(SOLUTION_CELL) and "BEGIN SOLUTION" not in sources[3]
    assert sources[4] == CHECK_CELL  # the check cell follows its stub
    assert "print('the whole answer')" not in sources  # the cell tagged solution is gone
    assert all(c.outputs == [] and c.execution_count is None for c in copy.cells if c.cell_type == "code")
    assert copy.metadata["mcdlib"] == {"exercises_from": "01_norm.ipynb"}
    # the source notebook is untouched: it keeps its markers and outputs
    source_nb = nbformat.read(str(src / "01_norm.ipynb"), as_version=4)
    assert "# BEGIN SOLUTION" in source_nb.cells[2].source and source_nb.cells[5].outputs


def test_completed_student_copy_runs_top_to_bottom(workbook):
    """Filling the stub in with the solution makes every cell, the check included, pass."""
    src, out = workbook
    generate_exercises(src, out)
    copy = nbformat.read(str(out / "01_norm.ipynb"), as_version=4)
    namespace: dict = {}
    code = [c.source for c in copy.cells if c.cell_type == "code"]
    stubbed = code[1]
    solution = "    for x in xs:\n        total += x * x\n    return math.sqrt(total)"
    code[1] = stubbed.replace('    raise NotImplementedError("Exercise: sum the squares, then take the square root")',
                              solution)
    for source in code:
        exec(compile(source, "cell", "exec"), namespace)
    assert namespace["result"] == 5.0


def test_generation_is_deterministic(workbook, tmp_path):
    src, out = workbook
    generate_exercises(src, out)
    generate_exercises(src, tmp_path / "again")
    first = (out / "01_norm.ipynb").read_bytes()
    assert first == (tmp_path / "again" / "01_norm.ipynb").read_bytes()
    again = generate_exercises(src, out)
    assert again.written == [] and again.unchanged == [out / "01_norm.ipynb"]
    assert first.endswith(b"}\n") and json.loads(first)["nbformat"] == 4


def test_notebooks_without_cell_ids_get_no_random_ids(tmp_path):
    raw = {"cells": [{"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                      "source": ["# BEGIN SOLUTION\n", "x = 1\n", "# END SOLUTION\n"]}],
           "metadata": {}, "nbformat": 4, "nbformat_minor": 4}
    (tmp_path / "01_old.ipynb").write_text(json.dumps(raw))
    first = expected_copies(tmp_path)["01_old.ipynb"]
    assert first == expected_copies(tmp_path)["01_old.ipynb"]
    assert all("id" not in cell for cell in json.loads(first)["cells"])


def test_drift_detection(workbook):
    src, out = workbook
    drift = check_exercises(src, out)
    assert [(d.path.name, d.reason) for d in drift] == [("01_norm.ipynb", "missing")]
    generate_exercises(src, out)
    assert check_exercises(src, out) == []

    nb = nbformat.read(str(src / "01_norm.ipynb"), as_version=4)
    nb.cells[3].source = "assert result == 5.0"
    nbformat.write(nb, str(src / "01_norm.ipynb"))
    (out / "09_gone.ipynb").write_text("{}")
    drift = check_exercises(src, out)
    assert [(d.path.name, d.reason) for d in drift] == [("01_norm.ipynb", "stale"), ("09_gone.ipynb", "extra")]
    assert "stale" in str(drift[0]) and str(out / "01_norm.ipynb") in str(drift[0])

    sync = generate_exercises(src, out)
    assert sync.written == [out / "01_norm.ipynb"] and sync.removed == [out / "09_gone.ipynb"]
    assert check_exercises(src, out) == []


def test_cli_check_exits_1_on_drift_and_generate_fixes_it(workbook, capsys):
    src, out = workbook
    args = ["notebooks", "exercises", "--src", str(src), "--out", str(out)]
    assert main([*args, "--check"]) == 1
    assert "01_norm.ipynb: missing" in capsys.readouterr().out
    assert main(args) == 0
    assert "1 written, 0 unchanged, 0 removed" in capsys.readouterr().out
    assert main([*args, "--check"]) == 0
    assert "up to date" in capsys.readouterr().out


# --------------------------------------------------------------------------- the repository


def test_committed_exercise_copies_are_up_to_date():
    """CI gate: notebooks/exercises/ matches the solution notebooks (`mcd notebooks exercises`)."""
    has_sources = bool(expected_copies())
    has_copies = exercises_dir().is_dir() and any(exercises_dir().glob("*.ipynb"))
    if not has_sources and not has_copies:
        pytest.skip(f"no notebook in {notebooks_dir()} has a solution region yet "
                    f"({len(list_notebooks())} notebooks checked)")
    drift = check_exercises()
    assert drift == [], "exercise copies out of date, run `mcd notebooks exercises`:\n" + \
        "\n".join(map(str, drift))
