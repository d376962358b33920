"""CLIP (Radford et al. 2021) image and text features through ``transformers``.

Two models, by registry name: ``clip_vit_b32`` (``openai/clip-vit-base-patch32``) and
``clip_vit_l14`` (``openai/clip-vit-large-patch14``). Each loads from ``source``: a local
folder holding a saved ``CLIPModel`` (``config.json``, weights, tokenizer and
``preprocessor_config.json``), or a hub name, read from the Hugging Face cache, or downloaded
when the machine is online (a notice says so; with ``HF_HUB_OFFLINE=1`` a missing model is a
ConfigError saying how to save a folder on a connected machine). Default ``source``: the hub
name of the model.

* :class:`ClipVisualEncoder` (visual encoders ``clip_vit_b32`` / ``clip_vit_l14``): per frame
  the projected image embedding of the [CLS] token (``image_embeds``: 512-d for B/32, 768-d for
  L/14; feature ``clip_vit_*``) and the patch tokens (``last_hidden_state`` at the patch
  positions, before the final layer norm and projection: ``[49, 768]`` for B/32, ``[256, 1024]``
  for L/14; feature ``clip_vit_*_patches``, a grid of cells for AVST-style grounding). Frames
  are resized (bicubic) and centre-cropped to the model's input size and normalised with the
  model's mean/std (from its ``preprocessor_config.json``, else CLIP's).
* :class:`ClipTextEncoder` (text encoders ``clip_vit_b32`` / ``clip_vit_l14``, the
  :class:`~mcdlib.encoders.text.TextEncoder` interface): question token features
  (``last_hidden_state``, 512-d / 768-d) and pooled text-object vectors (the projected
  end-of-text embedding ``text_embeds``, L2-normalised; 512-d / 768-d, the same size as the
  tokens for both models). Used by the text cache with ``data.text_model=clip_vit_b32``.

>>> enc = get_visual_encoder("clip_vit_b32", source="models/clip-vit-base-patch32")   # doctest: +SKIP
>>> frame, patches = enc.encode(frames)
>>> frame.shape, patches.shape
((B, 512), (B, 49, 768))
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.encoders.text import BATCH_SIZE as TEXT_BATCH_SIZE
from mcdlib.encoders.text import TextEncoder
from mcdlib.encoders.visual import BATCH_SIZE, VisualEncoder, _check_images, images_to_tensor, normalise
from mcdlib.errors import ConfigError, McdError

#: registry name -> default hub name
CLIP_MODELS: dict[str, str] = {"clip_vit_b32": "openai/clip-vit-base-patch32",
                               "clip_vit_l14": "openai/clip-vit-large-patch14"}
#: CLIP's normalisation (used when the model folder has no preprocessor_config.json)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
LICENCE = "MIT (OpenAI CLIP weights and code)"


def offline() -> bool:
    """True when the Hugging Face hub must not be reached (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE",
                                                                                          "TRANSFORMERS_OFFLINE"))


def save_command(hub_name: str) -> str:
    return (f"python -c \"from transformers import CLIPModel, CLIPProcessor; "
            f"CLIPModel.from_pretrained('{hub_name}').save_pretrained('DIR'); "
            f"CLIPProcessor.from_pretrained('{hub_name}').save_pretrained('DIR')\"")


def looks_like_hub_name(source: str) -> bool:
    """``owner/name`` (one slash, no leading ``.``, ``/`` or ``~``) and no such local folder."""
    return (source.count("/") == 1 and not source.startswith((".", "/", "~")) and not Path(source).exists())


def _quiet_transformers():
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def load_pretrained(loader, source: str, what: str):
    """``loader(source, local_files_only=...)`` from a folder, the hub cache, or (online) the hub."""
    _quiet_transformers()
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError(f"{path}: not a saved CLIP model folder (no config.json); save one with "
                              f"{save_command('openai/clip-vit-base-patch32')}")
        try:
            return loader(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path}: cannot load the CLIP {what} ({exc}); the folder must hold a whole saved "
                              "CLIPModel with its tokenizer and preprocessor") from None
    if not looks_like_hub_name(source):
        raise ConfigError(f"CLIP model folder {path} not found; give a folder holding a saved CLIPModel, or a hub "
                          f"name such as {CLIP_MODELS['clip_vit_b32']} on a machine that is online")
    try:
        return loader(source, local_files_only=True)
    except (OSError, ValueError):
        pass
    if offline():
        raise ConfigError(f"CLIP model {source!r} is not in the Hugging Face cache and the hub is off "
                          "(HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE): on a connected machine run "
                          f"{save_command(source)}, copy DIR here and pass it (--clip-model DIR or "
                          "data.text_model_source=DIR)")
    print(f"mcdlib: loading CLIP {what} {source!r} from the Hugging Face hub (downloaded into its cache once)",
          file=sys.stderr)
    try:
        return loader(source)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"CLIP model {source!r} could not be downloaded ({exc}); on a connected machine run "
                          f"{save_command(source)} and pass DIR") from None


