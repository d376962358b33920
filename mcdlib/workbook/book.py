"""The workbook as a static HTML site (the "book"): every notebook executed, figures included,
readable in a browser without running anything (``make book``, ``mcd notebooks book``).

The stripped notebooks in ``notebooks/`` stay the source. :func:`build_book`

1. executes them with papermill (:func:`mcdlib.workbook.runner.run_notebooks`) at a parameter
   set (default ``classroom``) into ``<out>/notebooks/`` (``build/`` is git-ignored), with the
   kernels on matplotlib's inline backend so that every figure is kept even where
   ``MPLBACKEND=Agg`` is set (CI); or, with ``executed=DIR``, takes notebooks executed earlier
   (e.g. ``runs/notebooks/classroom/``);
2. converts each to ``<out>/<name>.html`` with nbconvert (pictures embedded, so a page is one
   file), with links to the previous/next page and the index, and links between notebooks
   pointing at their pages;
3. writes ``<out>/index.html``: each notebook's title, status (a failed notebook is still
   converted, up to its error, and marked), run time, parameter set, commit and date.

The interactive explorers are skipped in the book (the parameter sets run with
``interactive: false``); everything else is as a student sees it after Run All.
"""

from __future__ import annotations

import html
import os
import re
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mcdlib.errors import McdError
from mcdlib.workbook.session import repo_root

