"""Baselines trained by the same loop on the same batches: question-only, late fusion, AVST.

None of these is part of the MCD paper's method. Their forms are mcdlib's CHOICES (docs/MCD_FORMULATION.md,
"Baselines"), except AVST, which follows Li et al. 2022 ("Learning to Answer Questions in
Dynamic Audio-Visual Scenarios", CVPR) and its public reference code as closely as pre-extracted
features allow; the adaptations are listed in :class:`AVST`'s docstring.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcdlib.config import ModelConfig
from mcdlib.data.spec import DataSpec
from mcdlib.errors import ConfigError
from mcdlib.models.attention import FeedForward, MultiHeadAttention
from mcdlib.models.header import answer_logits, mlp_head, option_projection
from mcdlib.models.losses import other_video_partner
from mcdlib.models.projections import LSTMQuestionEncoder, ModalityProjections, QuestionEncoder, input_modalities


def _outputs(logits: torch.Tensor, losses: dict | None = None, attention: dict | None = None,
             aux: dict | None = None) -> dict:
    return {"logits": logits, "losses": losses or {}, "attention": attention or {}, "aux": aux or {}}


def _head(d_in: int, cfg: ModelConfig, spec: DataSpec) -> tuple[nn.Sequential, nn.Linear | None]:
    """The baselines' MLP head and, for multiple choice, the option projection: the MLP then ends
    in d and scores the batch's options (as MCD's header, :func:`mcdlib.models.header.score_options`)."""
    options = option_projection(spec, cfg.d_model)
    out = cfg.d_model if options is not None else spec.num_answers
    return mlp_head(d_in, cfg.d_model, out, cfg.header_dropout), options


class QuestionOnly(nn.Module):
    """Question vector -> MLP (``model.name=qonly``): what the question alone tells (CHOICE).

    With multiple choice it scores the options from the question alone (what question and
    option texts tell without audio or vision)."""

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        self.question = QuestionEncoder(cfg, spec)
        self.head, self.options = _head(cfg.d_model, cfg, spec)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        return _outputs(answer_logits(self.head(self.question(batch).vector), self.options, batch))


class LateFusion(nn.Module):
    """[mean_t f_v; mean_t f_a; question vector] -> MLP (``model.name=late``, CHOICE).

    ``modalities=a`` / ``v`` give the audio-only / visual-only variants (``none`` = question only).
    With multiple choice the MLP's output scores the options.
    """

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        self.modalities = input_modalities(cfg)
        self.question = QuestionEncoder(cfg, spec)
        self.inputs = ModalityProjections(cfg, spec, self.modalities, positions=False)
        d_in = cfg.d_model * (1 + len(self.modalities))
        self.head, self.options = _head(d_in, cfg, spec)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        pooled = [f.mean(1) for f in self.inputs(batch).values()]
        out = self.head(torch.cat([*pooled, self.question(batch).vector], dim=-1))
        return _outputs(answer_logits(out, self.options, batch))


class TemporalAttention(nn.Module):
    """AVST's question-guided temporal attention: q attends over T, + residual FFN, LayerNorm."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.attention = MultiHeadAttention(d_model, n_heads, dropout)
        self.ffn = FeedForward(d_model, dropout)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, question: torch.Tensor, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attended, attn_map = self.attention(question[:, None, :], feats)
        attended = attended[:, 0]
        return self.norm(attended + self.dropout(self.ffn(attended))), attn_map[:, 0]


