"""Pictures for interactive views: figures built outside pyplot, rendered to PNG bytes.

Why widgets never use pyplot figures: in JupyterLab (4.x, ipykernel 7) a widget's callback runs
on a kernel subshell thread, and after every message the kernel runs its ``post_execute`` hooks,
among them matplotlib-inline's ``flush_figures``, which draws and closes every pyplot figure
still open. A figure made with ``plt.figure`` inside a callback can therefore be drawn by two
threads at once (the explorer then shows an all-white picture) or sent twice. A
:class:`matplotlib.figure.Figure` made directly is unknown to pyplot, so no hook ever sees it;
rendering it to PNG ourselves and swapping the bytes into an ``ipywidgets.Image`` replaces the
picture in one step, without an empty gap (see :mod:`mcdlib.viz.explorer`).

* :func:`new_figure` - a figure, through pyplot (static notebook cells, ``plt.show()``) or not;
* :func:`figure_png`, :func:`wav_bytes` - the PNG bytes of a figure, the WAV bytes of a sound;
* :class:`Part` - one rendered piece of a view (HTML, PNG or WAV), shown by a widget or
  :func:`show_parts`;
* :func:`ink_share`, :func:`pictures_differ` - checks on PNG pictures (not blank, changed),
  used by the tests, the browser test included.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

#: a pixel counts as ink when some channel is darker than this (0-255)
WHITE_LEVEL = 245


def new_figure(figsize: tuple[float, float], pyplot: bool = True):
    """A figure of ``figsize`` inches: a pyplot figure (shown by ``plt.show()`` in a notebook
    cell) when ``pyplot``, else a plain :class:`~matplotlib.figure.Figure` that pyplot and its
    hooks never see (for widgets; render it with :func:`figure_png`)."""
    if pyplot:
        import matplotlib.pyplot as plt

        return plt.figure(figsize=figsize)
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def figure_png(fig, dpi: int = 90) -> bytes:
    """The PNG bytes of ``fig`` on a white background (Agg, whatever the session's backend)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    return buffer.getvalue()


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def ink_share(png: bytes) -> float:
    """The share of the picture's pixels that are not (near-)white: 0 for a blank picture."""
    pixels = _pixels(png)
    return float((pixels < WHITE_LEVEL).any(axis=-1).mean()) if pixels.size else 0.0


def pictures_differ(a: bytes, b: bytes, tolerance: float = 0.002) -> bool:
    """Whether two PNG pictures show different things: another size, or more than
    ``tolerance`` of their pixels changed."""
    pa, pb = _pixels(a), _pixels(b)
    if pa.shape != pb.shape:
        return True
    return float((np.abs(pa - pb) > 16).any(axis=-1).mean()) > tolerance


def wav_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    """A mono or [samples, channels] float signal as 16-bit WAV bytes (for an audio player)."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(np.asarray(wave, dtype=np.float32), -1.0, 1.0), int(sample_rate),
                    format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# --------------------------------------------------------------------------- parts of a view

#: the kinds of :class:`Part`: HTML text, a PNG picture, a WAV sound
PART_KINDS = ("html", "png", "wav")


@dataclass(frozen=True)
class Part:
    """One rendered piece of an interactive view: ``kind`` is ``html`` (str), ``png`` or ``wav``
    (bytes). Views are lists of parts, computed by pure functions; a widget
    (:class:`mcdlib.viz.explorer.Explorer`) or a static cell (:func:`show_parts`) shows them."""

    kind: str
    value: str | bytes

    def __post_init__(self):
        if self.kind not in PART_KINDS:
            raise ValueError(f"unknown part kind {self.kind!r}; choose from {PART_KINDS}")
        if (self.kind == "html") != isinstance(self.value, str):
            raise TypeError(f"a {self.kind!r} part holds {'str' if self.kind == 'html' else 'bytes'}, "
                            f"not {type(self.value).__name__}")

    def ipython(self):
        """The IPython display object of this part (for static output)."""
        from IPython.display import HTML, Audio, Image

        if self.kind == "html":
            return HTML(self.value)
        if self.kind == "png":
            return Image(data=self.value, format="png")
        return Audio(data=self.value)


def html_part(text: str) -> Part:
    return Part("html", text)


def png_part(fig, dpi: int = 90) -> Part:
    """A figure (rendered now, then forgotten) as a PNG part."""
    return Part("png", figure_png(fig, dpi))


def wav_part(wave: np.ndarray, sample_rate: int) -> Part:
    return Part("wav", wav_bytes(wave, sample_rate))


def show_parts(parts: list[Part]) -> None:
    """Display the parts of a view as ordinary cell output (no widget)."""
    from IPython.display import display

    for part in parts:
        display(part.ipython())
