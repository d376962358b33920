"""Basic encoders' projections: f_v, f_a and f_q (the left column of the paper's overview figure).

KNOWN (paper): a visual encoder on frames, an audio encoder on the audio and a text encoder on
the question, each followed by a linear projection giving f_v, f_a, f_q.

CHOICE (mcdlib): the encoders are frozen and their features pre-extracted (the batch carries
them); a projection is Linear + LayerNorm with a learned temporal position embedding for f_v
and f_a. The question is either the frozen text-encoder token features ``q_tokens`` (Linear +
LayerNorm) or, when the data is built with ``text_encoder=vocab``, an AVST-style LSTM over the
word ids ``q_ids`` (``<pad>`` = 0). Which one is decided at build time by
``ModelConfig.question_encoder`` (``auto`` follows ``DataSpec.text_encoder`` when the spec has
that attribute, else ``tokens``), see :func:`question_input`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from mcdlib.config import ModelConfig
from mcdlib.data.spec import DataSpec
from mcdlib.errors import ConfigError, FeatureError
from mcdlib.models.losses import masked_mean


class FeatureProjection(nn.Module):
    """Linear + LayerNorm on the last dim, plus a learned position embedding over segments.

    Input [B, T, D] (or [B, T, G, D] for grid features, position added per segment) ->
    [B, T, d] (or [B, T, G, d]). ``segments=0`` disables the position embedding.
    """

    def __init__(self, in_dim: int, d_model: int, segments: int = 0, name: str = "features", init_std: float = 0.02):
        super().__init__()
        self.name, self.in_dim = name, in_dim
        self.linear = nn.Linear(in_dim, d_model)
        self.norm = nn.LayerNorm(d_model)
        self.position = nn.Parameter(torch.randn(segments, d_model) * init_std) if segments else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_dim:
            raise FeatureError(f"batch[{self.name!r}] has feature size {x.shape[-1]} but the model was "
                               f"built for {self.in_dim}; rebuild the model from this dataset's spec")
        out = self.norm(self.linear(x))
        if self.position is None:
            return out
        T = x.shape[1]
        if T > self.position.shape[0]:
            raise FeatureError(f"batch[{self.name!r}] has {T} segments but the model was built for "
                               f"{self.position.shape[0]}; rebuild the model from this dataset's spec")
        pos = self.position[:T]
        return out + pos.view(1, T, *([1] * (out.dim() - 3)), -1)


@dataclass
class QuestionFeatures:
    """The projected question: per-token features f_q, their mask and one vector per question."""

    tokens: torch.Tensor  # [B, L, d]
    mask: torch.Tensor  # [B, L] bool, True = real token
    vector: torch.Tensor  # [B, d]


class LSTMQuestionEncoder(nn.Module):
    """AVST's question encoder (Li et al. 2022): Embedding -> tanh -> LSTM; vector from (h, c).

    ``vector = Linear(tanh([h_last; c_last]))`` as in the reference code (``state_vector=True``)
    or the masked mean of the outputs (``False``, for models that read the tokens); ``tokens``
    are the LSTM outputs (zero at padding).

    ``packed=True`` (mcdlib's models): padding (id 0, a zero embedding) never changes the outputs;
    with a state vector the LSTM runs packed (its lengths are read on the host), without one it
    runs over the padded ids and the padded outputs are masked away (the real outputs are the
    same: the LSTM is causal). ``packed=False`` (AVST, as the reference code): the LSTM runs over
    the padded ids, the ``<pad>`` embedding is a trained word like any other, and (h, c) are
    taken after the last (padded) position.
    """

    def __init__(self, vocab_size: int, embed_dim: int, d_model: int, state_vector: bool = True,
                 packed: bool = True):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0 if packed else None)
        self.lstm = nn.LSTM(embed_dim, d_model, batch_first=True)
        self.out = nn.Linear(2 * d_model, d_model) if state_vector else None
        self.vocab_size, self.packed = vocab_size, packed

    def forward(self, q_ids: torch.Tensor) -> QuestionFeatures:
        if q_ids.device.type == "cpu" and int(q_ids.max()) >= self.vocab_size:  # free on the CPU only
            raise FeatureError(f"batch['q_ids'] holds word id {int(q_ids.max())} but the model's vocabulary "
                               f"has {self.vocab_size} words; rebuild the model from this dataset's spec")
        mask = q_ids != 0
        embedded = torch.tanh(self.embedding(q_ids))
        if self.packed and self.out is not None:
            lengths = mask.sum(1).clamp_min(1).cpu()
            packed = pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False)
            outputs, (h, c) = self.lstm(packed)
            tokens, _ = pad_packed_sequence(outputs, batch_first=True, total_length=q_ids.shape[1])
        else:
            tokens, (h, c) = self.lstm(embedded)
            if self.packed:
                tokens = tokens * mask[..., None].to(tokens.dtype)
        if self.out is None:
            vector = masked_mean(tokens, mask, 1)
        else:
            vector = self.out(torch.tanh(torch.cat([h[-1], c[-1]], dim=-1)))
        return QuestionFeatures(tokens=tokens, mask=mask, vector=vector)


class TokenQuestionEncoder(nn.Module):
    """Projection of frozen text-encoder token features: Linear + LayerNorm; vector = masked mean."""

    def __init__(self, text_dim: int, d_model: int):
        super().__init__()
        self.projection = FeatureProjection(text_dim, d_model, segments=0, name="q_tokens")

    def forward(self, q_tokens: torch.Tensor, q_mask: torch.Tensor) -> QuestionFeatures:
        tokens = self.projection(q_tokens)
        return QuestionFeatures(tokens=tokens, mask=q_mask, vector=masked_mean(tokens, q_mask, 1))


def question_input(cfg: ModelConfig, spec: DataSpec) -> str:
    """``"tokens"`` or ``"lstm"``: which question input a model built from (cfg, spec) reads."""
    if cfg.question_encoder != "auto":
        return cfg.question_encoder
    return "lstm" if getattr(spec, "text_encoder", "minilm") == "vocab" else "tokens"


class QuestionEncoder(nn.Module):
    """f_q from a batch: the token projection over ``q_tokens`` or the LSTM over ``q_ids``.

    ``state_vector`` (LSTM only): the question vector from AVST's (h, c) head (True, for models
    that read only the vector) or the masked mean of the tokens (False, as for ``q_tokens``).
    """

    def __init__(self, cfg: ModelConfig, spec: DataSpec, state_vector: bool = True):
        super().__init__()
        self.kind = question_input(cfg, spec)
        if self.kind == "tokens":
            self.encoder = TokenQuestionEncoder(spec.text_dim, cfg.d_model)
        else:
            self.encoder = LSTMQuestionEncoder(spec.vocab_size, cfg.lstm_embed, cfg.d_model, state_vector)

    def forward(self, batch: dict[str, torch.Tensor]) -> QuestionFeatures:
        if self.kind == "lstm":
            return self.encoder(batch["q_ids"])
        if "q_tokens" not in batch:
            raise ConfigError("the model reads batch['q_tokens'] (question_encoder=tokens) but the batch has "
                              "none (data.text_encoder=vocab); set model.question_encoder=lstm or auto, or "
                              "data.text_encoder=minilm, and rebuild the model")
        return self.encoder(batch["q_tokens"], batch["q_mask"])


#: ``ModelConfig.modalities`` -> the deep modality inputs a model sees
MODALITY_INPUTS: dict[str, tuple[str, ...]] = {"av": ("visual", "audio"), "a": ("audio",), "v": ("visual",),
                                               "none": ()}


def input_modalities(cfg: ModelConfig) -> tuple[str, ...]:
    """The batch keys of the deep modalities a model built from ``cfg`` reads (visual first)."""
    return MODALITY_INPUTS[cfg.modalities]


class ModalityProjections(nn.Module):
    """f_v and f_a: one :class:`FeatureProjection` per modality the model sees (none for others)."""

    def __init__(self, cfg: ModelConfig, spec: DataSpec, modalities: tuple[str, ...], positions: bool = True):
        super().__init__()
        dims = {"visual": spec.visual_dim, "audio": spec.audio_dim}
        segments = spec.segments if positions else 0
        self.projections = nn.ModuleDict({m: FeatureProjection(dims[m], cfg.d_model, segments, name=m,
                                                               init_std=cfg.init_std)
                                          for m in modalities})

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {m: projection(batch[m]) for m, projection in self.projections.items()}
