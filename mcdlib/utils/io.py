"""Generic file and runtime helpers shared by the dataset builders and extractors.

* :func:`save_npy` / :func:`write_json`: write through a temporary file and a rename, so an
  interrupted run never leaves a half-written feature or manifest (resumable pipelines rely
  on "a file that exists is complete");
* :func:`file_sha256`: streaming SHA-256 of a file;
* :func:`package_versions`: installed versions of named distributions (for manifests);
* :func:`torch_threads`: run a block with a given number of torch CPU threads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run torch with ``threads`` CPU threads inside the block (0: leave as is), then restore."""
    import torch

    before = torch.get_num_threads()
    if threads > 0:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def save_npy(path: Path, array: np.ndarray) -> None:
    """``np.save`` through a temporary file and a rename (never a half-written feature)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, np.ascontiguousarray(array))
    os.replace(tmp, path)


def write_json(path: Path, data, indent: int | None = None) -> None:
    """Deterministic JSON (UTF-8, insertion order kept) through a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=indent), encoding="utf-8")
    os.replace(tmp, path)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(names: Sequence[str]) -> dict[str, str]:
    """``{distribution: version}`` for ``names`` (``"not installed"`` when absent)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
