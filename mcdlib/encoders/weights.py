"""Local weight files of pretrained encoders: found, checked by SHA-256, never downloaded.

Encoders whose weights do not install from PyPI (VGGish, torchvision's ResNet-18) read them
from a file the user supplies, or from torchvision's download cache when the file is already
there. :func:`locate_weights` finds the file, :func:`verify_weights` checks it:

* a full expected SHA-256 (known for the file, or given by the user) must match exactly;
* a file named like ``<stem>-<hex>.<ext>`` (the torch.hub convention, e.g.
  ``resnet18-f37072fd.pth``) must have a SHA-256 starting with that ``<hex>``;
* a file with neither is accepted, its SHA-256 recorded (the encoder's ``version`` carries it,
  so features of two different files never mix in one dataset folder).

A missing file is a :class:`~mcdlib.errors.ConfigError` that says where to put it and where to
get it; nothing falls back to random weights.

>>> spec = WeightsSpec("VGGish", "vggish-10086976.pth", "https://...", sha256="1008...")
>>> checked = locate_weights(spec, "weights/vggish-10086976.pth")   # doctest: +SKIP
>>> checked.sha256[:8]
'10086976'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mcdlib.errors import ConfigError
from mcdlib.utils.io import file_sha256

#: ``<stem>-<hex>.<ext>``: torch.hub names a weight file after the start of its SHA-256
HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$")


@dataclass(frozen=True)
class WeightsSpec:
    """What an encoder's weight file is and where it comes from (for checks and messages)."""

    what: str  # e.g. "VGGish (torchvggish port of the AudioSet model)"
    file_name: str  # the published file name
    source: str  # where to download it (on a connected machine)
    sha256: str = ""  # the full SHA-256 when confirmed; "" when not known
    option: str = ""  # the command-line option that passes the file, e.g. "--audio-weights"
    licence: str = ""


@dataclass(frozen=True)
class CheckedWeights:
    """A weight file that passed :func:`verify_weights`."""

    path: Path
    sha256: str
    how: str  # "full SHA-256", "SHA-256 prefix in the file name" or "unverified (no known hash)"


def default_cache_dir() -> Path:
    """torchvision's download cache: ``<torch hub dir>/checkpoints`` (``$TORCH_HOME/hub/checkpoints``)."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def verify_weights(path: str | Path, spec: WeightsSpec, expected_sha256: str = "") -> CheckedWeights:
    """Check ``path`` against ``expected_sha256`` (or the spec's known hash when the file has its
    published name), else against the hash prefix in its name. ConfigError on a mismatch."""
    path = Path(path).expanduser()
    digest = file_sha256(path)
    expected = (expected_sha256 or "").strip().lower()
    if expected and not re.fullmatch(r"[0-9a-f]{8,64}", expected):
        raise ConfigError(f"expected SHA-256 {expected_sha256!r} is not a hex digest; give the 64 hex digits "
                          "(or at least the first 8)")
    if not expected and spec.sha256 and path.name == spec.file_name:
        expected = spec.sha256
    if expected:
        if not digest.startswith(expected):
            raise ConfigError(f"{path}: SHA-256 {digest} does not match the expected {expected}; the file is "
                              f"corrupt, truncated or another model: download {spec.file_name} again from "
                              f"{spec.source}")
        return CheckedWeights(path, digest, "full SHA-256" if len(expected) == 64 else "SHA-256 prefix")
    named = HASH_IN_NAME.search(path.name)
    if named:
        if not digest.startswith(named.group(1)):
            raise ConfigError(f"{path}: its name says its SHA-256 starts with {named.group(1)} but it is {digest}; "
                              f"the file is corrupt or truncated: download {spec.file_name} again from {spec.source}")
        return CheckedWeights(path, digest, "SHA-256 prefix in the file name")
    return CheckedWeights(path, digest, "unverified (no known hash)")


def missing_weights_message(spec: WeightsSpec, looked: list[Path]) -> str:
    """The message of a missing weight file: where it was looked for, where to get it, how to pass it."""
    where = ", ".join(str(p) for p in looked) if looked else "nowhere (no file given)"
    how = f" or pass its path with {spec.option}" if spec.option else ""
    return (f"{spec.what} weights not found (looked at: {where}). mcdlib downloads nothing: on a connected "
            f"machine download {spec.file_name} from {spec.source}, copy it to {looked[0] if looked else 'a local folder'}"
            f"{how}. See docs/OFFLINE_ASSETS.md (weights, SHA-256, licences).")


def locate_weights(spec: WeightsSpec, path: str | Path | None = None, expected_sha256: str = "",
                   search: list[Path] | None = None) -> CheckedWeights:
    """The weight file: ``path`` when given (it must exist), else the first of ``search`` that
    exists; then verified (:func:`verify_weights`). ConfigError when none is found."""
    if path:
        candidate = Path(path).expanduser()
        if candidate.is_dir():
            candidate = candidate / spec.file_name
        if not candidate.is_file():
            raise ConfigError(missing_weights_message(spec, [candidate]))
        return verify_weights(candidate, spec, expected_sha256)
    looked = list(search or [])
    for candidate in looked:
        if candidate.is_file():
            return verify_weights(candidate, spec, expected_sha256)
    raise ConfigError(missing_weights_message(spec, looked))
