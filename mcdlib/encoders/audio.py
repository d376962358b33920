"""Frozen audio encoders: per-second features of a waveform, one interface.

>>> enc = get_audio_encoder("logmel", sample_rate=16000)
>>> enc.encode(waves).shape           # waves [B, N] float32 (numpy or torch)
(B, N // 16000, 128)                  # enc.dim: 128 for logmel and vggish, 372 for logmel2

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

``"logmel2"`` (:class:`LogMel2Encoder`, music scenes version 2, no weights): the same
log-mel front end, 372 dims per second designed so that the *playing level* and the *note
density* of each instrument in a mix can be read out linearly (measured by the pairwise
probes of :mod:`mcdlib.scenes.probes`):

* ``[0:64]``    mean log-mel energy per band (as logmel ``[0:64]``);
* ``[64:128]``  90th percentile over the second of the log energy per band: the level while
  notes sound, not diluted by the gaps between sparse notes;
* ``[128:192]`` mean cube-root mel power per band: a compressed power that stays nearly
  additive over instruments, so one instrument's level can be unmixed linearly;
* ``[192:224]`` onset strength per band pair (as logmel ``[64:96]``);
* ``[224:256]`` standard deviation per band pair (as logmel ``[96:128]``);
* ``[256:352]`` onset counts: frames per second whose log-energy rise in a band pair exceeds
  0.15, 0.3 and 0.6 (32 dims each): note density per register;
* ``[352:372]`` a 10-frame-per-second channel: broadband log energy (RMS envelope) of each
  100 ms, then the summed positive broadband log-energy rise (onset strength) of each 100 ms.

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
    #: (what, dims) of each block of the feature vector, for plots and docs
    BLOCKS: tuple[tuple[str, slice], ...] = (
        ("mean log-mel per band", slice(0, 64)), ("onset strength per band pair", slice(64, 96)),
        ("std per band pair", slice(96, 128)))


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


class LogMel2Encoder(LogMelEncoder):
    """Level- and rhythm-carrying 372-d log-mel statistics (see module doc). No weights."""

    name = "logmel2"
    dim = 372
    BLOCKS = (("mean log-mel per band", slice(0, 64)), ("90th percentile log-mel per band (level)", slice(64, 128)),
              ("mean cube-root mel power per band", slice(128, 192)), ("onset strength per band pair", slice(192, 224)),
              ("std per band pair", slice(224, 256)), ("onset counts per band pair (3 thresholds)", slice(256, 352)),
              ("10 fps log energy, then 10 fps onset strength", slice(352, 372)))
    #: log10 rises (per 10 ms frame, band pair) that count as an onset
    ONSET_THRESHOLDS: tuple[float, ...] = (0.15, 0.3, 0.6)
    #: frames of the 10-per-second envelope channel
    ENVELOPE_FRAMES = 10
    PEAK_QUANTILE = 0.9

    def __init__(self, sample_rate: int = 16000, batch_size: int = BATCH_SIZE):
        super().__init__(sample_rate, batch_size)
        self.version = self.version.replace("logmel-1:", "logmel2-1:").replace(
            "mean64+flux32+std32", "mean64+p90x64+cbrt64+flux32+std32+onsets3x32+env10+envflux10")

    def _encode_batch(self, waves: torch.Tensor, seconds: int) -> torch.Tensor:
        frames = seconds * FRAMES_PER_SECOND
        power = self.mel(waves)[..., :frames]  # [B, 64, F]
        logmel = torch.log10(power + LOG_FLOOR)
        batch = logmel.shape[0]
        per_second = (batch, -1, seconds, FRAMES_PER_SECOND)
        grouped = logmel.reshape(batch, GROUPS, N_MELS // GROUPS, frames).mean(2)  # [B, 32, F]
        rise = torch.diff(grouped, dim=-1, prepend=grouped[..., :1])
        flux = torch.relu(rise).reshape(per_second)
        bands = logmel.reshape(per_second)
        onsets = [(rise > threshold).to(logmel.dtype).reshape(per_second).sum(-1) for threshold in self.ONSET_THRESHOLDS]
        broadband = torch.log10(power.sum(1) + LOG_FLOOR)  # [B, F]
        step = FRAMES_PER_SECOND // self.ENVELOPE_FRAMES
        blocks = (batch, seconds * self.ENVELOPE_FRAMES, step)
        envelope = broadband.reshape(blocks).mean(-1).reshape(batch, seconds, self.ENVELOPE_FRAMES)
        broad_rise = torch.relu(torch.diff(broadband, dim=-1, prepend=broadband[..., :1]))
        envelope_flux = broad_rise.reshape(blocks).sum(-1).reshape(batch, seconds, self.ENVELOPE_FRAMES)
        features = torch.cat([bands.mean(-1), torch.quantile(bands, self.PEAK_QUANTILE, dim=-1),
                              torch.pow(power.clamp_min(0), 1.0 / 3.0).reshape(per_second).mean(-1),
                              flux.mean(-1), grouped.reshape(per_second).std(-1, unbiased=False), *onsets],
                             dim=1).transpose(1, 2)  # [B, S, 352]
        return torch.cat([features, envelope, envelope_flux], dim=2).contiguous()  # [B, S, 372]


#: registered audio encoders: name -> "module:Class" (imported when asked for)
AUDIO_ENCODERS: dict[str, str] = {"logmel": "mcdlib.encoders.audio:LogMelEncoder",
                                  "logmel2": "mcdlib.encoders.audio:LogMel2Encoder",
                                  "vggish": "mcdlib.encoders.vggish:VGGishEncoder"}
#: options each audio encoder takes besides sample_rate and batch_size (weights for VGGish)
AUDIO_OPTIONS: dict[str, tuple[str, ...]] = {"logmel": (), "logmel2": (), "vggish": ("weights", "sha256", "config")}


def audio_encoder_class(name: str) -> type[AudioEncoder]:
    """The class registered as ``name``; ConfigError naming the choices for another name."""
    from mcdlib.utils.registry import load_target

    if name not in AUDIO_ENCODERS:
        raise ConfigError(f"unknown audio encoder {name!r}; choose one of {', '.join(AUDIO_ENCODERS)}")
    return load_target(AUDIO_ENCODERS[name])


def get_audio_encoder(name: str = "logmel", sample_rate: int = 16000, **options) -> AudioEncoder:
    """The audio encoder ``name`` ("logmel" | "logmel2" | "vggish") at ``sample_rate``; ``options`` go to its
    class (``weights=FILE``, ``sha256=HEX`` for VGGish); an option the encoder does not take is a
    ConfigError."""
    cls = audio_encoder_class(name)
    unknown = sorted(k for k in options if k not in AUDIO_OPTIONS[name] + ("batch_size",))
    if unknown:
        raise ConfigError(f"audio encoder {name!r} takes no {', '.join(unknown)} option"
                          + (" (it needs no weight file)" if name in ("logmel", "logmel2") else ""))
    return cls(sample_rate=sample_rate, **options)
