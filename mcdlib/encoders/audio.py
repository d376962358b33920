"""Frozen audio encoders: per-second 128-d features of a waveform, one interface.

>>> enc = get_audio_encoder("logmel", sample_rate=16000)
>>> enc.encode(waves).shape           # waves [B, N] float32 (numpy or torch)
(B, N // 16000, 128)

``"logmel"`` (:class:`LogMelEncoder`, the default, no weights): VGGish-shaped features
(128 per second) from a torchaudio log-mel spectrogram (25 ms Hann window, 10 ms hop, 64 mel
bands from 50 Hz to 7.8 kHz, ``log10(power + 1e-6)``; 100 frames per second). The 128 dims
are designed to carry both timbre and within-second time structure:

* ``[0:64]``   mean log-mel energy per band over the second: which instruments (spectral
  envelope, register) and how loud;
* ``[64:96]``  onset strength per band pair: mean positive frame-to-frame increase of the
  log energy (spectral flux) in 32 groups of two adjacent bands: note onsets, i.e. rhythm
  (note density) per register;
* ``[96:128]`` standard deviation over the second of the log energy in the same 32 groups:
  sustained vs. decaying notes, vibrato, entries and stops inside the second.

All dims are in log10 units (silence gives -6 in the first 64 dims and 0 in the others).

``"vggish"`` (:class:`mcdlib.encoders.vggish.VGGishEncoder`): VGGish with its own front end
(one 0.96 s example per second), as MUSIC-AVQA's released ``vggish`` features. No pretrained
audio encoder ships offline in a PyPI wheel (VGGish, PANNs, AST, CLAP and OpenL3 all download
weights at run time), so it needs a local weight file: ``get_audio_encoder("vggish",
weights=PATH)`` with torchvggish's ``vggish-10086976.pth`` (checked by SHA-256). Without it, it
raises :class:`ConfigError` saying where to get it. Nothing falls back silently.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from mcdlib.errors import ConfigError, FeatureError

#: output feature size of every audio encoder
DIM = 128
#: log-mel settings of the "logmel" encoder
N_MELS = 64
F_MIN, F_MAX = 50.0, 7800.0
FRAMES_PER_SECOND = 100
LOG_FLOOR = 1e-6
#: band groups of the onset-strength and std statistics
GROUPS = 32
#: waveforms per batch inside encode()
BATCH_SIZE = 32


def as_wave_batch(waves, name: str) -> torch.Tensor:
    """``waves`` (numpy or torch, ``[B, N]``) as a float32 CPU tensor; FeatureError on another shape."""
    tensor = torch.as_tensor(np.asarray(waves) if not torch.is_tensor(waves) else waves)
    if tensor.ndim != 2:
        raise FeatureError(f"audio encoder {name!r} expects waveforms shaped [batch, samples]; got "
                           f"shape {tuple(tensor.shape)} (use waves[None] for a single waveform)")
    return tensor.detach().to("cpu", torch.float32)


def fit_seconds(waves: torch.Tensor, sample_rate: int, seconds: int | None) -> tuple[torch.Tensor, int]:
    """Cut or zero-pad ``waves`` to whole seconds (default: ``N // sample_rate``)."""
    if seconds is None:
        seconds = waves.shape[1] // sample_rate
    if seconds < 1:
        raise FeatureError(f"waveforms of {waves.shape[1]} samples are shorter than one second at "
                           f"{sample_rate} Hz; give at least {sample_rate} samples")
    need = seconds * sample_rate
    if waves.shape[1] < need:
        waves = torch.nn.functional.pad(waves, (0, need - waves.shape[1]))
    return waves[:, :need], int(seconds)


class AudioEncoder:
    """Interface: ``.name``, ``.version``, ``.dim``, ``.sample_rate``, ``.encode(waves) -> [B, S, dim]``."""

    name: str = ""
    version: str = ""
    dim: int = DIM

    def __init__(self, sample_rate: int = 16000, batch_size: int = BATCH_SIZE):
        self.sample_rate = int(sample_rate)
        self.batch_size = int(batch_size)

    def _encode_batch(self, waves: torch.Tensor, seconds: int) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, waves, seconds: int | None = None, progress: bool = False) -> np.ndarray:
        """Per-second features of ``waves`` ``[B, N]`` → float32 ``[B, seconds, dim]``.

        ``seconds`` defaults to ``N // sample_rate`` (shorter input is zero-padded).
        """
        waves, seconds = fit_seconds(as_wave_batch(waves, self.name), self.sample_rate, seconds)
        out = np.zeros((waves.shape[0], seconds, self.dim), dtype=np.float32)
        starts = range(0, waves.shape[0], self.batch_size)
        for start in tqdm(starts, desc=f"audio {self.name}", disable=not progress or len(starts) < 2):
            chunk = waves[start:start + self.batch_size]
            out[start:start + len(chunk)] = self._encode_batch(chunk, seconds).numpy()
        return out


