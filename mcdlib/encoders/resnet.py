"""ResNet-18 frame features and the 14x14 grid, as the MUSIC-AVQA reference code extracts them.

:class:`ResNet18Encoder` runs torchvision's ResNet-18 (ImageNet weights from a local file) twice
per frame, as the reference extraction does with two scripts:

* ``res18`` ``[512]`` per frame: the standard network up to its global average pooling, on the
  frame resized to 256 and centre-cropped to 224, normalised with the ImageNet mean/std
  (the reference's ``pretrainedmodels`` transform);
* ``res18_14x14`` ``[512, 14, 14]`` per frame: the same weights with layer4 at stride 1 (its
  first block's 3x3 convolution and shortcut), on the 224x224 frame normalised with mean
  (0.43216, 0.394666, 0.37645) and std (0.22803, 0.22145, 0.216989), the last feature map
  kept whole (stored channels-first like the released folder; the dataset turns it into 196
  grid cells).

Weights: ``weights=FILE`` (torchvision's ``resnet18-f37072fd.pth``), else the file already in
torchvision's download cache (``$TORCH_HOME/hub/checkpoints/``). Nothing is downloaded; a missing
file is a ConfigError saying where to put it (:data:`RESNET18_WEIGHTS`).

Difference to the reference, stated: mcdlib decodes one frame per second as a 224x224 centre
crop (:mod:`mcdlib.data.video`); the reference's 14x14 script squeezes the whole frame to
224x224, so grid cells near the left and right edges of wide videos differ.

>>> enc = ResNet18Encoder(weights="weights/resnet18-f37072fd.pth")      # doctest: +SKIP
>>> frame, grid = enc.encode(frames)                                       # uint8 [B, 224, 224, 3]
>>> frame.shape, grid.shape
((B, 512), (B, 512, 14, 14))
"""

from __future__ import annotations

import copy
from importlib import metadata

import numpy as np
from tqdm.auto import tqdm

from mcdlib.encoders.visual import (BATCH_SIZE, IMAGENET_MEAN, IMAGENET_STD, VisualEncoder, _check_images,
                                    images_to_tensor, normalise)
from mcdlib.encoders.weights import WeightsSpec, default_cache_dir, locate_weights
from mcdlib.errors import ConfigError, McdError

#: normalisation of the reference 14x14 extraction (docs/DATASETS.md)
GRID_MEAN = (0.43216, 0.394666, 0.37645)
GRID_STD = (0.22803, 0.22145, 0.216989)
#: frame features: resize to 256, centre crop 224 (the reference's pretrainedmodels transform)
RESIZE, CROP = 256, 224
#: torchvision's ImageNet ResNet-18 weights (IMAGENET1K_V1). Its full SHA-256 could not be
#: confirmed when this was written; the file name carries its first 8 digits (torch.hub's
#: convention), which is checked. Older torchvision releases named it resnet18-5c106cde.pth.
RESNET18_WEIGHTS = WeightsSpec(
    what="ResNet-18 (torchvision, ImageNet)",
    file_name="resnet18-f37072fd.pth",
    source="https://download.pytorch.org/models/resnet18-f37072fd.pth",
    option="--visual-weights",
    licence="torchvision code BSD-3-Clause; the ImageNet weights carry ImageNet's terms (non-commercial research)",
)
OLD_FILE_NAME = "resnet18-5c106cde.pth"


def import_torchvision():
    try:
        import torchvision
    except ImportError as exc:
        raise McdError("the ResNet-18 encoder needs torchvision built for the installed torch: "
                       "pip install torchvision==0.29.1 (make setup installs it)") from exc
    return torchvision


def stride_one(layer):
    """A copy of a ResNet stage whose first block keeps the resolution (stride 1)."""
    layer = copy.deepcopy(layer)
    block = layer[0]
    block.conv1.stride = (1, 1)
    if block.downsample is not None:
        block.downsample[0].stride = (1, 1)
    return layer


class ResNet18Encoder(VisualEncoder):
    """ImageNet ResNet-18: ``res18`` frame vectors ``[512]`` and ``res18_14x14`` maps ``[512, 14, 14]``."""

    name = "resnet18"
    dim = 512
    input_size = 224
    grid = 196  # 14 x 14 cells

    def __init__(self, grid: int = 3, batch_size: int = BATCH_SIZE, weights: str | None = None, sha256: str = ""):
        del grid  # the map is 14x14 by construction; --grid applies to efficientnet_lite0
        torchvision = import_torchvision()
        import torch

        self._torch = torch
        self.batch_size = int(batch_size)
        cache = default_cache_dir()
        checked = locate_weights(RESNET18_WEIGHTS, weights, sha256,
                                 search=[cache / RESNET18_WEIGHTS.file_name, cache / OLD_FILE_NAME])
        model = torchvision.models.resnet18(weights=None)
        try:
            model.load_state_dict(torch.load(checked.path, map_location="cpu", weights_only=True))
        except Exception as error:  # noqa: BLE001 - corrupt file or another architecture
            raise ConfigError(f"cannot load ResNet-18 weights from {checked.path}: {error}; give torchvision's "
                              f"{RESNET18_WEIGHTS.file_name} ({RESNET18_WEIGHTS.source})") from None
        model.eval()
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        self.model = model
        self.layer4_stride1 = stride_one(model.layer4).eval()
        self.weights = checked
        self.version = (f"resnet18/{checked.path.name}:{checked.sha256[:16]}/torchvision-"
                        f"{metadata.version('torchvision')}/frame:resize{RESIZE}-crop{CROP}-imagenet/"
                        f"grid:layer4-stride1-{self.input_size}px-mean{GRID_MEAN}")

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return (self.dim, 14, 14)

    def _trunk(self, x):
        m = self.model
        return m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x)))))))

    def frame_input(self, images: np.ndarray):
        x = images_to_tensor(images, RESIZE)
        start = (RESIZE - CROP) // 2
        return normalise(x[..., start:start + CROP, start:start + CROP], IMAGENET_MEAN, IMAGENET_STD)

    def grid_input(self, images: np.ndarray):
        return normalise(images_to_tensor(images, self.input_size), GRID_MEAN, GRID_STD)

    def encode(self, images: np.ndarray, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(frame [B, 512], grid [B, 512, 14, 14])`` float32, in batches of ``batch_size``."""
        images = _check_images(images)
        n = len(images)
        frames = np.empty((n, self.dim), dtype=np.float32)
        grids = np.empty((n, *self.grid_shape), dtype=np.float32)
        with self._torch.no_grad():
            for start in tqdm(range(0, n, self.batch_size), desc="encode frames (resnet18)", unit="batch",
                              disable=not progress, leave=False):
                chunk = images[start:start + self.batch_size]
                frames[start:start + len(chunk)] = self.model.layer4(self._trunk(self.frame_input(chunk))).mean(
                    dim=(2, 3)).numpy()
                grids[start:start + len(chunk)] = self.layer4_stride1(self._trunk(self.grid_input(chunk))).numpy()
        return frames, grids
