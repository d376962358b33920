"""Loss functions and masking helpers shared by the MCD components and the baselines.

Paper mapping: MCD trains with "contrastive learning and distillation" (KNOWN, abstract).
The exact formulas here are CHOICES of mcdlib (docs/MCD_FORMULATION.md, "CHOICE" section):

* :func:`info_nce` — in-batch InfoNCE between two sets of L2-normalised points, with pairs
  from the same video removed from the negatives (several questions of one video share a
  batch, so their features are identical and must not be pushed apart) and each other video
  counted once;
* :func:`relational_kl` — KL between the teacher's and the student's softmax distributions over
  in-batch similarities (the ``sa_loss=kl`` switch);
* :func:`squared_distance` — mean squared distance between matched points (``sa_loss=mse``).

Every loss is well defined for a batch of one (it is then exactly 0, never NaN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None, dim: int) -> torch.Tensor:
    """Mean of ``x`` over ``dim`` counting only positions where ``mask`` is True.

    ``mask`` has the shape of ``x`` without its trailing feature dimension. A row with no real
    position gives 0 (not NaN).
    """
    if mask is None:
        return x.mean(dim)
    weights = mask.to(x.dtype).unsqueeze(-1)
    total = (x * weights).sum(dim)
    count = weights.sum(dim).clamp_min(1.0)
    return total / count


def excluded_negatives(video_index: torch.Tensor | None, size: int) -> torch.Tensor:
    """[B, B] bool, True where column j is not a negative for row i (i != j).

    Excluded: j from the same video as i, and repeated occurrences of another video (only the
    first item of each other video is a negative, so a video with several questions in the
    batch is not weighted more). Items of one video share their audio-visual features, so this
    makes each row's loss equal to its loss in the batch with duplicated videos removed.
    """
    if video_index is None:
        return torch.zeros(size, size, dtype=torch.bool)
    positions = torch.arange(size, device=video_index.device)
    same = video_index[:, None] == video_index[None, :]
    first = ~(same & (positions[None, :] < positions[:, None])).any(1)
    off_diagonal = positions[:, None] != positions[None, :]
    return off_diagonal & (same | ~first[None, :])


def info_nce(queries: torch.Tensor, keys: torch.Tensor, tau: float | torch.Tensor,
             video_index: torch.Tensor | None = None, symmetric: bool = True,
             reduction: str = "mean") -> torch.Tensor:
    """In-batch InfoNCE: row i of ``queries`` should match row i of ``keys``.

    Inputs are L2-normalised here; logits are cosine similarities / ``tau``. Pairs (i, j) with
    i != j from the same video (``video_index``) are dropped from the negatives, and each other
    video counts once (:func:`excluded_negatives`). ``symmetric``
    averages the queries->keys and keys->queries directions. With one item (or no valid
    negative) the loss of that row is exactly 0. ``reduction``: ``"mean"`` or ``"none"`` ([B]).
    """
    q = F.normalize(queries, dim=-1)
    k = F.normalize(keys, dim=-1)
    logits = q @ k.t() / tau
    excluded = excluded_negatives(video_index, q.shape[0]).to(logits.device)
    low = torch.finfo(logits.dtype).min
    target = torch.arange(q.shape[0], device=q.device)
    per_row = F.cross_entropy(logits.masked_fill(excluded, low), target, reduction="none")
    if symmetric:
        backward = F.cross_entropy(logits.t().masked_fill(excluded, low), target, reduction="none")
        per_row = 0.5 * (per_row + backward)
    return per_row.mean() if reduction == "mean" else per_row


def relational_kl(student: torch.Tensor, teacher: torch.Tensor, tau: float | torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) of in-batch similarity distributions (batch mean).

    Row i of the teacher distribution is softmax_j(t_i . t_j / tau); row i of the student's is
    softmax_j(s_i . t_j / tau): the student point should relate to the teacher points the way
    the teacher point itself does. Points are L2-normalised here. 0 for a batch of one.
    """
    s = F.normalize(student, dim=-1)
    t = F.normalize(teacher, dim=-1)
    teacher_logp = F.log_softmax(t @ t.t() / tau, dim=-1)
    student_logp = F.log_softmax(s @ t.t() / tau, dim=-1)
    return F.kl_div(student_logp, teacher_logp, log_target=True, reduction="batchmean")


def squared_distance(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||s_i - t_i||^2 between L2-normalised points."""
    s = F.normalize(student, dim=-1)
    t = F.normalize(teacher, dim=-1)
    return (s - t).pow(2).sum(-1).mean()
