"""Shared fixtures. The official annotations live in ../shared/data/music_avqa (never copied
into the project); tests that need them are skipped with a reason when the folder is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_ANNOTATIONS = Path(os.environ.get("MCD_SHARED_ANNOTATIONS", REPO.parent / "shared" / "data" / "music_avqa"))


@pytest.fixture(scope="session")
def shared_annotations() -> Path:
    """../shared/data/music_avqa (holds json/ and json_update/), or skip."""
    if not (SHARED_ANNOTATIONS / "json_update" / "avqa-test.json").is_file():
        pytest.skip(f"official MUSIC-AVQA annotations not found at {SHARED_ANNOTATIONS} "
                    "(set MCD_SHARED_ANNOTATIONS to the folder holding json/ and json_update/)")
    return SHARED_ANNOTATIONS


@pytest.fixture(autouse=True, scope="session")
def _quiet_threads():
    """Tests run two at a time on two cores: one torch thread each."""
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass
    yield


@pytest.fixture(scope="session")
def tiny_data_root(tmp_path_factory) -> Path:
    """A folder holding ``music_scenes/tiny``: the tiny music-scenes build, made once per test
    process (the builder caches it; tests that need their own build use their own folder)."""
    from mcdlib.scenes.build import build_dataset

    root = tmp_path_factory.mktemp("data")
    build_dataset("tiny", root / "music_scenes" / "tiny", seed=0, progress=False)
    return root
