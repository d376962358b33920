"""The one setup call at the top of every notebook.

>>> session = setup(seed=0, device="auto", run_dir="runs/05_train")
mcdlib 0.1.0 · torch 2.14.1 · device cpu (2 threads) · seed 0 · runs/05_train

It seeds every generator, resolves the device, finds the repository root (so relative paths
in parameters work whether the notebook runs in JupyterLab, papermill or nbval), creates the
run folder, sets a plot style, and prints a one-line banner.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def repo_root(start: Path | None = None) -> Path:
    """The project folder: where mcdlib is installed from (``pip install -e .``), else the
    folder holding pyproject.toml above ``start`` (default: the working directory)."""
    package_parent = Path(__file__).resolve().parents[2]
    if start is None and (package_parent / "pyproject.toml").is_file():
        return package_parent
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "mcdlib").is_dir():
            return folder
    return here


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass
class Session:
    root: Path
    run_dir: Path | None
    device: object
    seed: int

    def path(self, relative: str | Path) -> Path:
        """A parameter path resolved against the repository root (absolute paths kept)."""
        p = Path(relative)
        return p if p.is_absolute() else self.root / p


def setup(seed: int = 0, device: str = "auto", run_dir: str | Path | None = None,
          threads: int = 0, plots: bool = True, quiet: bool = False) -> Session:
    """Seed, pick the device, create the run folder, style plots, print a banner."""
    import torch

    import mcdlib
    from mcdlib.train.device import resolve_device

    if threads:
        torch.set_num_threads(threads)
    seed_everything(seed)
    root = repo_root()
    dev = resolve_device(device)
    run_path = None
    if run_dir is not None:
        run_path = Path(run_dir) if Path(run_dir).is_absolute() else root / run_dir
        run_path.mkdir(parents=True, exist_ok=True)
    if plots:
        os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
        try:
            import seaborn as sns

            sns.set_theme(context="notebook", style="whitegrid")
        except ImportError:  # plots are optional
            pass
    if not quiet:
        where = f" · {run_path.relative_to(root) if run_path and run_path.is_relative_to(root) else run_path}" if run_path else ""
        print(f"mcdlib {mcdlib.__version__} · torch {torch.__version__} · device {dev}"
              f" ({torch.get_num_threads()} threads) · seed {seed}{where}")
    return Session(root=root, run_dir=run_path, device=dev, seed=seed)
