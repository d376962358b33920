"""The book (mcdlib.workbook.book): executed notebooks to a static HTML site, figures included."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat import v4

from mcdlib.cli import main
from mcdlib.errors import McdError
from mcdlib.viz.render import figure_png, new_figure
from mcdlib.workbook import runner
from mcdlib.workbook.book import build_book, notebook_title

FIGURE = re.compile(r'<img[^>]*src="data:image/png;base64,')


def _picture() -> bytes:
    fig = new_figure((2, 1.5), pyplot=False)
    fig.add_subplot().plot([0, 1, 0])
    return figure_png(fig)


def _executed(folder: Path) -> Path:
    """Two notebooks as papermill leaves them: one with a figure and a link to the other, one
    that failed."""
    good = v4.new_notebook()
    good.cells = [v4.new_markdown_cell("# 01 · A figure\n\nNext: [the other](02_broken.ipynb#top)."),
                  v4.new_code_cell("plot()", outputs=[v4.new_output(
                      "display_data", data={"image/png": base64.b64encode(_picture()).decode()})])]
    broken = v4.new_notebook()
    broken.cells = [v4.new_markdown_cell("intro without a heading"),
                    v4.new_code_cell("1 / 0", outputs=[v4.new_output(
                        "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])])]
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(good, str(folder / "01_figure.ipynb"))
    nbformat.write(broken, str(folder / "02_broken.ipynb"))
    return folder


def test_book_from_executed_notebooks(tmp_path):
    book = build_book("classroom", tmp_path / "book", executed=_executed(tmp_path / "executed"), progress=False)
    assert [p.notebook for p in book.pages] == ["01_figure.ipynb", "02_broken.ipynb"] and not book.ok
    good, broken = book.pages
    assert good.ok and good.title == "01 · A figure"
    assert not broken.ok and broken.error == "ZeroDivisionError: division by zero" and broken.title == "02_broken"
    page = (tmp_path / "book" / "01_figure.html").read_text()
    assert len(FIGURE.findall(page)) == 1  # the figure is inside the page
    assert 'href="02_broken.html#top"' in page and 'href="index.html"' in page
    assert "failed: ZeroDivisionError" in (tmp_path / "book" / "02_broken.html").read_text()
    index = book.index.read_text()
    assert 'href="01_figure.html">01 · A figure<' in index and "failed: ZeroDivisionError" in index
    assert (tmp_path / "book" / "notebooks" / "01_figure.ipynb").is_file() and "classroom" in index


def test_book_needs_executed_notebooks(tmp_path):
    with pytest.raises(McdError, match="no executed NN_topic.ipynb"):
        build_book("classroom", tmp_path / "book", executed=tmp_path, progress=False)
    assert main(["notebooks", "book", "--executed", str(tmp_path), "--out", str(tmp_path / "b"),
                 "--no-progress"]) == 2


def test_notebook_title_falls_back():
    nb = v4.new_notebook()
    nb.cells = [v4.new_code_cell("# a comment, not a heading")]
    assert notebook_title(nb, "03_x") == "03_x"


@pytest.mark.slow
def test_book_executes_notebooks_and_keeps_figures(tmp_path, monkeypatch, capsys):
    """The whole path on a one-cell workbook: papermill runs it (a real kernel), the figure
    survives MPLBACKEND=Agg (as CI sets it), the CLI prints where the book is."""
    folder = tmp_path / "notebooks"
    monkeypatch.setattr(runner, "notebooks_dir", lambda: folder)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = v4.new_notebook()
    nb.cells = [v4.new_markdown_cell("# 01 · Plot"), v4.new_code_cell("points = 3", metadata={"tags": ["parameters"]}),
                v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot(range(points))\nplt.show()")]
    folder.mkdir()
    nbformat.write(nb, str(folder / "01_plot.ipynb"))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump({"all": {"points": 5}}))
    status = main(["notebooks", "book", "--params", str(tmp_path / "tiny.yaml"), "--out", str(tmp_path / "book"),
                   "--no-progress"])
    assert status == 0, capsys.readouterr()
    assert "book: " in capsys.readouterr().out
    page = (tmp_path / "book" / "01_plot.html").read_text()
    assert len(FIGURE.findall(page)) == 1 and "injected-parameters" in page
    executed = nbformat.read(str(tmp_path / "book" / "notebooks" / "01_plot.ipynb"), 4)
    assert any("points = 5" in c.source for c in executed.cells) and executed.cells[-1].outputs
