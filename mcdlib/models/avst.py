"""AVST (Li et al. 2022, "Learning to Answer Questions in Dynamic Audio-Visual Scenarios", CVPR)
on pre-extracted features (``model.name=avst``), following the published code (GeWu-Lab/MUSIC-AVQA,
``net_grd_avst/net_avst.py`` and the grounding stage ``grounding_gen/``) as closely as features allow.

As in the reference:

* question: word embedding -> tanh -> one-layer LSTM run over the 14 padded word ids (``<pad>`` is
  a trained word), vector = Linear(tanh([h; c])) after the last position;
* audio: Linear -> ReLU -> Linear (fc_a1, fc_a2);
* audio-guided spatial grounding per segment: softmax over the grid cells of the cosine similarity
  between each L2-normalised cell and the normalised audio, the attention-weighted sum of the
  normalised cells, then Linear(tanh([mean of the raw cells; grounded])) (the reference's avgpool,
  fc_gl);
* positive/negative audio-visual matching: a 4-layer ReLU MLP (2d -> d -> d/2 -> d/4 -> 2) on
  [audio; grounded visual], for the segment's own frame (label 1) and for a frame of another video
  grounded with the same audio (label 0); the matching loss is ONE cross-entropy averaged over the
  2·B·T positive and negative rows, weighted ``avst_match_weight`` (0.5 in the reference);
* question-guided temporal attention over the audio and over the grounded visual segments: 4 heads,
  attention dropout, residual feed-forward Linear(d, d) -> ReLU -> Dropout -> Linear(d, d) with
  dropout, LayerNorm (no residual from the question);
* fusion: tanh(Linear(tanh([a_att + mean_t a; v_att + mean_t v])) * q) -> Linear to the answers;
* two training stages (``model.avst_grounding_epochs``): the first epochs train on the matching
  loss alone (the reference's grounding pre-training, whose weights initialise the second stage),
  then on the full objective with a fresh Adam and learning-rate schedule (see
  :mod:`mcdlib.train.stages`).

Remaining deviations (CHOICES of mcdlib, also listed in docs/MCD_FORMULATION.md, "Baselines"):

1. Features are pre-extracted (so are the reference's, through a frozen ResNet-18). The grid
   cells are used raw when their size equals ``d_model`` (ResNet-18 14x14x512 with d = 512, as in
   the reference); otherwise (music scenes: 1280-d EfficientNet cells, d = 128) one Linear
   projects them to d first. Without a grid feature the frame feature is a one-cell grid.
2. Negatives come from the batch: for every (item, segment), a uniformly drawn item of another
   video in the batch and a uniformly drawn segment of it. The reference draws a random second
   of a random other video of the whole split. An item whose batch holds no other video has no
   matching rows (the loss averages the rows that exist; 0 when there are none).
3. The grounding stage runs inside the one training loop, on the same question batches (each
   video weighted by its questions, its T segments per question), and counts in
   ``train.epochs``; the reference trains it as a separate script over the seconds of the train
   videos. Its loss is the weighted matching loss (Adam is invariant to the constant weight, up to
   its epsilon). All parameters continue into the second stage; the reference copies the audio,
   grounding and matching layers (the others start from their initialisation, as here, because
   the matching loss never reaches them).
4. Sizes follow the config: d = ``model.d_model`` (512 in the reference), the word embedding
   ``model.lstm_embed`` (512), dropout ``model.dropout`` (0.1). Parameters use PyTorch's default
   initialisation of each layer (the reference's ``nn.MultiheadAttention`` initialises its
   projections Xavier-uniform with zero biases).
5. Multiple choice (AVQA; the reference is open-ended only): the last Linear(d, answers) is
   replaced by the dot product of the fused vector with the projected options, as for every
   model (:func:`mcdlib.models.header.answer_logits`).

``forward(batch)`` follows the model contract (docs/ARCHITECTURE.md): ``logits``,
``losses = {"match": weight * L_match}``, ``aux = {"match": L_match}``, ``attention``: ``spatial``
[B, T, G] (the grounding) and ``temporal_audio``/``temporal_visual`` [B, T] (eval mode only).

Speed (issue 10; the maths above is unchanged, tests/test_models_avst.py pins it against a plain
re-statement): the cells are never normalised in memory (their inverse norms scale the two
batched products instead), the frame mean and the grounded sum share one pass over the grid, and
positives and negatives go through the grounding output layer and the matching MLP as one batch.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcdlib.config import ModelConfig
from mcdlib.data.spec import DataSpec
from mcdlib.errors import ConfigError
from mcdlib.models.attention import MultiHeadAttention
from mcdlib.models.dropout import Dropout
from mcdlib.models.header import answer_logits, option_projection
from mcdlib.models.projections import LSTMQuestionEncoder

#: heads of the temporal attention (the reference's ``nn.MultiheadAttention(512, 4)``)
AVST_HEADS = 4
#: F.normalize's epsilon
NORM_EPS = 1e-12


class TemporalAttention(nn.Module):
    """The question attends over T segments; + residual FFN (Linear-ReLU-Dropout-Linear, width d), LayerNorm."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.attention = MultiHeadAttention(d_model, n_heads, dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_model), nn.ReLU(), Dropout(dropout), nn.Linear(d_model, d_model))
        self.dropout = Dropout(dropout)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, question: torch.Tensor, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        attended, attn_map = self.attention(question[:, None, :], feats)
        attended = attended[:, 0]
        out = self.norm(attended + self.dropout(self.ffn(attended)))
        return out, None if attn_map is None else attn_map[:, 0]


