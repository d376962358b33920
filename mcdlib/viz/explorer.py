"""An explorer widget: a dropdown, and a view that follows it without blanks or flicker.

Every interactive view of the workbook (notebook 02's scene explorer, notebook 07's question
explorer) is this widget over a pure ``render(value) -> list[Part]`` function
(:mod:`mcdlib.viz.render`), which builds its figures outside pyplot and renders them to PNG.
On a change the explorer renders the whole new view first, then swaps the values into its
long-lived widgets (``ipywidgets.Image``/``HTML``/``Audio``): the old picture stays on screen
until the new one replaces it, nothing else draws or closes the figures, and no output
capturing is involved (widget callbacks run on a kernel subshell thread in JupyterLab 4, where
pyplot figures race with matplotlib-inline's ``flush_figures``; see :mod:`mcdlib.viz.render`).

A rendering error shows as the view's caption (naming the choice and the error) instead of
vanishing into the browser's log.

>>> explorer = Explorer([("first", 0), ("second", 1)], render)     # doctest: +SKIP
>>> display(explorer)                                              # doctest: +SKIP
"""

from __future__ import annotations

import html
import threading
from typing import Any, Callable, Sequence

from mcdlib.viz.render import Part, html_part

Render = Callable[[Any], list[Part]]
#: the part kind each widget class of :func:`part_widget` shows
WIDGET_KINDS = {"HTML": "html", "Image": "png", "Audio": "wav"}


def error_parts(label: str, error: BaseException) -> list[Part]:
    """The view shown when rendering ``label`` failed: one HTML line naming it and the error."""
    return [html_part(f"<p style='color:#b00020'><b>could not show {html.escape(str(label))}</b>: "
                      f"{html.escape(type(error).__name__)}: {html.escape(str(error))}</p>")]


def part_widget(part: Part):
    """A new widget showing ``part``."""
    import ipywidgets as widgets

    if part.kind == "html":
        return widgets.HTML(value=part.value)
    if part.kind == "png":
        return widgets.Image(value=part.value, format="png", layout=widgets.Layout(max_width="100%"))
    return widgets.Audio(value=part.value, format="wav", autoplay=False, loop=False, controls=True)


def same_layout(widgets_: Sequence[Any], parts: Sequence[Part]) -> bool:
    """Whether ``widgets_`` (from :func:`part_widget`) can take ``parts`` in place, one by one."""
    return len(widgets_) == len(parts) and all(WIDGET_KINDS.get(type(w).__name__) == p.kind
                                               for w, p in zip(widgets_, parts))


class Explorer:
    """A dropdown over ``options`` (labels, or ``(label, value)`` pairs) and the view
    ``render(value)`` of the chosen value. ``display(explorer)`` shows it; ``explorer.show(v)``
    renders ``v`` now (the dropdown calls it on every change)."""

    def __init__(self, options: Sequence[Any], render: Render, value: Any = None, description: str = "",
                 width: str = "95%"):
        import ipywidgets as widgets

        self.render = render
        pairs = [tuple(o) if isinstance(o, (tuple, list)) else (str(o), o) for o in options]
        self.labels = {v: str(label) for label, v in pairs}
        self.dropdown = widgets.Dropdown(options=pairs, description=description,
                                         layout=widgets.Layout(width=width))
        if value is not None:
            self.dropdown.value = value
        self.view = widgets.VBox()
        self.widget = widgets.VBox([self.dropdown, self.view])
        self._lock = threading.Lock()
        self.shown: Any = None  # the value whose view is on screen
        self.show(self.dropdown.value)
        self.dropdown.observe(self._changed, names="value")

    def _changed(self, change) -> None:
        self.show(change["new"])

    def show(self, value: Any) -> None:
        """Render ``value``'s view, then swap it in (unless the dropdown moved on meanwhile)."""
        with self._lock:
            try:
                parts = self.render(value)
            except Exception as error:  # shown to the student, not lost in the browser's log
                parts = error_parts(self.label_of(value), error)
            if value != self.dropdown.value:
                return  # a later choice is on its way; its own call shows it
            self.swap(parts)
            self.shown = value

    def swap(self, parts: Sequence[Part]) -> None:
        """Put ``parts`` on screen: values set in place when the layout is the same (each widget
        keeps showing its old content until its new value arrives), else new widgets swapped in
        at once."""
        children = self.view.children
        if same_layout(children, parts):
            for widget, part in zip(children, parts):
                if widget.value != part.value:
                    widget.value = part.value
        else:
            self.view.children = tuple(part_widget(part) for part in parts)

    def label_of(self, value: Any) -> str:
        return self.labels.get(value, str(value))

    def parts_on_screen(self) -> list[Part]:
        """What the view shows now, as parts (for tests)."""
        return [Part(WIDGET_KINDS[type(w).__name__], w.value) for w in self.view.children]

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)
