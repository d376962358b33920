"""MCD, the reading edition: the default model in one file, top to bottom, no switches.

This is mcdlib's default MCD (Mutual Correlation Distillation; Ye, Yu & Liu 2024), written to be
read in one sitting, nanoGPT-style. It computes exactly what ``build_model(ModelConfig(), spec)``
computes with the default switches (tests/test_reading_edition.py loads the library's weights
with :func:`load_library_weights` and compares logits, losses and attention maps), but every
switch of :class:`mcdlib.config.ModelConfig` is gone: joint association (N blocks), InfoNCE on
the last block with a fixed temperature, a shared aggregator over the low and high levels,
keywords and type labels from the annotation, detached teachers, no decision-level fusion.

Honest labelling (docs/MCD_FORMULATION.md): the component boundaries and the data flow are
KNOWN from the paper's abstract and overview figure; every formula, size and default inside
them is a CHOICE of mcdlib. No number here is the paper's.

It needs only torch. The input is the batch dict of docs/ARCHITECTURE.md (keys ``audio``,
``visual``, ``q_tokens``, ``q_mask``, ``text_objects``, ``text_objects_mask``,
``text_objects_kind``, ``video_index``); the output is ``{"logits", "losses", "attention"}``,
where ``losses`` holds the already weighted auxiliary losses (the training loop adds the
cross-entropy on ``logits``).

Read it in this order: ``Projection`` (f_v, f_a, f_q, text objects) → ``Attention`` and
``Block`` (the one attention building block) → ``info_nce`` (the contrastive loss) →
``MCD.forward`` (association, aggregator, semantic approximation, header).
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------- building blocks


class Projection(nn.Module):
    """f_x = LayerNorm(W x + b) (+ a learned position embedding per segment when ``segments`` > 0)."""

    def __init__(self, in_dim: int, d: int, segments: int = 0):
        super().__init__()
        self.linear = nn.Linear(in_dim, d)
        self.norm = nn.LayerNorm(d)
        self.position = nn.Parameter(torch.randn(segments, d) * 0.02) if segments else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, T, in_dim] -> [B, T, d]
        out = self.norm(self.linear(x))
        return out if self.position is None else out + self.position[: x.shape[1]]


class Attention(nn.Module):
    """Multi-head scaled dot-product attention; returns the output and the head-averaged map.

    ``key_mask`` [B, K] is True for real keys. A query whose keys are all masked attends to
    nothing (its weights are 0, not NaN): a question may have no text object at all.
    """

    def __init__(self, d: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, keys, key_mask=None):
        B, Q, d = query.shape
        h = self.n_heads

        def heads(x):  # [B, N, d] -> [B, h, N, d/h]
            return x.view(B, x.shape[1], h, d // h).transpose(1, 2)

        q, k, v = heads(self.q_proj(query)), heads(self.k_proj(keys)), heads(self.v_proj(keys))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // h)  # [B, h, Q, K]
        if key_mask is None:
            weights = scores.softmax(-1)
        else:
            real = key_mask[:, None, None, :]
            weights = scores.masked_fill(~real, torch.finfo(scores.dtype).min).softmax(-1) * real
        out = (self.dropout(weights) @ v).transpose(1, 2).reshape(B, Q, d)
        return self.out_proj(out), weights.mean(1)  # [B, Q, d], [B, Q, K]


class Block(nn.Module):
    """Pre-LayerNorm residual attention + residual feed-forward (the CA of the formulation).

    ``x = x + Attn(LN x, LN' keys); x = x + FFN(LN'' x)``. Self-attention (``keys=None``, the
    association block) uses the query's LayerNorm for the keys and has no LN'.
    """

    def __init__(self, d: int, n_heads: int, dropout: float, self_attention: bool = False):
        super().__init__()
        self.norm_query = nn.LayerNorm(d)
        self.norm_keys = None if self_attention else nn.LayerNorm(d)
        self.attention = Attention(d, n_heads, dropout)
        self.norm_ffn = nn.LayerNorm(d)
        self.ffn = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * d, d))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, keys=None, key_mask=None):
        query = self.norm_query(x)
        keys = query if self.norm_keys is None else self.norm_keys(keys)
        attended, attention_map = self.attention(query, keys, key_mask)
        x = x + self.dropout(attended)
        return x + self.dropout(self.ffn(self.norm_ffn(x))), attention_map


def mlp(d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    """Linear -> GELU -> Linear (the three projections of the semantic approximation)."""
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_out))


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over dim 1 of [B, L, d] counting only mask-True positions (0 when there are none)."""
    weights = mask.to(x.dtype).unsqueeze(-1)
    return (x * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def info_nce(queries, keys, tau, video_index, symmetric: bool = True):
    """In-batch InfoNCE: row i of ``queries`` matches row i of ``keys``.

    Cosine similarities / tau. Items of the same video share their features, so they are not
    negatives of each other, and another video counts once (only its first item in the batch):
    each row's loss is then its loss in the batch without the duplicated videos.
    """
    q, k = F.normalize(queries, dim=-1), F.normalize(keys, dim=-1)
    logits = q @ k.t() / tau  # [B, B]
    B = logits.shape[0]
    same_video = video_index[:, None] == video_index[None, :]
    first_of_its_video = ~same_video.tril(-1).any(1)
    keep = torch.eye(B, dtype=torch.bool, device=logits.device) | (~same_video & first_of_its_video[None, :])
    lowest = torch.finfo(logits.dtype).min
    target = torch.arange(B, device=logits.device)
    loss = F.cross_entropy(logits.masked_fill(~keep, lowest), target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.t().masked_fill(~keep, lowest), target))
    return loss