def sample_negatives(video_index: torch.Tensor, segments: int) -> tuple[torch.Tensor, torch.Tensor]:
    """In-batch negatives: for each (item, segment), a uniformly drawn item of another video and
    a uniformly drawn segment of it, as a flat index into the B·T (item, segment) pairs [B, T];
    and ``valid`` [B], False for items whose batch holds no other video (their index is
    meaningless). Draws from torch's global generator (reproducible under the loop's seeding)."""
    B = video_index.shape[0]
    other = video_index[:, None] != video_index[None, :]
    draws = torch.rand(B, segments, B, device=video_index.device).masked_fill(~other[:, None, :], -1.0)
    partner = draws.argmax(-1)
    segment = torch.randint(segments, (B, segments), device=video_index.device)
    return partner * segments + segment, other.any(1)


class AVST(nn.Module):
    """AVST on pre-extracted features (see the module doc for what follows the reference and what not)."""

    def __init__(self, cfg: ModelConfig, spec: DataSpec):
        super().__init__()
        if cfg.modalities != "av":
            raise ConfigError(f"model.name=avst needs both modalities but model.modalities={cfg.modalities}; "
                              "set model.modalities=av (use model.name=late for audio-only/visual-only)")
        d = cfg.d_model
        if d % AVST_HEADS:
            raise ConfigError(f"model.name=avst uses {AVST_HEADS} attention heads (as the reference) but "
                              f"model.d_model={d} is not divisible by {AVST_HEADS}; choose a multiple of {AVST_HEADS}")
        self.match_weight = cfg.avst_match_weight
        self.question = LSTMQuestionEncoder(spec.vocab_size, cfg.lstm_embed, d, packed=False)
        self.audio = nn.Sequential(nn.Linear(spec.audio_dim, d), nn.ReLU(), nn.Linear(d, d))
        self.uses_grid = spec.visual_grid is not None
        cell_dim = spec.visual_grid[1] if self.uses_grid else spec.visual_dim
        self.cells = nn.Identity() if cell_dim == d else nn.Linear(cell_dim, d)
        self.grounded = nn.Linear(2 * d, d)
        self.match = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Linear(d, d // 2), nn.ReLU(),
                                   nn.Linear(d // 2, d // 4), nn.ReLU(), nn.Linear(d // 4, 2))
        self.temporal_audio = TemporalAttention(d, AVST_HEADS, cfg.dropout)
        self.temporal_visual = TemporalAttention(d, AVST_HEADS, cfg.dropout)
        self.fusion = nn.Linear(2 * d, d)
        self.options = option_projection(spec, d)
        self.answer = nn.Linear(d, spec.num_answers) if self.options is None else nn.Identity()

    def grid_cells(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The cells the audio grounds in, [B, T, G, d] (raw or projected; one cell without a grid)."""
        if self.uses_grid:
            if "visual_grid" not in batch:
                raise ConfigError("the AVST model was built with a visual grid feature but the batch has no "
                                  "'visual_grid'; set data.visual_grid_feature or rebuild the model from this spec")
            return self.cells(batch["visual_grid"])
        return self.cells(batch["visual"])[:, :, None, :]

    def _ground(self, audio_unit: torch.Tensor, cells: torch.Tensor, inv_norm: torch.Tensor,
                frame: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Grounding of N (audio, cells) pairs: audio_unit [N, d] (unit length), cells [N, G, d],
        inv_norm [N, G] (1 / cell norm) -> (frame [N, d], grounded [N, d], attention [N, G]).
        ``frame`` (the mean of the raw cells) is computed in the same pass unless given."""
        scores = torch.bmm(cells, audio_unit[:, :, None]).squeeze(2) * inv_norm  # cosine similarities
        attn = scores.softmax(-1)
        weights = (attn * inv_norm)[:, None, :]
        if frame is None:
            weights = torch.cat([weights, torch.full_like(weights, 1.0 / cells.shape[1])], dim=1)
            pooled = torch.bmm(weights, cells)
            return pooled[:, 1], pooled[:, 0], attn
        return frame, torch.bmm(weights, cells).squeeze(1), attn

    def forward(self, batch: dict[str, torch.Tensor]) -> dict:
        question = self.question(batch["q_ids"]).vector
        audio = self.audio(batch["audio"])
        cells = self.grid_cells(batch)
        B, T, G, d = cells.shape
        cells = cells.reshape(B * T, G, d)
        audio_unit = F.normalize(audio.reshape(B * T, d), dim=-1)
        inv_norm = torch.linalg.vector_norm(cells, dim=-1).clamp_min(NORM_EPS).reciprocal()
        frame, grounded, spatial = self._ground(audio_unit, cells, inv_norm)

        video_index = batch.get("video_index")
        with_negatives = video_index is not None
        if with_negatives:  # the same audio grounded in another video's frame
            negative, valid = sample_negatives(video_index, T)
            negative = negative.reshape(-1)
            frame_neg, grounded_neg, _ = self._ground(audio_unit, cells[negative], inv_norm[negative], frame[negative])
            frame, grounded = torch.cat([frame, frame_neg]), torch.cat([grounded, grounded_neg])
        visual_all = self.grounded(torch.tanh(torch.cat([frame, grounded], dim=-1)))
        visual = visual_all[:B * T].view(B, T, d)
        if with_negatives:
            audio_flat = audio.reshape(B * T, d)
            scores = self.match(torch.cat([torch.cat([audio_flat, audio_flat]), visual_all], dim=-1))
            labels = torch.cat([torch.ones(B * T, dtype=torch.long, device=scores.device),
                                torch.zeros(B * T, dtype=torch.long, device=scores.device)])
            rows = valid[:, None].expand(B, T).reshape(-1).repeat(2).to(scores.dtype)
            match = (F.cross_entropy(scores, labels, reduction="none") * rows).sum() / rows.sum().clamp_min(1.0)
        else:
            match = audio.new_zeros(())

        audio_att, temporal_audio = self.temporal_audio(question, audio)
        visual_att, temporal_visual = self.temporal_visual(question, visual)
        feat = torch.cat([audio_att + audio.mean(1), visual_att + visual.mean(1)], dim=-1)
        combined = torch.tanh(self.fusion(torch.tanh(feat)) * question)
        attention = {"spatial": spatial.view(B, T, G)}
        if temporal_audio is not None:
            attention.update(temporal_audio=temporal_audio, temporal_visual=temporal_visual)
        logits = answer_logits(self.answer(combined), self.options, batch)
        return {"logits": logits, "losses": {"match": self.match_weight * match},
                "attention": attention, "aux": {"match": match.detach()}}
