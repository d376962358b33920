"""Music-scenes profiles: typed settings for building the default dataset.

A profile fixes the dataset size and the scene, rendering and encoding settings. Named
profiles mirror the run presets: ``tiny`` (tests, seconds), ``classroom`` (a laptop CPU in
minutes), ``full`` (the size of MUSIC-AVQA). Same config machinery as :mod:`mcdlib.config`:
``get_profile("tiny", ["videos=80"])`` applies dotted overrides; every value is range-checked on
load and on override (``videos=-5``: "videos: -5 is out of range; allowed: >= 1").
"""

from __future__ import annotations

from dataclasses import dataclass

from mcdlib.config import apply_overrides, choice, doc, from_dict, positive, probability
from mcdlib.errors import ConfigError


@dataclass
class SceneProfile:
    name: str = doc("classroom", "profile name")
    videos: int = positive(1500, "number of videos (scenes)")
    questions_per_video: float = positive(5.0, "mean number of questions per video")
    seconds: int = positive(10, "video length in seconds (one segment per second)")
    split: tuple[float, float, float] = probability((0.7, 0.1, 0.2), "train/val/test fractions")
    split_by: str = choice("video", ("video", "question"), "split by video (default) or by question as the official MUSIC-AVQA split")
    min_players: int = doc(1, "fewest visible players", min=1, max=4)
    max_players: int = doc(4, "most visible players", min=1, max=4)
    instruments: tuple[str, ...] = doc((), "instrument subset (empty: all 22 MUSIC-AVQA instruments)")
    p_duplicate_instrument: float = probability(0.15, "chance that a scene shows the same instrument twice")
    p_offscreen: float = probability(0.15, "chance of an instrument heard but not seen")
    p_voiceover: float = probability(0.2, "chance of a voiceover")
    p_outdoor: float = probability(0.5, "chance of an outdoor backdrop")
    sample_rate: int = positive(16000, "audio sample rate (Hz)")
    image_size: int = positive(224, "frame size (pixels, square)")
    grid: int = positive(3, "columns of the left-to-right spatial grid of visual features")
    renderer: str = choice("auto", ("auto", "synth", "soundfont"), "audio renderer (auto: soundfont when installed, else the built-in synthesizer)")
    visual_encoder: str = doc("efficientnet_lite0", "frozen visual encoder")
    audio_encoder: str = doc("logmel", "audio features per second")


PROFILES: dict[str, dict] = {
    "tiny": {"name": "tiny", "videos": 50},
    "classroom": {"name": "classroom", "videos": 1500},
    "full": {"name": "full", "videos": 9288},
}


def get_profile(name: str = "classroom", overrides: list[str] | None = None) -> SceneProfile:
    if name not in PROFILES:
        raise ConfigError(f"unknown music-scenes profile {name!r}; choose one of {', '.join(PROFILES)}")
    try:
        return apply_overrides(from_dict(SceneProfile, PROFILES[name]), overrides)
    except ConfigError as exc:
        raise ConfigError(f"music-scenes profile {name!r}: {exc}") from None
