"""What a model needs to know about the data it will see (dimensions and label tables).

:class:`DataSpec` is produced by :class:`mcdlib.data.dataset.AVQADataset` (``dataset.spec``)
and consumed by :func:`mcdlib.models.build_model`; :func:`toy_spec` gives a small one for
unit tests and for the notebooks that build components on toy tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class DataSpec:
    audio_dim: int
    visual_dim: int
    text_dim: int
    segments: int = 10
    visual_grid: tuple[int, int] | None = None  # (G, Dv) when a grid feature is present
    vocab_size: int = 93
    question_len: int = 14  # length of q_ids
    text_len: int = 24  # L of q_tokens
    num_answers: int = 42
    num_cells: int = 9
    max_objects: int = 6
    text_encoder: str = "minilm"  # DataConfig.text_encoder: "minilm" (q_tokens present) or "vocab"
    #: [num_cells, 2, text_dim]: pooled text vectors of the two type labels of each cell
    #: (MUSIC-AVQA: scenario, type; AVQA: question type, relation)
    type_object_features: torch.Tensor | None = field(default=None, repr=False)
    #: AVQA: batches carry ``options`` [B, num_answers, text_dim] and logits score them
    multiple_choice: bool = False

    def to_dict(self) -> dict:
        """JSON-ready description (the label table is stored in checkpoints, not here)."""
        out = {k: v for k, v in self.__dict__.items() if k != "type_object_features"}
        out["visual_grid"] = list(self.visual_grid) if self.visual_grid else None
        return out


def toy_spec(audio_dim: int = 8, visual_dim: int = 12, text_dim: int = 16, segments: int = 4,
             grid: int | None = 3, num_answers: int = 42, seed: int = 0,
             multiple_choice: bool = False) -> DataSpec:
    """A small spec with random (but seeded) type-label vectors, for tests and notebooks
    (``multiple_choice=True``: 4 options per question, as AVQA)."""
    g = torch.Generator().manual_seed(seed)
    return DataSpec(
        audio_dim=audio_dim, visual_dim=visual_dim, text_dim=text_dim, segments=segments,
        visual_grid=(grid, visual_dim) if grid else None, text_len=7, max_objects=5,
        num_answers=4 if multiple_choice else num_answers, multiple_choice=multiple_choice,
        type_object_features=torch.randn(9, 2, text_dim, generator=g),
    )


def random_batch(spec: DataSpec, batch_size: int = 4, seed: int = 0,
                 videos_per_batch: int | None = None) -> dict[str, torch.Tensor]:
    """A batch that follows the batch contract of docs/ARCHITECTURE.md, with random content.

    ``videos_per_batch`` < batch_size makes several questions share a video (as in real
    batches), which matters for the same-video masking of contrastive losses.
    """
    g = torch.Generator().manual_seed(seed)
    B, T, L, K = batch_size, spec.segments, spec.text_len, spec.max_objects
    n_videos = videos_per_batch or B
    video_of = torch.arange(B) % n_videos
    audio = torch.randn(n_videos, T, spec.audio_dim, generator=g)[video_of]
    visual = torch.randn(n_videos, T, spec.visual_dim, generator=g)[video_of]
    lengths = torch.randint(3, L + 1, (B,), generator=g)
    q_mask = torch.arange(L)[None, :] < lengths[:, None]
    n_obj = torch.randint(0, K + 1, (B,), generator=g)
    obj_mask = torch.arange(K)[None, :] < n_obj[:, None]
    n_kw = torch.minimum(n_obj, torch.randint(0, K + 1, (B,), generator=g))
    kind = torch.where(torch.arange(K)[None, :] < n_kw[:, None], 1, 2) * obj_mask
    q_len_ids = torch.randint(3, spec.question_len + 1, (B,), generator=g)
    q_ids = torch.randint(1, spec.vocab_size, (B, spec.question_len), generator=g)
    q_ids = q_ids * (torch.arange(spec.question_len)[None, :] < q_len_ids[:, None])
    batch = {
        "audio": audio,
        "visual": visual,
        "q_tokens": torch.randn(B, L, spec.text_dim, generator=g) * q_mask[..., None],
        "q_mask": q_mask,
        "q_ids": q_ids.long(),
        "text_objects": torch.randn(B, K, spec.text_dim, generator=g) * obj_mask[..., None],
        "text_objects_mask": obj_mask,
        "text_objects_kind": kind.long(),
        "answer": torch.randint(0, spec.num_answers, (B,), generator=g),
        "type_index": torch.randint(0, spec.num_cells, (B,), generator=g),
        "video_index": video_of.long(),
        "question_id": torch.arange(B, dtype=torch.long),
    }
    if spec.visual_grid:
        G, Dv = spec.visual_grid
        batch["visual_grid"] = torch.randn(n_videos, T, G, Dv, generator=g)[video_of]
    if spec.multiple_choice:
        batch["options"] = torch.randn(B, spec.num_answers, spec.text_dim, generator=g)
    return batch
