"""The scene graph of one music-scenes video: the ground truth every answer is computed from.

A scene is a performance of ``seconds`` seconds on a stage: visible players at horizontal
positions (``x`` in [0, 1], left to right), optionally a player heard but not seen
(``visible=False``) and a voiceover, over an indoor or outdoor backdrop. Each player has an
instrument (one of :data:`mcdlib.data.templates.INSTRUMENTS`), sounding intervals, a loudness
and a rhythm (note density). Rendering (audio, frames) and question answering both read only
this structure, so it is saved next to the data as ``scenes/<video_id>.json``.

Generator version 2 marks its scenes with ``version=2`` (the Audio-Visual answer rules of
version 2 read it, see :mod:`mcdlib.scenes.questions`) and adds a **visual time line**, one
entry per second: ``camera`` ``[(zoom, centre_x), ...]`` (zoom 1 = the whole stage; a close-up shows
the stage from ``centre_x - 0.5/zoom`` to ``centre_x + 0.5/zoom``) and ``lighting``
(``"normal"``, ``"dim"``, ``"warm"`` or ``"cool"``). Empty lists (version 1) mean a wide shot
in normal light throughout. These fields (:data:`Scene.V2_FIELDS`) are left out of the JSON
at their version-1 values, so version-1 scene files are unchanged. Neither depends on who sounds, and no answer depends on them: positions and
visibility are the stage's (``x``, ``visible``), whatever the camera frames.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Player:
    instrument: str
    x: float  # horizontal centre on the stage, 0 = left edge, 1 = right edge
    visible: bool = True
    intervals: list[tuple[float, float]] = field(default_factory=list)  # sounding [start, end) s
    loudness_db: float = 0.0  # stem gain relative to full scale (ground truth of "louder")
    rhythm: float = 2.0  # notes per second while sounding (ground truth of "more rhythmic")

    @property
    def sounding_seconds(self) -> float:
        return float(sum(end - start for start, end in self.intervals))

    @property
    def onset(self) -> float | None:
        return min((s for s, _ in self.intervals), default=None)

    @property
    def offset(self) -> float | None:
        return max((e for _, e in self.intervals), default=None)

    def sounding_at(self, t: float) -> bool:
        return any(start <= t < end for start, end in self.intervals)


@dataclass
class Scene:
    video_id: str
    seconds: int
    players: list[Player]
    backdrop: str = "indoor"  # "indoor" | "outdoor"
    voiceover: list[tuple[float, float]] = field(default_factory=list)  # empty: no voiceover
    seed: int = 0
    camera: list[tuple[float, float]] = field(default_factory=list)  # per second (zoom, centre_x); empty: wide
    lighting: list[str] = field(default_factory=list)  # per second; empty: "normal" throughout
    version: int = 1  # the generator version that made the scene (selects its answer rules)

    #: fields of generator version 2 (left out of the JSON at their version-1 values)
    V2_FIELDS = ("camera", "lighting", "version")

    def camera_at(self, second: int) -> tuple[float, float]:
        """``(zoom, centre_x)`` of the camera during ``second`` (wide shot without a time line)."""
        return tuple(self.camera[second]) if self.camera else (1.0, 0.5)  # type: ignore[return-value]

    def lighting_at(self, second: int) -> str:
        """The lighting during ``second`` (``"normal"`` without a time line)."""
        return self.lighting[second] if self.lighting else "normal"

    def in_frame(self, player: Player, second: int) -> bool:
        """Whether a player's stage position is inside the camera's view during ``second``."""
        zoom, centre = self.camera_at(second)
        return player.visible and abs(player.x - centre) <= 0.5 / zoom

    @property
    def visible_players(self) -> list[Player]:
        """Visible players ordered left to right."""
        return sorted((p for p in self.players if p.visible), key=lambda p: p.x)

    @property
    def sounding_players(self) -> list[Player]:
        return [p for p in self.players if p.intervals]

    def to_dict(self) -> dict:
        out = asdict(self)
        for name in self.V2_FIELDS:
            if out[name] in ([], 1):
                del out[name]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "Scene":
        players = [Player(**{**p, "intervals": [tuple(i) for i in p.get("intervals", [])]})
                   for p in data["players"]]
        return cls(**{**data, "players": players,
                      "voiceover": [tuple(i) for i in data.get("voiceover", [])],
                      "camera": [tuple(c) for c in data.get("camera", [])],
                      "lighting": list(data.get("lighting", []))})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))

    @classmethod
    def load(cls, path: str | Path) -> "Scene":
        return cls.from_dict(json.loads(Path(path).read_text()))