# ----------------------------------------------------------------------------- the model


class MCD(nn.Module):
    """The default MCD. Sizes are arguments; the defaults are ``ModelConfig``'s."""

    def __init__(self, audio_dim: int, visual_dim: int, text_dim: int, segments: int, num_answers: int,
                 d: int = 512, n_heads: int = 8, layers: int = 2, d_latent: int = 256, dropout: float = 0.1,
                 header_dropout: float = 0.2, tau: float = 0.07, lambda_con: float = 0.5, lambda_sa: float = 0.5):
        super().__init__()
        self.lambda_con, self.lambda_sa, self.tau = lambda_con, lambda_sa, tau
        # basic projections f_v, f_a, f_q (the encoders are frozen: the batch holds their features)
        self.visual_projection = Projection(visual_dim, d, segments)
        self.audio_projection = Projection(audio_dim, d, segments)
        self.question_projection = Projection(text_dim, d)
        self.object_projection = Projection(text_dim, d)  # text objects: keywords and type labels
        # Mutual Correlation Module, left: N association blocks over [f_v + e_v ; f_a + e_a]
        self.association = nn.Module()
        self.association.visual_embedding = nn.Parameter(torch.randn(d) * 0.02)
        self.association.audio_embedding = nn.Parameter(torch.randn(d) * 0.02)
        self.association.blocks = nn.ModuleList(Block(d, n_heads, dropout, self_attention=True)
                                                for _ in range(layers))
        self.register_buffer("log_tau", torch.tensor(math.log(tau)))  # the AV contrast's temperature, as log
        # Mutual Correlation Module, right: the aggregator shared by the two branches
        self.aggregator = nn.ModuleDict({"low": Block(d, n_heads, dropout), "high": Block(d, n_heads, dropout),
                                         "objects": Block(d, n_heads, dropout), "norm": nn.LayerNorm(d)})
        # semantic approximation: projection_1 (visual), projection_2 (audio), projection_3 (question)
        self.approximation = nn.ModuleDict({"visual": mlp(d, d, d_latent), "audio": mlp(d, d, d_latent),
                                            "question": mlp(d, d, d_latent)})
        # prediction header: Dropout -> GELU -> MLP -> answer, from f^_q alone
        self.header = nn.Sequential(nn.Dropout(header_dropout), nn.GELU(), nn.Linear(d, d), nn.GELU(),
                                    nn.Linear(d, num_answers))

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        attention = {}
        video = batch["video_index"]

        # 1. projections: f_v, f_a [B, T, d]; f_q [B, L, d] with its mask; the text objects [B, K, d]
        f = {"visual": self.visual_projection(batch["visual"]), "audio": self.audio_projection(batch["audio"])}
        f_q, q_mask = self.question_projection(batch["q_tokens"]), batch["q_mask"]
        objects = self.object_projection(batch["text_objects"])
        kind = batch["text_objects_kind"]
        object_mask = batch["text_objects_mask"] & ((kind == 1) | (kind == 2))  # keywords and type labels

        # 2. association: joint self-attention over both modalities' 2T tokens, N times
        T = f["visual"].shape[1]
        x = torch.cat([f["visual"] + self.association.visual_embedding,
                       f["audio"] + self.association.audio_embedding], dim=1)
        for i, block in enumerate(self.association.blocks, start=1):
            x, attention[f"association_{i}"] = block(x)
        high = dict(zip(("visual", "audio"), x.split([T, x.shape[1] - T], dim=1)))  # f^_v, f^_a

        # 3. audio-visual contrast between the pooled last block's outputs m_v, m_a
        l_con = info_nce(high["visual"].mean(1), high["audio"].mean(1), self.log_tau.exp().clamp_min(0.01), video)

        # 4. the shared aggregator: per branch low -> high -> text objects; f^_q = LN(f_q + sum of hints)
        total = f_q
        for m in ("visual", "audio"):
            c, attention[f"low_{m}"] = self.aggregator["low"](f_q, f[m])
            h, attention[f"high_{m}"] = self.aggregator["high"](c, high[m])
            hints, attention[f"objects_{m}"] = self.aggregator["objects"](h, objects, object_mask)
            total = total + hints
        fq_hat = masked_mean(self.aggregator["norm"](total), q_mask)  # [B, d]

        # 5. semantic approximation: the question point (student) learns from the detached
        #    audio and visual points (teachers), one-directional InfoNCE in the latent space
        z_q = F.normalize(self.approximation["question"](fq_hat), dim=-1)
        teachers = [F.normalize(self.approximation[m](f[m].mean(1)), dim=-1).detach() for m in ("visual", "audio")]
        l_sa = torch.stack([info_nce(z_q, z, self.tau, video, symmetric=False) for z in teachers]).mean()

        # 6. the answer from f^_q alone (no decision-level fusion of the deep features)
        logits = self.header(fq_hat)
        losses = {"contrastive": self.lambda_con * l_con, "semantic": self.lambda_sa * l_sa}
        return {"logits": logits, "losses": losses, "attention": attention}


