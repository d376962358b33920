"""The aggregator: the question queries the low and high levels, then fuses the text objects
(figure: MCM, right; "Aggregator (shared)", "Low"/"High", "Hints", f^_q).

KNOWN (paper): one aggregator is shared by the audio and visual branches; the question f_q is
the Query over the Low level (f_v, f_a) and the High level (f^_v, f^_a), capturing "key local
audio-visual features relevant to the question context" hierarchically; each branch fuses the
text objects; the result is the combinatorial question embedding f^_q.

CHOICE (mcdlib), for each modality x (CA = :class:`~mcdlib.models.attention.CrossAttentionBlock`):

* low:  c_x = CA(f_q, f_x)          (= f_q + attention + FFN, residual)
* high: h_x = CA(c_x, f^_x)         (``aggregator_levels=high`` skips low: h_x = CA(f_q, f^_x);
  ``low`` skips high: h_x = c_x)
* text objects: h~_x = CA(h_x, t)   (skipped with ``text_objects=none``)
* f^_q = LN(f_q + sum_x h~_x), then the masked mean over the question tokens.
* ``topk`` = k > 0 ("key local" variant): the first level's attention, averaged over the real
  question tokens, ranks the T segments (a selection pass without gradient); then every level
  attends only to the k best segments. k >= T keeps all.
* ``aggregator_shared=False`` gives each modality its own weights (the shared-vs-separate study).
* ``modalities=none``: no branch; the text objects are fused into f_q directly.

Every attention map is kept in eval mode (training-mode passes skip them, see
:mod:`mcdlib.models.attention`): ``low_<x>``/``high_<x>`` [B, L, T], ``objects_<x>`` [B, L, K'];
the chosen segments are in ``topk_<x>`` [B, k]. :func:`segment_relevance` turns a map into [B, T].
Training on the CPU runs the per-token work on the real question tokens only
(:class:`~mcdlib.models.attention.PackedRows`): the padded rows' outputs are never read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn

from mcdlib.config import ModelConfig
from mcdlib.models.attention import CrossAttentionBlock, PackedRows
from mcdlib.models.losses import masked_mean
from mcdlib.models.projections import QuestionFeatures
from mcdlib.models.text_objects import TextObjects

LEVELS = {"both": ("low", "high"), "low": ("low",), "high": ("high",)}


def segment_relevance(attn_map: torch.Tensor, q_mask: torch.Tensor) -> torch.Tensor:
    """[B, L, T] attention of question tokens over segments -> [B, T] (mean over real tokens)."""
    return masked_mean(attn_map, q_mask, 1)


def top_segments(relevance: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most relevant segments: (indices [B, k], keep mask [B, T] with exactly k True)."""
    k = min(k, relevance.shape[1])
    indices = relevance.topk(k, dim=1).indices
    keep = torch.zeros_like(relevance, dtype=torch.bool).scatter(1, indices, True)
    return indices, keep


@dataclass
class BranchOutput:
    """h~_x [B, L, d], its attention maps by level name and the kept segments (or None)."""

    hints: torch.Tensor
    attention: dict[str, torch.Tensor] = field(default_factory=dict)
    topk: torch.Tensor | None = None


class Aggregator(nn.Module):
    """One branch's computation (low -> high -> text objects); shared or one per modality."""

    def __init__(self, cfg: ModelConfig, levels: tuple[str, ...], use_objects: bool):
        super().__init__()
        self.levels, self.topk = levels, cfg.topk
        ffn = {"ffn_expansion": cfg.ffn_expansion, "ffn_activation": cfg.ffn_activation}
        self.blocks = nn.ModuleDict({lv: CrossAttentionBlock(cfg.d_model, cfg.n_heads, cfg.dropout, **ffn)
                                     for lv in levels})
        self.objects = CrossAttentionBlock(cfg.d_model, cfg.n_heads, cfg.dropout, **ffn) if use_objects else None

    def forward(self, question: QuestionFeatures, keys: dict[str, torch.Tensor],
                objects: TextObjects | None, rows: PackedRows | None = None) -> BranchOutput:
        """``keys``: level name -> [B, T, d] (``low``: f_x, ``high``: f^_x). With ``rows`` the
        hints are the real question rows [N, d] (see :class:`HierarchicalAggregation`)."""
        out = BranchOutput(hints=question.tokens if rows is None else rows.pack(question.tokens))
        key_mask = None
        if self.topk > 0 and self.levels:
            first = self.levels[0]
            with torch.no_grad():
                _, attn_map = self.blocks[first](out.hints, keys[first], need_weights=True, rows=rows)
            out.topk, key_mask = top_segments(segment_relevance(attn_map, question.mask), self.topk)
        for level in self.levels:
            out.hints, attn_map = self.blocks[level](out.hints, keys[level], key_mask, rows=rows)
            if attn_map is not None:
                out.attention[level] = attn_map
        if self.objects is not None:
            out.hints, attn_map = self.objects(out.hints, objects.features, objects.mask, rows=rows)
            if attn_map is not None:
                out.attention["objects"] = attn_map
        return out


