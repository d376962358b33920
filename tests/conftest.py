"""Shared fixtures. The official annotations live in ../shared/data/music_avqa (never copied
into the project); tests that need them are skipped with a reason when the folder is absent."""

from __future__ import annotations

import json
import os
import string
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


# --------------------------------------------------------------------------- encoders with random weights
# Real weights never install offline: the architectures are built from their configs with random
# weights and saved, so the encoders' real loading code runs (tests/test_encoders_pretrained.py).


@pytest.fixture(scope="session")
def resnet18_random_weights(tmp_path_factory) -> Path:
    """torchvision's ResNet-18 architecture with random weights, saved as a state dict file."""
    import torch
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("resnet") / "resnet18-random.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


@pytest.fixture(scope="session")
def vggish_random_weights(tmp_path_factory) -> Path:
    """The full-size VGGish network with small random weights (289 MB), saved as a state dict file."""
    import torch

    from mcdlib.encoders.vggish import vggish_state_shapes

    generator = torch.Generator().manual_seed(0)
    state = {name: torch.randn(shape, generator=generator) * 0.02 for name, shape in vggish_state_shapes().items()}
    path = tmp_path_factory.mktemp("vggish") / "vggish-random.pth"
    torch.save(state, path)
    return path


def write_tiny_clip(folder: Path) -> Path:
    """A tiny CLIPModel (random weights; 64 px images, 16 px patches: 16 patches; 32-d projection),
    a character-level CLIP tokenizer and an image preprocessor, saved as a model folder."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in string.ascii_lowercase + string.digits + "?',.-":
        vocab.setdefault(c, len(vocab))
        vocab.setdefault(c + "</w>", len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    config = CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
                         vocab_size=len(vocab), max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(hidden_size=24, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
                           image_size=64, patch_size=16),
        projection_dim=32)
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_clip_folder(tmp_path_factory) -> Path:
    return write_tiny_clip(tmp_path_factory.mktemp("clip") / "tiny-clip")
