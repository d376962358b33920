"""mcdlib.viz.render and mcdlib.viz.explorer headless: figures outside pyplot, PNG checks, the
explorer's render-then-swap update (the browser side is tests/test_browser.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from mcdlib.viz.explorer import Explorer, error_parts, same_layout
from mcdlib.viz.render import (Part, figure_png, html_part, ink_share, new_figure, pictures_differ, png_part,
                               wav_bytes, wav_part)


def bars(value: int, pyplot: bool = False):
    fig = new_figure((3, 2), pyplot)
    ax = fig.add_subplot()
    ax.bar(range(3), [value + 1, 2, 3 - value])
    ax.set_title(f"choice {value}")
    return fig


def white_png() -> bytes:
    return figure_png(new_figure((3, 2), pyplot=False))


def test_figures_outside_pyplot_render_to_png():
    plt.close("all")
    fig = bars(0)
    assert plt.get_fignums() == []  # pyplot (and matplotlib-inline's flush_figures) never sees it
    png = figure_png(fig)
    assert png.startswith(b"\x89PNG") and ink_share(png) > 0.02
    assert ink_share(white_png()) == 0.0
    assert pictures_differ(png, figure_png(bars(1))) and not pictures_differ(png, figure_png(bars(0)))
    assert pictures_differ(png, white_png())
    shown = bars(0, pyplot=True)
    assert plt.get_fignums() == [shown.number]
    plt.close(shown)


def test_parts_check_their_kind():
    assert html_part("<b>x</b>").kind == "html" and png_part(bars(0)).kind == "png"
    wav = wav_part(np.zeros(160, dtype=np.float32), 16000)
    assert wav.value[:4] == b"RIFF" and wav_bytes(np.ones(10), 8000)[8:12] == b"WAVE"
    with pytest.raises(ValueError, match="unknown part kind"):
        Part("svg", "<svg/>")
    with pytest.raises(TypeError, match="holds bytes"):
        Part("png", "not bytes")
    assert type(html_part("x").ipython()).__name__ == "HTML"
    assert type(Part("png", figure_png(bars(0))).ipython()).__name__ == "Image"


def render(value: int) -> list[Part]:
    if value == 3:
        raise ValueError("no data for choice 3")
    return [html_part(f"caption {value}"), png_part(bars(value))]


def test_explorer_renders_then_swaps_in_place():
    calls = []
    explorer = Explorer([("zero", 0), ("one", 1), ("two", 2), ("three", 3)],
                        lambda v: calls.append(v) or render(v), value=1, description="pick")
    assert calls == [1] and explorer.shown == 1
    caption, picture = explorer.view.children
    first = picture.value
    assert caption.value == "caption 1" and ink_share(first) > 0.02
    explorer.dropdown.value = 2  # what a dropdown change from the browser does
    assert calls == [1, 2] and explorer.view.children == (caption, picture)  # the same widgets...
    assert caption.value == "caption 2" and pictures_differ(picture.value, first)  # ...with new values
    assert plt.get_fignums() == []


def test_explorer_shows_errors_and_recovers():
    explorer = Explorer([("zero", 0), ("three", 3)], render)
    explorer.dropdown.value = 3
    (message,) = explorer.parts_on_screen()
    assert message.kind == "html" and "could not show three" in message.value and "no data for choice 3" in message.value
    explorer.dropdown.value = 0  # another layout: new widgets swapped in at once
    assert [p.kind for p in explorer.parts_on_screen()] == ["html", "png"]


def test_a_stale_choice_is_not_shown():
    explorer = Explorer([0, 1, 2], render)
    explorer.dropdown.unobserve_all()
    explorer.dropdown.value = 2
    explorer.show(1)  # a slow render of 1 finishing after the user moved on to 2
    assert explorer.shown == 0 and explorer.parts_on_screen()[0].value == "caption 0"


def test_layout_check():
    parts = render(0)
    explorer = Explorer([0, 1], render)
    assert same_layout(explorer.view.children, parts)
    assert not same_layout(explorer.view.children, parts[:1])
    assert not same_layout(explorer.view.children, error_parts("x", ValueError("y")) * 2)
