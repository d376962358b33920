"""Dropout with masks that are cheap to draw on the CPU, identical in expectation to ``nn.Dropout``.

``torch.nn.Dropout`` on the CPU draws one Bernoulli sample per element (``bernoulli_``), which
cost a fifth to a third of an MCD training step (BENCHMARKS.md, "Speed"). :class:`Dropout` draws
64 random bits per four elements instead and keeps an element when its 16-bit share is at or
above ``round(p * 2**16)``: the drop probability is ``p`` rounded to a multiple of 2^-16
(0.1 -> 0.100006) and the kept elements are scaled by the exact ``1 / P(keep)``, so
``E[dropout(x)] = x`` exactly, as for ``nn.Dropout``. Off the CPU (CUDA, MPS) it calls
``torch.nn.functional.dropout`` (fused kernels there). In eval mode, or with ``p = 0``, it is the
identity. The masks come from torch's global generator, so the training loop's per-epoch seeding
makes them reproducible (and a resumed run draws the same masks as an uninterrupted one).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcdlib.errors import ConfigError

#: bits of randomness per element
BITS = 16
_LEVELS = 2 ** BITS
_INT16_MIN = -(2 ** 15)


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A CPU mask of ``shape``: 0 with probability round(p * 2^16) / 2^16, else 1 / P(keep)."""
    dropped_levels = round(p * _LEVELS)
    n = 1
    for size in shape:
        n *= int(size)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2 ** 63), None)
    shares = words.view(torch.int16)[:n].view(shape)
    mask = torch.empty(shape, dtype=dtype)
    torch.ge(shares, _INT16_MIN + dropped_levels, out=mask)  # written as 0.0 / 1.0 straight away
    return mask.mul_(_LEVELS / (_LEVELS - dropped_levels))


class Dropout(nn.Module):
    """Drop-in replacement of ``nn.Dropout(p)`` (see module doc)."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ConfigError(f"dropout probability {p} is outside [0, 1); set model.dropout / "
                              "model.header_dropout between 0 and 1")
        self.p = float(p)

    @property
    def active(self) -> bool:
        """Whether a forward pass drops anything (training mode and p > 0)."""
        return self.training and self.p > 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        if x.device.type != "cpu":
            return F.dropout(x, self.p, training=True)
        return x * keep_mask(x.shape, self.p, x.dtype)  # a float mask: a plain product forward and backward

    def extra_repr(self) -> str:
        return f"p={self.p}"
