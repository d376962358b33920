"""VGGish (Hershey et al., ICASSP 2017): 128-d audio embeddings per second, as MUSIC-AVQA's ``vggish``.

mcdlib's own PyTorch implementation of the architecture and of VGGish's front end; the
weights come from a file the user supplies (nothing is downloaded, nothing is random):

* **front end** (:func:`vggish_examples`), per second of 16 kHz mono audio, as the MUSIC-AVQA
  reference extraction calls VGGish (one example per second): frames of 25 ms (400 samples)
  every 10 ms (160), no padding, a periodic Hann window, the magnitude of a 512-point FFT, 64
  mel bands from 125 to 7500 Hz (HTK mel scale, triangles in the mel domain, the DC bin left
  out), ``log(mel + 0.01)``; the first 96 frames (0.96 s) of each second form its example
  ``[96, 64]``;
* **network** (:class:`VGGishNetwork`): four VGG blocks (64, 128, 256x2, 512x2 channels of 3x3
  convolutions with ReLU, each block followed by 2x2 max pooling) and three fully connected
  layers (4096, 4096, 128) with ReLU; the 128-d output is the embedding before PCA (as in the
  released MUSIC-AVQA features). Parameter names follow the torchvggish port, so its state
  dict ``vggish-10086976.pth`` loads unchanged (:data:`VGGISH_WEIGHTS`).

>>> enc = VGGishEncoder(weights="weights/vggish-10086976.pth")      # doctest: +SKIP
>>> enc.encode(waves).shape                                          # waves [B, N] at 16 kHz
(B, N // 16000, 128)

Differences to the reference extraction, stated rather than hidden: audio is decoded and
resampled to 16 kHz by FFmpeg (the reference reads a WAV file and resamples each second with
resampy), and S is the video's length rounded to whole seconds (the reference floors it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from mcdlib.encoders.audio import DIM, AudioEncoder
from mcdlib.encoders.weights import WeightsSpec, locate_weights
from mcdlib.errors import ConfigError

#: VGGish's front-end constants (16 kHz; 25 ms window, 10 ms hop; 64 mel bands 125-7500 Hz)
SAMPLE_RATE = 16000
WINDOW, HOP, FFT = 400, 160, 512
BANDS = 64
F_MIN, F_MAX = 125.0, 7500.0
LOG_OFFSET = 0.01
#: frames of one example (0.96 s)
EXAMPLE_FRAMES = 96
#: examples per forward pass (bounds memory: 64 examples x 64 channels x 96 x 64 floats = 100 MB)
EXAMPLES_PER_PASS = 64

#: the published weights: torchvggish's port of the AudioSet VGGish checkpoint (release v0.1).
#: SHA-256 as published alongside the file by several independent users of it (its first 8
#: digits are the ones in the file name, torch.hub's convention).
VGGISH_WEIGHTS = WeightsSpec(
    what="VGGish (torchvggish port of the AudioSet model)",
    file_name="vggish-10086976.pth",
    source="https://github.com/harritaylor/torchvggish/releases/download/v0.1/vggish-10086976.pth",
    sha256="10086976245803799d9194e9a73d9b6c1549c71d1b80106f5cade5608a561f4b",
    option="--audio-weights",
    licence="Apache-2.0 (the AudioSet VGGish model and the torchvggish port)",
)


def hertz_to_mel(hertz):
    """The HTK mel scale: ``1127 ln(1 + f / 700)`` (numbers or tensors)."""
    if torch.is_tensor(hertz):
        return 1127.0 * torch.log1p(hertz / 700.0)
    return 1127.0 * math.log1p(hertz / 700.0)


def mel_matrix(fft_bins: int = FFT // 2 + 1, bands: int = BANDS, sample_rate: int = SAMPLE_RATE,
               f_min: float = F_MIN, f_max: float = F_MAX) -> torch.Tensor:
    """``[fft_bins, bands]`` float32 weights turning FFT magnitudes into mel bands.

    Band ``b`` is a triangle over the mel positions of the FFT bins, rising from edge ``b`` to
    edge ``b + 1`` and falling to edge ``b + 2`` of ``bands + 2`` edges equally spaced in mel
    between ``f_min`` and ``f_max``; the DC bin gets no weight.
    """
    bin_mel = hertz_to_mel(torch.linspace(0.0, sample_rate / 2, fft_bins, dtype=torch.float64))
    edges = torch.linspace(hertz_to_mel(f_min), hertz_to_mel(f_max), bands + 2, dtype=torch.float64)
    low, centre, high = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel[:, None] - low) / (centre - low)
    falling = (high - bin_mel[:, None]) / (high - centre)
    weights = torch.clamp(torch.minimum(rising, falling), min=0.0)
    weights[0] = 0.0
    return weights.float()


def vggish_examples(waves: torch.Tensor, seconds: int) -> torch.Tensor:
    """One log-mel example per second: 16 kHz ``waves [B, >= seconds * 16000]`` → ``[B, S, 96, 64]``."""
    batch = waves.shape[0]
    per_second = waves[:, :seconds * SAMPLE_RATE].reshape(batch, seconds, SAMPLE_RATE)
    frames = per_second.unfold(-1, WINDOW, HOP)[:, :, :EXAMPLE_FRAMES]  # [B, S, 96, 400]
    window = torch.hann_window(WINDOW, periodic=True, dtype=waves.dtype)
    magnitude = torch.fft.rfft(frames * window, n=FFT).abs()  # [B, S, 96, 257]
    return torch.log(magnitude @ mel_matrix().to(waves.dtype) + LOG_OFFSET)


@dataclass(frozen=True)
class VGGishConfig:
    """Sizes of the network (the defaults are VGGish's; smaller ones only for fast tests)."""

    widths: tuple[int, ...] = (64, 128, 256, 256, 512, 512)  # conv1, conv2, conv3_1, conv3_2, conv4_1, conv4_2
    hidden: int = 4096
    dim: int = DIM


#: convolutions followed by a 2x2 max pooling (after conv1, conv2, conv3_2, conv4_2)
POOL_AFTER = (0, 1, 3, 5)


class VGGishNetwork(torch.nn.Module):
    """The VGGish network on ``[N, 1, 96, 64]`` examples → ``[N, dim]`` (parameter names of torchvggish)."""

    def __init__(self, config: VGGishConfig = VGGishConfig()):
        super().__init__()
        layers: list[torch.nn.Module] = []
        channels = 1
        for i, width in enumerate(config.widths):
            layers += [torch.nn.Conv2d(channels, width, 3, padding=1), torch.nn.ReLU(inplace=True)]
            if i in POOL_AFTER:
                layers.append(torch.nn.MaxPool2d(2, 2))
            channels = width
        self.features = torch.nn.Sequential(*layers)
        pooled = (EXAMPLE_FRAMES >> len(POOL_AFTER)) * (BANDS >> len(POOL_AFTER))  # 6 x 4
        self.embeddings = torch.nn.Sequential(
            torch.nn.Linear(channels * pooled, config.hidden), torch.nn.ReLU(True),
            torch.nn.Linear(config.hidden, config.hidden), torch.nn.ReLU(True),
            torch.nn.Linear(config.hidden, config.dim), torch.nn.ReLU(True))

    def forward(self, examples: torch.Tensor) -> torch.Tensor:
        x = self.features(examples)  # [N, C, 6, 4]
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # flattened time, band, channel (TensorFlow's order)
        return self.embeddings(x)


class VGGishEncoder(AudioEncoder):
    """VGGish embeddings per second from a local weight file (see module doc).

    ``weights``: the state dict file (required; ``vggish-10086976.pth``), checked by SHA-256
    (the published hash for that name, ``sha256`` when given, else the hash prefix of a
    ``name-<hex>.pth`` file name). ``config`` changes the network's sizes (tests only).
    """

    name = "vggish"

    def __init__(self, sample_rate: int = SAMPLE_RATE, batch_size: int = 32, weights: str | None = None,
                 sha256: str = "", config: VGGishConfig = VGGishConfig()):
        super().__init__(sample_rate, batch_size)
        if not weights:
            raise ConfigError(
                "audio encoder 'vggish' needs its weight file and mcdlib downloads nothing: on a connected "
                f"machine download {VGGISH_WEIGHTS.file_name} from {VGGISH_WEIGHTS.source}, then pass it "
                "(--audio-weights FILE, or get_audio_encoder('vggish', weights=FILE)); or use the built-in "
                "'logmel' encoder. See docs/OFFLINE_ASSETS.md.")
        checked = locate_weights(VGGISH_WEIGHTS, weights, sha256)
        self.network = VGGishNetwork(config).eval()
        try:
            state = torch.load(checked.path, map_location="cpu", weights_only=True)
            self.network.load_state_dict(state)
        except Exception as error:  # noqa: BLE001 - corrupt file, pickle error or another architecture
            raise ConfigError(f"cannot load VGGish weights from {checked.path}: {error}; give torchvggish's "
                              f"{VGGISH_WEIGHTS.file_name}") from None
        for parameter in self.network.parameters():
            parameter.requires_grad_(False)
        self.weights = checked
        self.dim = config.dim
        sizes = "" if config == VGGishConfig() else f":custom{config.widths}x{config.hidden}"
        self.version = (f"vggish-2:{checked.path.name}:{checked.sha256[:16]}{sizes}:"
                        "16k-per-second-96x64-logmel:no-pca")

    def _encode_batch(self, waves: torch.Tensor, seconds: int) -> torch.Tensor:
        if self.sample_rate != SAMPLE_RATE:
            import torchaudio

            waves = torchaudio.functional.resample(waves, self.sample_rate, SAMPLE_RATE)
            waves = torch.nn.functional.pad(waves, (0, max(0, seconds * SAMPLE_RATE - waves.shape[1])))
        examples = vggish_examples(waves, seconds).reshape(-1, 1, EXAMPLE_FRAMES, BANDS)
        out = torch.cat([self.network(examples[i:i + EXAMPLES_PER_PASS])
                         for i in range(0, len(examples), EXAMPLES_PER_PASS)])
        return out.reshape(waves.shape[0], seconds, self.dim)


def vggish_state_shapes(config: VGGishConfig = VGGishConfig()) -> dict[str, tuple[int, ...]]:
    """Parameter name → shape of the network (built on the meta device: no memory, no weights)."""
    with torch.device("meta"):
        network = VGGishNetwork(config)
    return {name: tuple(tensor.shape) for name, tensor in network.state_dict().items()}


def describe_vggish() -> dict:
    """Facts of the published weight file, for docs and messages."""
    shapes = vggish_state_shapes()
    parameters = int(sum(np.prod(s) for s in shapes.values()))
    return {"file": VGGISH_WEIGHTS.file_name, "source": VGGISH_WEIGHTS.source, "sha256": VGGISH_WEIGHTS.sha256,
            "parameters": parameters, "float32_bytes": 4 * parameters}
