"""The papermill driver (mcdlib.workbook.runner) and ``mcd notebooks`` on synthetic notebooks."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat import v4

from mcdlib.cli import main
from mcdlib.errors import ConfigError, McdError
from mcdlib.workbook import runner
from mcdlib.workbook.runner import (list_notebooks, load_param_set, parameterize, parameters_cell,
                                    parameters_for, run_notebooks)

REPO = Path(__file__).resolve().parents[1]
PARAMETERS = "seed = 0\ndevice = 'auto'\nsizes: tuple = (2, 3)\nrun_dir = None\n# a comment\nlr = -1e-3"


def _notebook(*sources: str, parameters: str | None = PARAMETERS, extra_tagged: int = 0):
    """A notebook whose first cell (when given) is tagged ``parameters``."""
    nb = v4.new_notebook()
    if parameters is not None:
        nb.cells.append(v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}))
    nb.cells += [v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}) for _ in range(extra_tagged)]
    nb.cells += [v4.new_code_cell(s) for s in sources]
    return nb


def _write(path: Path, nb) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def workbook(tmp_path, monkeypatch) -> Path:
    """notebooks/ in tmp_path (the driver's notebooks_dir) with two parameter sets."""
    folder = tmp_path / "notebooks"
    monkeypatch.setattr(runner, "notebooks_dir", lambda: folder)
    sets = {"smoke": {"all": {"seed": 7, "preset": "tiny"}, "notebooks": {"01_good.ipynb": {"run_dir": "runs/x"}}},
            "classroom": {"all": {"seed": 0}}}
    for name, content in sets.items():
        (folder / "params").mkdir(parents=True, exist_ok=True)
        (folder / "params" / f"{name}.yaml").write_text(yaml.safe_dump(content))
    return folder


# --------------------------------------------------------------------------- parameters cell


def test_parameters_cell_reads_literals():
    assert parameters_cell(_notebook()) == {"seed": 0, "device": "auto", "sizes": (2, 3), "run_dir": None,
                                            "lr": -1e-3}


@pytest.mark.parametrize("nb, found", [(_notebook(parameters=None), 0), (_notebook(extra_tagged=1), 2)])
def test_parameters_cell_needs_exactly_one_tagged_cell(nb, found):
    with pytest.raises(ConfigError, match=rf"04_x.ipynb: .*exactly one cell tagged 'parameters' \(found {found}\)"):
        parameters_cell(nb, "04_x.ipynb")


@pytest.mark.parametrize("source, problem", [
    ("seed = 0\nsize = 2 * seed", r"parameter 'size' \(line 2\) is not a literal"),
    ("seed = = 0", r"the parameters cell does not parse \(line 1"),
])
def test_parameters_cell_rejects_non_literals(source, problem):
    with pytest.raises(ConfigError, match=rf"04_x.ipynb: {problem}"):
        parameters_cell(_notebook(parameters=source), "04_x.ipynb")


# --------------------------------------------------------------------------- parameter sets


def test_load_param_set_by_name_and_path(workbook):
    smoke = load_param_set("smoke")
    assert smoke["all"] == {"seed": 7, "preset": "tiny"}
    assert load_param_set(workbook / "params" / "classroom.yaml") == {"all": {"seed": 0}, "notebooks": {}}


def test_unknown_param_set_lists_the_available_ones(workbook):
    with pytest.raises(ConfigError, match=r"'nightly' not found .*available: classroom, smoke"):
        load_param_set("nightly")


def test_unknown_top_level_keys_are_an_error(workbook):
    bad = workbook / "params" / "bad.yaml"
    bad.write_text(yaml.safe_dump({"all": {}, "notebook": {}}))
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown top-level keys \['notebook'\]"):
        load_param_set(bad)


@pytest.mark.parametrize("name, preset, progress", [("smoke", "tiny", False), ("classroom", "classroom", True),
                                                     ("full", "full", True)])
def test_the_committed_parameter_sets(name, preset, progress):
    param_set = load_param_set(REPO / "notebooks" / "params" / f"{name}.yaml")
    assert {"seed", "device", "preset", "progress", "interactive"} <= set(param_set["all"])
    assert param_set["all"]["preset"] == preset and param_set["all"]["progress"] is progress
    assert param_set["all"]["interactive"] is False


def test_parameters_for_applies_all_only_where_declared(workbook):
    nb = _write(workbook / "01_good.ipynb", _notebook())
    chosen = parameters_for(nb, load_param_set("smoke"), extra={"lr": 0.5, "data_root": "/elsewhere"})
    # preset is not declared (dropped); run_dir is per-notebook; lr from extra; data_root dropped
    assert chosen == {"seed": 7, "run_dir": "runs/x", "lr": 0.5}


def test_parameters_for_rejects_unknown_per_notebook_names(workbook):
    nb = _write(workbook / "01_good.ipynb", _notebook())
    param_set = {"all": {}, "notebooks": {"01_good.ipynb": {"epochs": 1, "lr": 0.1, "batch": 2}}}
    with pytest.raises(ConfigError, match=r"01_good.ipynb: unknown parameter\(s\) \['batch', 'epochs'\]"):
        parameters_for(nb, param_set)


def test_parameterize_injects_a_tagged_cell_after_the_parameters_cell(tmp_path):
    source = _write(tmp_path / "01_good.ipynb", _notebook("print(seed)"))
    out = parameterize(source, {"seed": 7, "device": "cpu"}, tmp_path / "out" / "01_good.ipynb")
    nb = nbformat.read(str(out), as_version=4)
    assert [c.metadata.get("tags", []) for c in nb.cells] == [["parameters"], ["injected-parameters"], []]
    assert "seed = 7" in nb.cells[1].source and 'device = "cpu"' in nb.cells[1].source
    assert nbformat.read(str(source), as_version=4).cells[1].source == "print(seed)"  # source untouched


def test_run_notebooks_validates_names_before_running(workbook):
    _write(workbook / "01_good.ipynb", _notebook())
    with pytest.raises(McdError, match=r"unknown notebook\(s\) \['07_nope'\]"):
        run_notebooks(["07_nope"], params="smoke")
    (workbook / "params" / "typo.yaml").write_text(yaml.safe_dump({"notebooks": {"01_god.ipynb": {"seed": 1}}}))
    with pytest.raises(ConfigError, match=r"unknown notebook\(s\) \['01_god.ipynb'\]"):
        run_notebooks(params="typo")


def test_cli_list_shows_each_notebooks_parameters(workbook, capsys):
    _write(workbook / "01_good.ipynb", _notebook())
    assert main(["notebooks", "list"]) == 0
    assert "01_good.ipynb: seed=0, device='auto', sizes=(2, 3)" in capsys.readouterr().out


# --------------------------------------------------------------------------- execution (papermill)


def _good_and_bad(folder: Path) -> None:
    _write(folder / "01_good.ipynb", _notebook("assert seed == 7 and run_dir == 'runs/x'\nprint('seed', seed)"))
    # 'preset' (under all: in the smoke set) is declared by this notebook only: allowed, applied here only
    _write(folder / "02_bad.ipynb", _notebook("raise ValueError('boom in cell 2')",
                                              parameters=PARAMETERS + "\npreset = 'classroom'"))


@pytest.mark.slow
def test_run_notebooks_executes_and_reports_failures(workbook, tmp_path):
    _good_and_bad(workbook)
    results = run_notebooks(params="smoke", out_dir=tmp_path / "out", progress=False)
    assert [(r.notebook, r.ok) for r in results] == [("01_good.ipynb", True), ("02_bad.ipynb", False)]
    good, bad = results
    assert good.error == "" and good.seconds > 0
    executed = nbformat.read(str(good.output), as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "seed 7\n"
    assert "ValueError" in bad.error and "boom in cell 2" in bad.error
    assert bad.output.is_file()  # papermill writes the failed notebook with the failing cell marked


@pytest.mark.slow
def test_cli_run_exits_1_when_a_notebook_fails(workbook, tmp_path, capsys):
    _good_and_bad(workbook)
    status = main(["notebooks", "run", "02_bad", "--params", "smoke", "--out", str(tmp_path / "out"), "--no-progress"])
    assert status == 1
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("02_bad.ipynb"))
    assert "FAILED" in line and "boom in cell 2" in line
