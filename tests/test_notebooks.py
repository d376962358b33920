"""Every notebook runs top to bottom on a fresh kernel at the smoke size, under nbval.

The smoke parameter set (notebooks/params/smoke.yaml) is injected with papermill's
parameterizer into a copy in a temporary folder (data and run folders point there too), then
nbval executes the copy in a subprocess with the current interpreter. Correctness comes from
the assertions and check cells inside the notebooks.

The copy also carries a probe cell before each graded answer cell
(:func:`mcdlib.workbook.grading.with_failure_probes`): it runs the answer as the student copy has
it (stubbed) and then the exercise's check cells as students see them, and fails unless every check
fails. So the one smoke run proves that the solutions pass every check and that no check passes
before the student has written the answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SHARED_ANNOTATIONS

from mcdlib.workbook.grading import with_failure_probes
from mcdlib.workbook.runner import (list_notebooks, load_param_set, parameterize, parameters_cell,
                                    parameters_for, _read)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = list_notebooks(REPO / "notebooks")


def test_notebooks_exist_and_are_clean():
    assert NOTEBOOKS, "no notebooks/NN_topic.ipynb found"
    for nb_path in NOTEBOOKS:
        nb = json.loads(nb_path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and not cell.get("execution_count"), \
                    f"{nb_path.name} is committed with outputs: run `nbstripout {nb_path}`"
        params = parameters_cell(_read(nb_path))
        assert "seed" in params and "device" in params, f"{nb_path.name}: parameters cell lacks seed/device"
        # the smoke set names only parameters the notebook declares
        parameters_for(nb_path, load_param_set(REPO / "notebooks" / "params" / "smoke.yaml"))


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("smoke")


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_under_nbval(nb_path: Path, smoke_root: Path):
    param_set = load_param_set(REPO / "notebooks" / "params" / "smoke.yaml")
    extra = {"data_root": str(smoke_root / "data"), "runs_root": str(smoke_root / "runs")}
    if (SHARED_ANNOTATIONS / "json_update").is_dir():  # the official files, when the developers have them
        extra["annotations_dir"] = str(SHARED_ANNOTATIONS)
    params = parameters_for(nb_path, param_set, extra)
    # the copy lives next to the originals' folder structure so relative imports/paths behave
    copy = parameterize(nb_path, params, smoke_root / "notebooks" / nb_path.name)
    copy.write_text(json.dumps(with_failure_probes(json.loads(copy.read_text()), nb_path.name), indent=1))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONHASHSEED="0")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider",
         "-q", "--nbval-cell-timeout", "600", str(copy)],
        cwd=REPO / "notebooks", env=env, capture_output=True, text=True, timeout=1500,
    )
    assert proc.returncode == 0, f"{nb_path.name} failed under nbval:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