@dataclass
class AggregatorOutput:
    """f^_q pooled [B, d] and per token [B, L, d], attention maps, kept segments per modality."""

    question: torch.Tensor
    tokens: torch.Tensor
    attention: dict[str, torch.Tensor] = field(default_factory=dict)
    topk: dict[str, torch.Tensor] = field(default_factory=dict)


class HierarchicalAggregation(nn.Module):
    """All branches of the aggregator and the combination f^_q = LN(f_q + sum_x h~_x)."""

    def __init__(self, cfg: ModelConfig, modalities: tuple[str, ...]):
        super().__init__()
        self.modalities = modalities
        levels = LEVELS[cfg.aggregator_levels] if modalities else ()
        use_objects = cfg.text_objects != "none"
        branches = modalities or ("question",)
        if cfg.aggregator_shared or len(branches) < 2:
            self.aggregators = nn.ModuleDict({"shared": Aggregator(cfg, levels, use_objects)})
            self.route = {name: "shared" for name in branches}
        else:
            self.aggregators = nn.ModuleDict({m: Aggregator(cfg, levels, use_objects) for m in branches})
            self.route = {name: name for name in branches}
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(self, question: QuestionFeatures, low: dict[str, torch.Tensor], high: dict[str, torch.Tensor],
                objects: TextObjects | None) -> AggregatorOutput:
        # training on the CPU: per-token work skips the padded question tokens (their outputs are
        # never read: f^_q averages the real tokens); eval mode keeps every row (maps, tokens)
        rows = PackedRows(question.mask) if self.training and question.tokens.device.type == "cpu" else None
        total = question.tokens if rows is None else rows.pack(question.tokens)
        result = AggregatorOutput(question=question.vector, tokens=question.tokens)
        for names, out in self._branches(question, low, high, objects, rows):
            for name, hints in zip(names, out.hints.chunk(len(names))):
                total = total + hints
            for level, m in out.attention.items():
                result.attention.update({f"{level}_{name}": part for name, part in zip(names, m.chunk(len(names)))})
            if out.topk is not None:
                result.topk.update(zip(names, out.topk.chunk(len(names))))
        normed = self.norm(total)
        if rows is None:
            result.tokens, result.question = normed, masked_mean(normed, question.mask, 1)
        else:
            result.tokens, result.question = rows.unpack(normed), rows.mean(normed)
        return result

    def _branches(self, question: QuestionFeatures, low: dict[str, torch.Tensor], high: dict[str, torch.Tensor],
                  objects: TextObjects | None, rows: PackedRows | None):
        """(branch names, their stacked output) per aggregator call. The branches of the shared
        aggregator run as ONE call on the batch stacked branch after branch (the same function
        row by row, in half the operations); separate aggregators run one call each."""
        names = list(self.route)
        if len(names) > 1 and set(self.route.values()) == {"shared"} and all(n in low for n in names):
            k = len(names)
            stacked = QuestionFeatures(tokens=question.tokens.repeat(k, 1, 1), mask=question.mask.repeat(k, 1),
                                       vector=question.vector.repeat(k, 1))
            keys = {"low": torch.cat([low[n] for n in names]), "high": torch.cat([high[n] for n in names])}
            objs = None if objects is None else TextObjects(features=objects.features.repeat(k, 1, 1),
                                                            mask=objects.mask.repeat(k, 1))
            stacked_rows = None if rows is None else PackedRows(stacked.mask)
            yield names, self.aggregators["shared"](stacked, keys, objs, stacked_rows)
            return
        for name, aggregator in self.route.items():
            keys = {"low": low[name], "high": high[name]} if name in low else {}
            yield [name], self.aggregators[aggregator](question, keys, objects, rows)
