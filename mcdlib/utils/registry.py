"""Registries whose entries are imported only when used (heavy optional packages stay unloaded)."""

from __future__ import annotations

import importlib
from typing import Any


def load_target(target: str) -> Any:
    """The object named ``"package.module:Name"`` (imported now)."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)