class AVST(nn.Module):
    """AVST (Li et al. 2022) on pre-extracted features (``model.name=avst``).

    As in the reference: LSTM question encoder over ``q_ids``; audio MLP (fc_a1, fc_a2);
    audio-guided spatial grounding (softmax over grid cells of the cosine similarity between
    each cell and the segment's audio), [global; grounded] -> tanh -> Linear; a 4-layer
    positive/negative audio-visual matching head on [audio; grounded visual]; question-guided
    temporal attention over audio and visual (+ residual FFN, LayerNorm) plus the temporal
    means; fusion tanh(Linear(tanh([a; v])) * q) -> Linear to the answers.

    Adaptations (CHOICES): grid and frame features are first projected to d (the reference uses
    raw ResNet-18 channels); without ``visual_grid`` the frame feature is a one-cell grid; the
    matching negatives are the frames of the next item of the batch from another video (never
    the same video); items whose batch holds no other video contribute no matching loss (0 when
    none does). The matching loss is CE(pos, 1) + CE(neg, 0) weighted ``avst_match_weight``.
    Multiple choice (AVQA; the reference is open-ended only): the last Linear(d, answers) is
    replaced by the dot product of the fused vector with the projected options.
    """

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        if cfg.modalities != "av":
            raise ConfigError(f"model.name=avst needs both modalities but model.modalities={cfg.modalities}; "
                              "set model.modalities=av (use model.name=late for audio-only/visual-only)")
        d = cfg.d_model
        self.match_weight = cfg.avst_match_weight
        self.question = LSTMQuestionEncoder(spec.vocab_size, cfg.lstm_embed, d)
        self.audio = nn.Sequential(nn.Linear(spec.audio_dim, d), nn.ReLU(), nn.Linear(d, d))
        self.frame = nn.Linear(spec.visual_dim, d)
        self.grid = nn.Linear(spec.visual_grid[1], d) if spec.visual_grid else None
        self.grounded = nn.Linear(2 * d, d)
        self.match = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Linear(d, d // 2), nn.ReLU(),
                                   nn.Linear(d // 2, d // 4), nn.ReLU(), nn.Linear(d // 4, 2))
        self.temporal_audio = TemporalAttention(d, cfg.n_heads, cfg.dropout)
        self.temporal_visual = TemporalAttention(d, cfg.n_heads, cfg.dropout)
        self.fusion = nn.Linear(2 * d, d)
        self.options = option_projection(spec, d)
        self.answer = nn.Linear(d, spec.num_answers) if self.options is None else nn.Identity()

    def _ground(self, audio: torch.Tensor, frames: torch.Tensor, cells: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio [B,T,d] guides attention over grid cells [B,T,G,d] -> grounded visual [B,T,d], map [B,T,G]."""
        cells = F.normalize(cells, dim=-1)
        attn_map = torch.einsum("btgd,btd->btg", cells, F.normalize(audio, dim=-1)).softmax(-1)
        grounded = torch.einsum("btg,btgd->btd", attn_map, cells)
        return self.grounded(torch.tanh(torch.cat([frames, grounded], dim=-1))), attn_map

    def _visual(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        frames = self.frame(batch["visual"])
        if self.grid is not None and "visual_grid" in batch:
            return frames, self.grid(batch["visual_grid"])
        if self.grid is not None:
            raise ConfigError("the AVST model was built with a visual grid feature but the batch has no "
                              "'visual_grid'; set data.visual_grid_feature or rebuild the model from this spec")
        return frames, frames[:, :, None, :]

    def _match_loss(self, audio: torch.Tensor, visual: torch.Tensor, frames: torch.Tensor, cells: torch.Tensor,
                    video_index: torch.Tensor | None) -> torch.Tensor:
        if video_index is None:
            return audio.new_zeros(())
        partner, valid = other_video_partner(video_index)
        if not bool(valid.any()):
            return audio.new_zeros(())
        audio, visual = audio[valid], visual[valid]
        negative, _ = self._ground(audio, frames[partner[valid]], cells[partner[valid]])
        pos = self.match(torch.cat([audio, visual], dim=-1)).flatten(0, 1)
        neg = self.match(torch.cat([audio, negative], dim=-1)).flatten(0, 1)
        ones, zeros = torch.ones(pos.shape[0], dtype=torch.long, device=pos.device), torch.zeros(
            neg.shape[0], dtype=torch.long, device=neg.device)
        return F.cross_entropy(pos, ones) + F.cross_entropy(neg, zeros)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        question = self.question(batch["q_ids"]).vector
        audio = self.audio(batch["audio"])
        frames, cells = self._visual(batch)
        visual, spatial = self._ground(audio, frames, cells)
        match = self._match_loss(audio, visual, frames, cells, batch.get("video_index"))
        audio_att, temporal_audio = self.temporal_audio(question, audio)
        visual_att, temporal_visual = self.temporal_visual(question, visual)
        feat = torch.cat([audio_att + audio.mean(1), visual_att + visual.mean(1)], dim=-1)
        combined = torch.tanh(self.fusion(torch.tanh(feat)) * question)
        return _outputs(answer_logits(self.answer(combined), self.options, batch),
                        losses={"match": self.match_weight * match},
                        attention={"spatial": spatial, "temporal_audio": temporal_audio,
                                   "temporal_visual": temporal_visual},
                        aux={"match": match.detach()})
