"""Where a dataset's question vocabulary and text-feature caches live (``data.cache_dir``).

By default the caches are written inside the dataset, under ``<root>/cache/``, so every run on
that dataset shares them. When the dataset folder is read-only (a shared class folder, a
read-only mount), caches already there are still read, and new ones go to a per-user folder,
``$XDG_CACHE_HOME/mcdlib/datasets/<name>-<hash of the dataset path>`` (``~/.cache`` when
``XDG_CACHE_HOME`` is unset), with a one-line notice. ``data.cache_dir=DIR`` puts them in DIR
instead (read and written there only).

>>> location = cache_location(cfg.data)                                   # doctest: +SKIP
>>> location.find("question_vocab-json-train.json")   # an existing file, or None
>>> location.target("question_vocab-json-train.json") # where a new one is written
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SUBDIR = "cache"

#: dataset roots whose fallback notice was printed (once per process)
_ANNOUNCED: set[str] = set()


def user_cache_home() -> Path:
    """``$XDG_CACHE_HOME/mcdlib`` (default ``~/.cache/mcdlib``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcdlib"


def fallback_dir(root: str | Path) -> Path:
    """The per-user cache folder of a read-only dataset folder."""
    resolved = os.path.realpath(root)
    key = hashlib.sha256(resolved.encode()).hexdigest()[:8]
    return user_cache_home() / "datasets" / f"{Path(resolved).name or 'dataset'}-{key}"


def is_writable(folder: str | Path) -> bool:
    """Whether files can be created in ``folder`` (or, when it does not exist yet, in the nearest
    existing folder above it)."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


@dataclass(frozen=True)
class CacheLocation:
    """Folders searched for existing cache files (in order) and the folder new ones go to."""

    read: tuple[Path, ...]
    write: Path
    notice: str = ""

    def find(self, relative: str | Path) -> Path | None:
        """The first existing ``<folder>/<relative>`` among the read folders."""
        for folder in self.read:
            path = folder / relative
            if path.exists():
                return path
        return None

    def candidates(self, relative: str | Path) -> list[Path]:
        """``<folder>/<relative>`` for every read folder (in order)."""
        return [folder / relative for folder in self.read]

    def target(self, relative: str | Path) -> Path:
        """Where to write ``relative`` (its folder created); prints the fallback notice once."""
        if self.notice and str(self.write) not in _ANNOUNCED:
            _ANNOUNCED.add(str(self.write))
            print(f"mcd: notice: {self.notice}", file=sys.stderr)
        path = self.write / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


def cache_location(cfg) -> CacheLocation:
    """The cache folders of a DataConfig (see the module doc)."""
    if getattr(cfg, "cache_dir", ""):
        folder = Path(cfg.cache_dir)
        return CacheLocation((folder,), folder)
    return default_location(cfg.root)


def default_location(root: str | Path) -> CacheLocation:
    """``<root>/cache``, or the per-user fallback when the dataset folder is read-only."""
    inside = Path(root) / DEFAULT_SUBDIR
    if is_writable(inside):
        return CacheLocation((inside,), inside)
    fallback = fallback_dir(root)
    return CacheLocation((inside, fallback), fallback,
                         notice=f"the dataset folder {root} is read-only: its caches are written to {fallback} "
                                "(set data.cache_dir to choose another folder)")
