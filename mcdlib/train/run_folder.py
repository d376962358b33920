"""The run folder: where one training run keeps everything it writes.

::

    RUN/
      config.yaml          the run's settings (mcdlib.config)
      metrics.jsonl        one JSON record per epoch (train/val losses and accuracies)
      checkpoints/last.pt  the latest epoch (resume point)
      checkpoints/best.pt  the epoch with the best val accuracy
      run.json             status, best epoch, val accuracy, timings, device, versions
      predictions_<split>.json   written by mcdlib.train.predict
      scores_<split>.json        the official 13 lines of those predictions
      .lock                while a process writes here: its pid and host (mcdlib.utils.lock)

One process at a time writes a run folder: training, resuming and evaluating take the folder's
lock (:func:`lock_run`); a second process is refused naming the holder, and a lock left by a
killed process is taken over with a notice.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from mcdlib.errors import ConfigError, RunError
from mcdlib.utils.names import safe_name
from mcdlib.utils.lock import FolderLock, pid_alive, read_holder


@dataclass(frozen=True)
class RunFolder:
    """Paths inside a run folder (nothing is created until something is written)."""

    root: Path

    def __init__(self, root: str | Path):
        object.__setattr__(self, "root", Path(root))

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    def checkpoint(self, which: str = "best") -> Path:
        """``best``, ``last`` or a path to a checkpoint file."""
        if which in ("best", "last"):
            return getattr(self, which)
        return Path(which)

    def predictions(self, split: str) -> Path:
        return self.root / f"predictions_{safe_name(split, what='split name', error=ConfigError)}.json"

    def scores(self, split: str) -> Path:
        return self.root / f"scores_{safe_name(split, what='split name', error=ConfigError)}.json"

    def status(self) -> dict[str, Any]:
        """The content of ``run.json`` (``{}`` when absent)."""
        return read_json(self.run_json) if self.run_json.is_file() else {}

    def is_finished(self) -> bool:
        return self.status().get("status") == "finished"

    def describe_status(self) -> str:
        """``"finished, 3/3 epochs"``, ``"interrupted, 1/3 epochs"``; a run whose run.json still
        says running while no process holds its lock is reported as killed."""
        status = self.status()
        state = status.get("status", "unknown (no run.json)")
        holder = read_holder(self.root)
        if state == "running" and (holder is None or (holder.on_this_host and not pid_alive(holder.pid))):
            state = "killed or crashed while running"
        done, total = status.get("epochs_done"), status.get("epochs")
        return f"{state}, {done}/{total} epochs" if done is not None else state

    def require_finished(self, allow_unfinished: bool = False, what: str = "evaluate") -> dict[str, Any]:
        """The run's status; RunError for an unfinished run unless ``allow_unfinished``."""
        status = self.status()
        if status.get("status") != "finished" and not allow_unfinished:
            raise RunError(f"{self.root}: the run is not finished ({self.describe_status()}); resume it with "
                           f"`mcd train --out {self.root} --resume`, or {what} its checkpoint as it is with "
                           "--allow-unfinished")
        return status

    def require_config(self) -> Path:
        if not self.config.is_file():
            raise RunError(f"{self.root}: not a run folder (no config.yaml); "
                           f"train one with: mcd train --data DIR --model mcd --out {self.root}")
        return self.config


def lock_run(root: str | Path, what: str = "mcd train") -> FolderLock:
    """The run folder's exclusive lock (a context manager; creates the folder, RunError when it
    cannot or another live process holds it)."""
    return FolderLock(root, what=what, error=RunError)


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (temporary file, then ``os.replace``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, default=_jsonable) + "\n")
    os.replace(tmp, path)
    return path


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path}: file not found") from None
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg}); delete it and rerun") from None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Every epoch record of a ``metrics.jsonl`` file (or of the run folder holding it)."""
    path = Path(path)
    if path.is_dir():
        path = RunFolder(path).metrics
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            raise RunError(f"{path}: line {number} is not valid JSON; delete that line "
                           "(or the file) and resume the run") from None
    return records


def write_metrics(path: str | Path, records: Iterable[dict[str, Any]]) -> None:
    """Rewrite a ``metrics.jsonl`` file atomically (used to drop epochs after a resume point)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text("".join(json.dumps(r, default=_jsonable) + "\n" for r in records))
    os.replace(tmp, path)


def append_metrics(path: str | Path, record: dict[str, Any]) -> None:
    """Append one epoch record (flushed and fsynced; RunError when the disk refuses)."""
    try:
        with open(path, "a") as fh:
            fh.write(json.dumps(record, default=_jsonable) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise RunError(f"{path}: cannot record epoch {record.get('epoch')} ({exc.strerror or exc}); the "
                       f"checkpoints of the epochs before are kept: free disk space, then resume with "
                       f"mcd train --out {Path(path).parent} --resume") from None


def package_versions() -> dict[str, str]:
    """Versions of Python and the packages a run's numbers depend on."""
    import numpy
    import torch

    import mcdlib

    return {"python": platform.python_version(), "mcdlib": mcdlib.__version__,
            "torch": torch.__version__, "numpy": numpy.__version__,
            "cuda": torch.version.cuda or "none", "platform": platform.platform()}


def read_curves(run_dir: str | Path) -> dict[str, list]:
    """Learning curves of a run from its ``metrics.jsonl``: ``epoch``, ``train_acc``,
    ``val_acc``, ``train_loss``, ``val_loss`` and ``lr`` (None where an epoch was not
    validated), e.g. for the train-vs-val plots of the decision-level fusion study."""
    records = read_metrics(run_dir)

    def pick(split: str, key: str) -> list:
        return [(r.get(split) or {}).get(key) for r in records]

    return {"epoch": [r["epoch"] for r in records], "lr": [r.get("lr") for r in records],
            "train_acc": pick("train", "acc"), "val_acc": pick("val", "acc"),
            "train_loss": pick("train", "loss"), "val_loss": pick("val", "loss")}