#: the backend the kernels of a book run use, whatever MPLBACKEND says outside
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
#: a link to another notebook of the workbook, e.g. href="05_train_mcd.ipynb#section"
NOTEBOOK_LINK = re.compile(r'href="(?:\./)?(?P<stem>\d\d_[\w-]+)\.ipynb(?P<anchor>#[^"]*)?"')

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left; vertical-align: top; }
.failed { color: #b00020; font-weight: bold; }
.meta { color: #666; font-size: .9rem; }
"""
NAV_STYLE = ("<style>.mcd-book-nav{display:flex;gap:1.5rem;padding:.5rem 1rem;margin:0 0 1rem 0;"
             "border-bottom:1px solid #ddd;font-family:system-ui,sans-serif;font-size:.95rem}"
             ".mcd-book-nav .failed{color:#b00020;font-weight:bold}</style>")


@dataclass
class BookPage:
    """One notebook of the book: its executed copy, its HTML page and how its run went."""

    notebook: str  # file name, e.g. 05_train_mcd.ipynb
    executed: Path
    title: str = ""
    ok: bool = True
    seconds: float | None = None
    error: str = ""

    @property
    def html_name(self) -> str:
        return Path(self.notebook).stem + ".html"


@dataclass
class Book:
    out: Path
    pages: list[BookPage]
    params: str

    @property
    def index(self) -> Path:
        return self.out / "index.html"

    @property
    def ok(self) -> bool:
        return bool(self.pages) and all(p.ok for p in self.pages)


@contextmanager
def inline_figures():
    """Kernels started inside keep their figures: MPLBACKEND set to the inline backend."""
    before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = before


def notebook_title(nb, fallback: str) -> str:
    """The first Markdown heading of a notebook (without its #s), else ``fallback``."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.lstrip().startswith("#"):
                    return line.lstrip("# ").strip()
    return fallback


def first_error(nb) -> str:
    """``ename: evalue`` of the first error output of an executed notebook, or ''."""
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return ""


def page_html(nb, nav: str, page_names: set[str]) -> str:
    """One notebook as a standalone HTML page (nbconvert's lab template, pictures embedded),
    with ``nav`` at its top and bottom and links to other notebooks of the book rewritten to
    their pages."""
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)

    def relink(match: re.Match) -> str:
        name = match["stem"] + ".html"
        return f'href="{name}{match["anchor"] or ""}"' if name in page_names else match[0]

    body = NOTEBOOK_LINK.sub(relink, body)
    head = re.search(r"<body[^>]*>", body)
    if head is None:
        return NAV_STYLE + nav + body + nav
    end = body.rfind("</body>")
    end = end if end > head.end() else len(body)
    return body[:head.end()] + NAV_STYLE + nav + body[head.end():end] + nav + body[end:]


def nav_bar(pages: list[BookPage], i: int) -> str:
    links = ['<a href="index.html">contents</a>']
    if i > 0:
        links.append(f'<a href="{pages[i - 1].html_name}">← {html.escape(pages[i - 1].title)}</a>')
    if i + 1 < len(pages):
        links.append(f'<a href="{pages[i + 1].html_name}">{html.escape(pages[i + 1].title)} →</a>')
    if not pages[i].ok:
        links.append(f'<span class="failed">this notebook failed: {html.escape(pages[i].error)}</span>')
    return f'<nav class="mcd-book-nav">{" · ".join(links)}</nav>'


def commit_label(root: Path) -> str:
    """The short commit of ``root`` (with ``+changes`` when the tree differs), or ''."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return f"{commit}{' +changes' if dirty and commit else ''}"


def index_html(book: Book, commit: str = "") -> str:
    rows = []
    for page in book.pages:
        status = "ok" if page.ok else f'<span class="failed">failed: {html.escape(page.error)}</span>'
        took = "" if page.seconds is None else f"{page.seconds:.0f} s"
        rows.append(f'<tr><td><a href="{page.html_name}">{html.escape(page.title)}</a></td>'
                    f'<td>{status}</td><td>{took}</td>'
                    f'<td><a href="notebooks/{html.escape(page.notebook)}">{html.escape(page.notebook)}</a></td></tr>')
    when = time.strftime("%Y-%m-%d %H:%M")
    made = f"parameter set <code>{html.escape(book.params)}</code> · built {when}" + \
        (f" from commit <code>{html.escape(commit)}</code>" if commit else "")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mcdlib workbook</title><style>{STYLE}</style></head>
<body>
<h1>The mcdlib workbook, executed</h1>
<p>Audio-visual question answering with MCD (Mutual Correlation Distillation), notebook by notebook,
as they look after <em>Run All</em>. The notebooks themselves are in <code>notebooks/</code>; open them
in JupyterLab to run and change them (the interactive explorers only work there).</p>
<p class="meta">{made}</p>
<table><thead><tr><th>notebook</th><th>run</th><th>time</th><th>executed copy</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""


def write_book(pages: list[BookPage], out: Path, params: str, progress: bool = True) -> Book:
    """Convert executed notebooks (``page.executed``) to pages and write the index."""
    import nbformat

    from mcdlib.train.loop import progress_bar

    out.mkdir(parents=True, exist_ok=True)
    nodes = []
    for page in pages:
        if not page.executed.is_file():
            raise McdError(f"{page.executed}: no executed notebook to convert; run it first "
                           "(`mcd notebooks run`) or build the book without --executed")
        nb = nbformat.read(str(page.executed), as_version=4)
        page.title = notebook_title(nb, Path(page.notebook).stem)
        page.error = page.error or first_error(nb)
        page.ok = page.ok and not page.error
        nodes.append(nb)
    names = {p.html_name for p in pages}
    for i in progress_bar(range(len(pages)), enabled=progress, desc="book pages", unit="page"):
        (out / pages[i].html_name).write_text(page_html(nodes[i], nav_bar(pages, i), names), encoding="utf-8")
    book = Book(out, pages, params)
    book.index.write_text(index_html(book, commit_label(repo_root())), encoding="utf-8")
    return book


def build_book(params: str | Path = "classroom", out: str | Path | None = None, names: list[str] | None = None,
               executed: str | Path | None = None, progress: bool = True) -> Book:
    """Execute the notebooks of ``notebooks/`` (or take executed ones from ``executed``) and
    write the book into ``out`` (default ``build/book``)."""
    import shutil

    from mcdlib.workbook.runner import list_notebooks, run_notebooks

    out = Path(out) if out is not None else repo_root() / "build" / "book"
    copies = out / "notebooks"
    label = Path(str(params)).stem
    if executed is None:
        with inline_figures():
            runs = run_notebooks(names, params=params, out_dir=copies, progress=progress)
        pages = [BookPage(r.notebook, r.output, ok=r.ok, seconds=r.seconds, error=r.error) for r in runs]
    else:
        source = Path(executed)
        found = list_notebooks(source)
        if names:
            found = [p for p in found if p.name in names or p.stem in names]
        if not found:
            raise McdError(f"{source}: no executed NN_topic.ipynb notebooks to make a book of; run "
                           f"`mcd notebooks run --params {label}` first, or leave out --executed")
        copies.mkdir(parents=True, exist_ok=True)
        pages = []
        for nb in found:
            target = copies / nb.name
            if nb.resolve() != target.resolve():
                shutil.copyfile(nb, target)
            pages.append(BookPage(nb.name, target))
    return write_book(pages, out, label, progress)