class LogMelEncoder(AudioEncoder):
    """Designed 128-d per-second log-mel statistics (see module doc). No weights."""

    name = "logmel"

    def __init__(self, sample_rate: int = 16000, batch_size: int = BATCH_SIZE):
        super().__init__(sample_rate, batch_size)
        import torchaudio

        if self.sample_rate % FRAMES_PER_SECOND:
            raise ConfigError(f"logmel needs a sample rate divisible by {FRAMES_PER_SECOND}; got {sample_rate}")
        hop = self.sample_rate // FRAMES_PER_SECOND
        window = int(round(0.025 * self.sample_rate))
        n_fft = 1 << (window - 1).bit_length()
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=self.sample_rate, n_fft=n_fft, win_length=window, hop_length=hop,
            f_min=F_MIN, f_max=min(F_MAX, self.sample_rate / 2), n_mels=N_MELS, power=2.0,
            center=True, mel_scale="htk")
        self.version = (f"logmel-1:sr{self.sample_rate}:fft{n_fft}:win{window}:hop{hop}:"
                        f"mel{N_MELS}:{F_MIN:g}-{min(F_MAX, self.sample_rate / 2):g}:mean64+flux32+std32")

    @torch.no_grad()
    def log_mel(self, waves) -> np.ndarray:
        """``log10(mel power + 1e-6)`` frames of ``waves`` ``[B, N]``: float32 ``[B, frames, 64]`` (100 per second)."""
        tensor = as_wave_batch(waves, self.name)
        return torch.log10(self.mel(tensor) + LOG_FLOOR).transpose(1, 2).numpy()

    def _encode_batch(self, waves: torch.Tensor, seconds: int) -> torch.Tensor:
        frames = seconds * FRAMES_PER_SECOND
        logmel = torch.log10(self.mel(waves)[..., :frames] + LOG_FLOOR)  # [B, 64, F]
        batch = logmel.shape[0]
        grouped = logmel.reshape(batch, GROUPS, N_MELS // GROUPS, frames).mean(2)  # [B, 32, F]
        flux = torch.relu(torch.diff(grouped, dim=-1, prepend=grouped[..., :1]))
        per_second = (batch, -1, seconds, FRAMES_PER_SECOND)
        features = torch.cat([logmel.reshape(per_second).mean(-1),
                              flux.reshape(per_second).mean(-1),
                              grouped.reshape(per_second).std(-1, unbiased=False)], dim=1)
        return features.transpose(1, 2).contiguous()  # [B, S, 128]


#: registered audio encoders: name -> "module:Class" (imported when asked for)
AUDIO_ENCODERS: dict[str, str] = {"logmel": "mcdlib.encoders.audio:LogMelEncoder",
                                  "vggish": "mcdlib.encoders.vggish:VGGishEncoder"}
#: options each audio encoder takes besides sample_rate and batch_size (weights for VGGish)
AUDIO_OPTIONS: dict[str, tuple[str, ...]] = {"logmel": (), "vggish": ("weights", "sha256", "config")}


def audio_encoder_class(name: str) -> type[AudioEncoder]:
    """The class registered as ``name``; ConfigError naming the choices for another name."""
    from mcdlib.utils.registry import load_target

    if name not in AUDIO_ENCODERS:
        raise ConfigError(f"unknown audio encoder {name!r}; choose one of {', '.join(AUDIO_ENCODERS)}")
    return load_target(AUDIO_ENCODERS[name])


def get_audio_encoder(name: str = "logmel", sample_rate: int = 16000, **options) -> AudioEncoder:
    """The audio encoder ``name`` ("logmel" | "vggish") at ``sample_rate``; ``options`` go to its
    class (``weights=FILE``, ``sha256=HEX`` for VGGish); an option the encoder does not take is a
    ConfigError."""
    cls = audio_encoder_class(name)
    unknown = sorted(k for k in options if k not in AUDIO_OPTIONS[name] + ("batch_size",))
    if unknown:
        raise ConfigError(f"audio encoder {name!r} takes no {', '.join(unknown)} option"
                          + (" (it needs no weight file)" if name == "logmel" else ""))
    return cls(sample_rate=sample_rate, **options)
