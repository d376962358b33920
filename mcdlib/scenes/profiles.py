"""Music-scenes profiles: typed settings for building the default dataset.

A profile fixes the dataset size and the scene, rendering and encoding settings. Named
profiles mirror the run presets: ``tiny`` (tests, seconds), ``classroom`` (a laptop CPU in
minutes), ``full`` (the size of MUSIC-AVQA). Same config machinery as :mod:`mcdlib.config`:
``get_profile("tiny", ["videos=80"])`` applies dotted overrides; every value is range-checked on
load and on override (``videos=-5``: "videos: -5 is out of range; allowed: >= 1").

**Generator versions** (``version``, recorded in the manifest as ``"version"``):

* ``2`` (default): modality-controlled scenes and questions. Silent visible players
  (``p_silent``) and off-screen instruments (``p_offscreen``) are common, the question
  chooser balances each template's answers conditioned on what the other sense alone
  perceives (``balance_views``, :mod:`mcdlib.scenes.ceilings`), the picture changes over
  time (camera close-ups ``p_closeup``, light changes ``p_light_change``) and the audio
  features carry level and note density (``logmel2``).
* ``1``: the first generator, reproducible byte for byte (``--set version=1``): its
  settings are the defaults of :data:`VERSION_DEFAULTS` ``[1]``; the knobs that version 1
  does not have (:data:`V2_FIELDS`) must stay at those values.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcdlib.config import apply_overrides, choice, doc, from_dict, positive, probability, to_dict
from mcdlib.errors import ConfigError


@dataclass
class SceneProfile:
    name: str = doc("classroom", "profile name")
    version: int = doc(2, "generator version: 2 (default, modality-controlled) or 1 (the first generator, byte for byte)", min=1, max=2)
    videos: int = positive(1500, "number of videos (scenes)")
    questions_per_video: float = positive(5.0, "mean number of questions per video")
    seconds: int = positive(10, "video length in seconds (one segment per second)")
    split: tuple[float, float, float] = probability((0.7, 0.1, 0.2), "train/val/test fractions")
    split_by: str = choice("video", ("video", "question"), "split by video (default) or by question as the official MUSIC-AVQA split")
    min_players: int = doc(1, "fewest visible players", min=1, max=4)
    max_players: int = doc(4, "most visible players", min=1, max=4)
    instruments: tuple[str, ...] = doc((), "instrument subset (empty: all 22 MUSIC-AVQA instruments)")
    p_duplicate_instrument: float = probability(0.15, "chance that a scene shows the same instrument twice")
    p_offscreen: float = probability(0.5, "chance of an instrument heard but not seen (version 1: 0.15)")
    max_offscreen: int = doc(2, "most off-screen instruments; each one after the first again with p_offscreen (version 1: 1, fixed)", min=0, max=3)
    p_silent: float = probability(0.4, "chance that a visible player never sounds (version 1: 0.14, fixed)")
    balance_views: bool = doc(True, "balance each template's answers conditioned on what the other sense alone perceives (version 2)")
    p_closeup: float = probability(0.6, "chance of a camera close-up during the video (version 2)")
    p_light_change: float = probability(0.6, "chance that the stage lights change during the video (version 2)")
    p_voiceover: float = probability(0.2, "chance of a voiceover")
    p_outdoor: float = probability(0.5, "chance of an outdoor backdrop")
    sample_rate: int = positive(16000, "audio sample rate (Hz)")
    image_size: int = positive(224, "frame size (pixels, square)")
    grid: int = positive(3, "columns of the left-to-right spatial grid of visual features")
    renderer: str = choice("auto", ("auto", "synth", "soundfont"), "audio renderer (auto: soundfont when installed, else the built-in synthesizer)")
    visual_encoder: str = doc("efficientnet_lite0", "frozen visual encoder")
    audio_encoder: str = doc("logmel2", "audio features per second (version 1: logmel)")


PROFILES: dict[str, dict] = {
    "tiny": {"name": "tiny", "videos": 50},
    "classroom": {"name": "classroom", "videos": 1500},
    "full": {"name": "full", "videos": 9288},
}


#: the generator versions
VERSIONS: tuple[int, ...] = (1, 2)
#: settings that differ from the dataclass defaults (version 2) per version
VERSION_DEFAULTS: dict[int, dict] = {
    1: {"version": 1, "p_offscreen": 0.15, "max_offscreen": 1, "p_silent": 0.14, "balance_views": False, "p_closeup": 0.0,
        "p_light_change": 0.0, "audio_encoder": "logmel"},
    2: {},
}
#: settings version 1 does not have: left out of its manifest key (so version-1 keys are the
#: keys of builds made before versions existed) and fixed at VERSION_DEFAULTS[1]
V2_FIELDS: tuple[str, ...] = ("version", "max_offscreen", "p_silent", "balance_views", "p_closeup", "p_light_change")


def check_version(profile: SceneProfile) -> SceneProfile:
    """``profile`` if its settings exist in its version; ConfigError naming the setting otherwise."""
    if profile.version not in VERSIONS:
        raise ConfigError(f"version={profile.version}; choose one of {', '.join(map(str, VERSIONS))}")
    if profile.version == 1:
        wrong = [name for name in V2_FIELDS if getattr(profile, name) != VERSION_DEFAULTS[1][name]]
        if wrong:
            raise ConfigError(f"{', '.join(wrong)} cannot be changed in generator version 1 (it reproduces "
                              "the first generator byte for byte); drop the override(s) or use version=2")
    return profile


def _version_of(overrides: list[str] | dict | None, base: dict) -> int:
    probe = apply_overrides(from_dict(SceneProfile, base), overrides)
    return probe.version


def get_profile(name: str = "classroom", overrides: list[str] | dict | None = None) -> SceneProfile:
    """The named profile with dotted ``overrides``; ``version=1`` among them selects version 1's
    defaults (:data:`VERSION_DEFAULTS`) before the other overrides apply."""
    if name not in PROFILES:
        raise ConfigError(f"unknown music-scenes profile {name!r}; choose one of {', '.join(PROFILES)}")
    try:
        version = _version_of(overrides, PROFILES[name])
        base = {**VERSION_DEFAULTS[version], **PROFILES[name]}
        return check_version(apply_overrides(from_dict(SceneProfile, base), overrides))
    except ConfigError as exc:
        raise ConfigError(f"music-scenes profile {name!r}: {exc}") from None


def profile_from_dict(data: dict) -> SceneProfile:
    """A profile from a manifest's ``"profile"`` (builds made before versions existed have no
    ``"version"``: they are version 1)."""
    version = int(data.get("version", 1))
    if version not in VERSIONS:
        raise ConfigError(f"manifest profile: version={version}; this mcdlib knows versions "
                          f"{', '.join(map(str, VERSIONS))} (upgrade mcdlib)")
    return check_version(from_dict(SceneProfile, {**VERSION_DEFAULTS[version], **data}))


def key_dict(profile: SceneProfile) -> dict:
    """The profile as it enters the manifest key: version 1 without :data:`V2_FIELDS`."""
    out = to_dict(profile)
    if profile.version == 1:
        for name in V2_FIELDS:
            out.pop(name)
    return out
