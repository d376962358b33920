"""Device selection and mixed-precision settings for the training loop.

``device: auto`` picks CUDA, then Apple MPS, then the CPU. Mixed precision is used on CUDA
only: bfloat16 where the GPU supports it (no loss scaling needed), else float16 with a
:class:`torch.amp.GradScaler`. ``amp: off`` runs everything in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mcdlib.errors import ConfigError


def resolve_device(name: str = "auto", local_rank: int | None = None) -> torch.device:
    """The torch device for ``train.device`` (``auto``, ``cpu``, ``cuda``, ``cuda:1``, ``mps``).

    Under DDP on CUDA, ``local_rank`` picks the GPU of this process when ``name`` names no index.
    """
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: {name!r} is not a device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"train.device={name}: CUDA is not available on this machine; "
                              "use --set train.device=auto (or cpu)")
        if device.index is None and local_rank is not None:
            device = torch.device("cuda", local_rank)
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"train.device={name}: only {torch.cuda.device_count()} CUDA device(s) here")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ConfigError(f"train.device={name}: MPS is not available; use --set train.device=auto")
    return device


@dataclass(frozen=True)
class AmpSettings:
    """How the loop runs forward passes: autocast dtype (None = float32) and loss scaling."""

    dtype: torch.dtype | None
    use_scaler: bool

    @property
    def enabled(self) -> bool:
        return self.dtype is not None

    @property
    def name(self) -> str:
        return {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    def autocast(self, device: torch.device):
        """The autocast context for ``device`` (a no-op context when disabled)."""
        return torch.autocast(device_type=device.type, dtype=self.dtype or torch.float32,
                              enabled=self.enabled)


def native_bf16(device: torch.device | None = None) -> bool:
    """Whether the GPU computes bfloat16 natively (emulated bfloat16, e.g. on pre-Ampere GPUs, is slow)."""
    with torch.cuda.device(device):
        return torch.cuda.is_bf16_supported(including_emulation=False)


def amp_settings(device: torch.device, amp: str = "auto") -> AmpSettings:
    """Mixed-precision settings for ``train.amp`` on ``device`` (CPU and MPS: always off).

    ``auto``: bfloat16 where the GPU supports it natively (no loss scaling), else float16 with
    loss scaling (:class:`torch.amp.GradScaler`, which reads its overflow flag on the host each step).
    """
    if device.type != "cuda" or amp == "off":
        return AmpSettings(dtype=None, use_scaler=False)
    if amp == "auto":
        amp = "bf16" if native_bf16(device) else "fp16"
    if amp == "bf16":
        if not native_bf16(device):
            raise ConfigError(f"train.amp=bf16: {torch.cuda.get_device_name(device)} has no native "
                              "bfloat16; use --set train.amp=fp16 (or auto)")
        return AmpSettings(dtype=torch.bfloat16, use_scaler=False)
    if amp == "fp16":
        return AmpSettings(dtype=torch.float16, use_scaler=True)
    raise ConfigError(f"train.amp: {amp!r} is not one of auto, off, bf16, fp16")