# ----------------------------------------------------------------------------- the library's weights

#: how the library's parameter names (``mcdlib.models.MCD``, with its switches) map to this file's
LIBRARY_NAMES = [
    (r"^question\.encoder\.projection\.", "question_projection."),
    (r"^inputs\.projections\.(visual|audio)\.", r"\1_projection."),
    (r"^text_objects\.projection\.0\.", "object_projection.linear."),
    (r"^text_objects\.projection\.1\.", "object_projection.norm."),
    (r"^association\.modality_embedding\.(visual|audio)$", r"association.\1_embedding"),
    (r"^association\.blocks\.(\d+)\.layer\.", r"association.blocks.\1."),
    (r"^contrast\.log_tau$", "log_tau"),
    (r"^aggregation\.aggregators\.shared\.blocks\.(low|high)\.", r"aggregator.\1."),
    (r"^aggregation\.aggregators\.shared\.objects\.", "aggregator.objects."),
    (r"^aggregation\.norm\.", "aggregator.norm."),
    (r"^approximation\.teachers\.(visual|audio)\.", r"approximation.\1."),
    (r"^approximation\.student\.", "approximation.question."),
    (r"^header\.mlp\.", "header."),
    (r"(^|\.)ffn\.net\.", r"\1ffn."),
]


def from_library(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A library state dict (the whole MCD or one of its blocks) renamed to this file's names."""
    renamed = {}
    for name, value in state_dict.items():
        for pattern, replacement in LIBRARY_NAMES:
            name = re.sub(pattern, replacement, name)
        renamed[name] = value
    return renamed


def load_library_weights(model: nn.Module, library_model: nn.Module) -> nn.Module:
    """Copy a library MCD's weights (built with the default switches) into ``model``, strictly."""
    model.load_state_dict(from_library(library_model.state_dict()), strict=True)
    return model
