"""In-memory stand-ins for AVQADataset and build_model that follow docs/ARCHITECTURE.md, so the
training loop, checkpoints, prediction and ablations are tested in well under a second each."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mcdlib.data.templates import CELLS
from mcdlib.data.dataset import AVQADataset
from mcdlib.data.spec import DataSpec, random_batch, toy_spec
from mcdlib.data.vocab import AnswerVocab


@dataclass(frozen=True)
class FakeQuestion:
    question_id: int
    video_id: str
    answer: str
    type_index: int

    @property
    def scenario(self) -> str:
        return CELLS[self.type_index][0]

    @property
    def qtype(self) -> str:
        return CELLS[self.type_index][1]


class FakeDataset:
    """``n`` questions with a learnable answer (a fixed function of the audio features)."""

    def __init__(self, n: int = 48, spec: DataSpec | None = None, seed: int = 0, nan_epoch: int | None = None,
                 id_offset: int = 0):
        self.spec = spec or toy_spec(grid=None, num_answers=6)
        self._data = random_batch(self.spec, n, seed=seed, videos_per_batch=max(n // 2, 1))
        g = torch.Generator().manual_seed(1234)
        w = torch.randn(self.spec.audio_dim, self.spec.num_answers, generator=g)
        self._data["answer"] = (self._data["audio"].mean(1) @ w).argmax(-1)
        self._data["question_id"] = torch.arange(n) + id_offset
        self.answer_vocab = AnswerVocab(answers=AnswerVocab().answers[: self.spec.num_answers])
        self.nan_epoch = nan_epoch
        self.questions = [FakeQuestion(int(q), f"v{int(v)}", self.answer_vocab.answers[int(a)], int(c))
                          for q, v, a, c in zip(self._data["question_id"], self._data["video_index"],
                                                self._data["answer"], self._data["type_index"])]

    def __len__(self) -> int:
        return len(self._data["answer"])

    def batch(self, idx) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(idx, dtype=torch.long)
        return {k: v[idx].clone() for k, v in self._data.items()}

    # the real dataset's sharding rule (padded, equal batches per rank) and batch counting
    batch_indices = AVQADataset.batch_indices
    num_batches = AVQADataset.num_batches

    def iter_batches(self, batch_size, shuffle=True, seed=0, epoch=0, rank=0, world_size=1, drop_last=False,
                     features=None):  # loads everything, like the real dataset with features=None
        for idx in self.batch_indices(batch_size, shuffle, seed, epoch, rank, world_size, drop_last):
            batch = self.batch(idx)
            if self.nan_epoch is not None and epoch >= self.nan_epoch:
                batch["audio"] = batch["audio"] * float("nan")
            yield batch


class FakeModel(nn.Module):
    """Mean-pooled audio/visual/question → MLP with dropout, plus one weighted auxiliary loss."""

    def __init__(self, model_cfg, spec: DataSpec):
        super().__init__()
        d = 16 if model_cfg.d_model > 64 else model_cfg.d_model
        self.inp = nn.Linear(spec.audio_dim + spec.visual_dim + spec.text_dim, d)
        self.drop = nn.Dropout(0.3)
        self.out = nn.Linear(d, spec.num_answers)
        self.weight = model_cfg.lambda_con

    def forward(self, batch):
        x = torch.cat([batch["audio"].mean(1), batch["visual"].mean(1), batch["q_tokens"].mean(1)], -1)
        h = self.drop(torch.relu(self.inp(x)))
        return {"logits": self.out(h), "losses": {"con": self.weight * h.pow(2).mean()},
                "attention": {}, "aux": {}}


class OtherFakeModel(FakeModel):
    """A model whose weights do not fit FakeModel's checkpoints (an extra layer)."""

    def __init__(self, model_cfg, spec):
        super().__init__(model_cfg, spec)
        self.extra = nn.Linear(2, 2)


def fake_datasets(n_train: int = 48, n_val: int = 24, spec: DataSpec | None = None, **kwargs):
    spec = spec or toy_spec(grid=None, num_answers=6)
    return {"train": FakeDataset(n_train, spec, seed=0, **kwargs),
            "val": FakeDataset(n_val, spec, seed=1, id_offset=10_000),
            "test": FakeDataset(n_val, spec, seed=2, id_offset=20_000)}


def fake_config(**overrides):
    """The tiny preset, quiet, with a few epochs (override with dotted keys as kwargs)."""
    from mcdlib.config import apply_overrides, get_preset

    cfg = get_preset("tiny")
    base = {"train.epochs": 3, "train.batch_size": 8, "train.progress": False, "train.device": "cpu",
            "train.lr": 1e-2, "train.lr_step": 2, "train.threads": 1}
    base.update({k.replace("__", "."): v for k, v in overrides.items()})
    return apply_overrides(cfg, base)