@functools.lru_cache(maxsize=4)
def load_clip_part(source: str, part: str):
    """(model, config) of the ``vision`` or ``text`` half of a CLIP model (eval mode, frozen;
    loaded once per process). The projection size comes from the whole model's config."""
    from transformers import CLIPConfig, CLIPTextModelWithProjection, CLIPVisionModelWithProjection

    config = load_pretrained(CLIPConfig.from_pretrained, source, "configuration")
    if getattr(config, "model_type", "") != "clip":
        raise ConfigError(f"{source}: model type {getattr(config, 'model_type', '?')!r} is not a whole CLIP "
                          "model (clip); save a CLIPModel, not one half of it")
    sub = config.vision_config if part == "vision" else config.text_config
    sub.projection_dim = config.projection_dim
    cls = CLIPVisionModelWithProjection if part == "vision" else CLIPTextModelWithProjection
    model = load_pretrained(functools.partial(cls.from_pretrained, config=sub), source, f"{part} model").eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model, config


def fingerprint(source: str, config) -> str:
    """Identifies a CLIP model by its configuration and weight file sizes (not by where it lies)."""
    path = Path(source).expanduser()
    sizes = sorted((p.name, p.stat().st_size) for p in path.glob("*.safetensors")) if path.is_dir() else source
    payload = json.dumps([config.to_dict().get("projection_dim"), config.vision_config.to_dict(),
                          config.text_config.to_dict(), sizes], sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


class ClipVisualEncoder(VisualEncoder):
    """CLIP image features: projected [CLS] per frame and patch tokens (see module doc)."""

    name = ""

    def __init__(self, grid: int = 3, batch_size: int = BATCH_SIZE, source: str = ""):
        del grid  # the patch grid is fixed by the model; --grid applies to efficientnet_lite0
        import torch

        self._torch = torch
        self.batch_size = int(batch_size)
        self.source = source or CLIP_MODELS[self.name]
        self.model, config = load_clip_part(self.source, "vision")
        vision = config.vision_config
        self.dim = int(config.projection_dim)
        self.hidden = int(vision.hidden_size)
        self.grid = (vision.image_size // vision.patch_size) ** 2
        self.input_size, self.mean, self.std = self._preprocessing(vision.image_size)
        self.version = (f"{self.name}/{fingerprint(self.source, config)}/{self.input_size}px-bicubic-centre-crop/"
                        "frame:image_embeds/grid:patch-last-hidden-state")

    def _preprocessing(self, image_size: int) -> tuple[int, tuple, tuple]:
        path = Path(self.source).expanduser() / "preprocessor_config.json"
        if not path.is_file():
            return int(image_size), CLIP_MEAN, CLIP_STD
        settings = json.loads(path.read_text())
        crop = settings.get("crop_size", image_size)
        size = crop.get("height", image_size) if isinstance(crop, dict) else int(crop)
        return int(size), tuple(settings.get("image_mean", CLIP_MEAN)), tuple(settings.get("image_std", CLIP_STD))

    @property
    def grid_shape(self) -> tuple[int, ...]:
        return (self.grid, self.hidden)

    def preprocess(self, images: np.ndarray):
        """uint8 ``[B, H, W, 3]`` → normalised ``[B, 3, S, S]``: short side to S (bicubic), centre crop."""
        x = images_to_tensor(images)
        height, width = x.shape[-2:]
        scale = self.input_size / min(height, width)
        size = (max(self.input_size, round(height * scale)), max(self.input_size, round(width * scale)))
        if size != (height, width):
            x = self._torch.nn.functional.interpolate(x, size=size, mode="bicubic", align_corners=False,
                                                      antialias=True).clamp_(0.0, 1.0)
        top, left = (size[0] - self.input_size) // 2, (size[1] - self.input_size) // 2
        x = x[..., top:top + self.input_size, left:left + self.input_size]
        return normalise(x, self.mean, self.std)

    def encode(self, images: np.ndarray, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """``(frame [B, dim], patches [B, P, hidden])`` float32, in batches of ``batch_size``."""
        images = _check_images(images)
        n = len(images)
        frames = np.empty((n, self.dim), dtype=np.float32)
        patches = np.empty((n, *self.grid_shape), dtype=np.float32)
        with self._torch.inference_mode():
            for start in tqdm(range(0, n, self.batch_size), desc=f"encode frames ({self.name})", unit="batch",
                              disable=not progress, leave=False):
                out = self.model(pixel_values=self.preprocess(images[start:start + self.batch_size]))
                frames[start:start + len(out.image_embeds)] = out.image_embeds.float().numpy()
                patches[start:start + len(out.image_embeds)] = out.last_hidden_state[:, 1:].float().numpy()
        return frames, patches


class ClipViTB32Encoder(ClipVisualEncoder):
    name = "clip_vit_b32"


class ClipViTL14Encoder(ClipVisualEncoder):
    name = "clip_vit_l14"


class ClipTextEncoder(TextEncoder):
    """CLIP text features: token features and pooled text-object vectors (see module doc)."""

    def __init__(self, name: str = "clip_vit_b32", source: str = "", batch_size: int = TEXT_BATCH_SIZE):
        if name not in CLIP_MODELS:
            raise ConfigError(f"unknown CLIP model {name!r}; choose one of {', '.join(CLIP_MODELS)}")
        import torch
        from transformers import AutoTokenizer

        self._torch = torch
        self.name = name
        self.source = source or CLIP_MODELS[name]
        self.model, config = load_clip_part(self.source, "text")
        try:
            self.tokenizer = load_pretrained(AutoTokenizer.from_pretrained, self.source, "tokenizer")
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - a folder without tokenizer files
            raise McdError(f"{self.source}: no CLIP tokenizer could be loaded ({exc}); save the CLIPProcessor "
                           "(tokenizer files) into the model folder") from None
        self.dim = int(config.text_config.hidden_size)
        self.projected = int(config.projection_dim) == self.dim
        self.max_positions = int(config.text_config.max_position_embeddings)
        self.batch_size = batch_size
        self._fingerprint = f"{name}:{fingerprint(self.source, config)}"

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        ids = self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
        return np.array([min(len(x), self.max_positions) for x in ids], dtype=np.int64)

    def _batches(self, texts: list[str], max_len: int, progress: bool):
        starts = range(0, len(texts), self.batch_size)
        show = progress and len(texts) > 4 * self.batch_size
        for start in tqdm(starts, desc=f"CLIP text ({self.name})", unit="batch", disable=not show, leave=False):
            chunk = texts[start:start + self.batch_size]
            enc = self.tokenizer(chunk, padding="max_length", truncation=True,
                                 max_length=min(max_len, self.max_positions), return_tensors="pt")
            yield start, enc, self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])

    def encode_tokens(self, texts: Sequence[str], max_len: int, progress: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
        texts = list(texts)
        feats = np.zeros((len(texts), max_len, self.dim), dtype=np.float32)
        mask = np.zeros((len(texts), max_len), dtype=bool)
        with self._torch.inference_mode():
            for start, enc, out in self._batches(texts, max_len, progress):
                m = enc["attention_mask"].bool()
                length = m.shape[1]
                feats[start:start + len(m), :length] = (out.last_hidden_state * m[..., None]).float().numpy()
                mask[start:start + len(m), :length] = m.numpy()
        return feats, mask

    def encode_pooled(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """L2-normalised ``text_embeds`` (CLIP's text feature) ``[N, D]``; the masked token mean
        when a model's projection size differs from its token size."""
        if not self.projected or len(texts) == 0:
            return super().encode_pooled(texts, progress)
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        with self._torch.inference_mode():
            for start, _, result in self._batches(texts, int(self.token_counts(texts).max()), progress):
                vectors = self._torch.nn.functional.normalize(result.text_embeds.float(), dim=-1)
                out[start:start + len(vectors)] = vectors.numpy()
        return out
