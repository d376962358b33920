"""The notebooks' interactive views in a real browser: JupyterLab and headless Chromium.

Optional (pytest marker ``browser``; ``make test`` leaves it out). It starts JupyterLab on
127.0.0.1 (a free port, a token, a temporary root folder holding copies of notebooks 02 and 07
at the smoke parameters with ``interactive = True``), opens each notebook in headless Chromium
driven by Playwright, runs all cells, then changes the explorer's dropdown several times (the
first change included). After every change it checks, on screenshots of the pictures the
explorer shows, that the picture is not blank (share of non-white pixels), that it differs
from the previous one, that the caption names the chosen item, and that the explorer never
showed an empty gap (no picture) while it updated.

Run it::

    apt-get install -y --no-install-recommends chromium   # as root, Debian/Ubuntu (or MCD_CHROMIUM=/path)
    make test-browser                                        # installs Playwright (.[browser]) and runs it

Playwright drives the system browser (``executable_path``); never ``playwright install``.
It is skipped with the reason when no Chromium or no Playwright is found. Screenshots of a
failing run are kept in ``MCD_BROWSER_ARTIFACTS`` when that variable names a folder.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from mcdlib.viz.render import ink_share, pictures_differ
from mcdlib.workbook.runner import load_param_set, parameterize, parameters_for

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
#: a picture counts as blank below this share of non-white pixels (a white PNG has 0)
MIN_INK = 0.01
#: seconds allowed for Run All of one notebook and for one dropdown change (a loaded 2-core machine)
RUN_ALL_S = 600
CHANGE_S = 90
CHANGES = 4
#: JupyterLab settings of the temporary server: every cell in the DOM, no requests to the internet
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}


def chromium_path() -> str | None:
    chosen = os.environ.get("MCD_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).is_file() else None
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium found (install Debian's `chromium` as root: apt-get install -y "
                    "--no-install-recommends chromium, or set MCD_CHROMIUM to a Chrome/Chromium binary)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("Playwright for Python is not installed (pip install -e '.[browser]', or `make test-browser`)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server of this test session on 127.0.0.1."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.token = os.urandom(16).hex()
        home = root / "jupyter"
        for name, values in LAB_SETTINGS.items():
            path = home / "lab-settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                   JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
                   JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
                   JUPYTER_RUNTIME_DIR=str(home / "runtime"), PYTHONHASHSEED="0")
        env.pop("MPLBACKEND", None)  # the kernel uses the inline backend, as for a student
        self.log = open(root / "jupyterlab.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             "--port-retries=0", f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}",
             "--ServerApp.terminals_enabled=False", "--LabApp.news_url=",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
            + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready(120)

    def url(self, path: str, query: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}{query}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(self.url(f"api/{path}"), method=method)
        with urllib.request.urlopen(request, timeout=30) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def stop_kernels(self) -> None:
        """End every session (and its kernel) this server runs."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")

    def _wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: {(self.root / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5):
                    return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {seconds} s")

    def close(self) -> None:
        """Shut the server down (it stops its kernels); kill only its own process group if needed."""
        try:
            request = urllib.request.Request(self.url("api/shutdown"), method="POST")
            urllib.request.urlopen(request, timeout=10).close()
            self.process.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(30)
        self.log.close()


@pytest.fixture(scope="module")
def lab(chromium, tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    smoke = load_param_set(REPO / "notebooks" / "params" / "smoke.yaml")
    extra = {"data_root": str(root / "data"), "runs_root": str(root / "runs"), "interactive": True}
    for name in ("02_music_scenes.ipynb", "07_audio_visual_clues.ipynb"):
        notebook = REPO / "notebooks" / name
        parameterize(notebook, parameters_for(notebook, smoke, extra), root / "notebooks" / name)
    server = Lab(root)
    yield server
    server.close()


@pytest.fixture(scope="module")
def browser(chromium, lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="mcd-chromium-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000})
        yield context
        context.close()


# --------------------------------------------------------------------------- driving JupyterLab

#: records, every animation frame, the fewest pictures the explorer's output showed. A picture is
#: shown by an img that has loaded one (naturalWidth > 0), or by an img that had one and is loading
#: its next source: Chromium keeps painting the old picture (and its box) until the new one has
#: loaded, though naturalWidth reads 0 meanwhile (checked on a screencast of the page: no blank
#: frame). A removed img, or a new one not loaded yet, shows nothing: that is a gap.
GAP_SAMPLER = """(area) => {
  const state = {fewest: Infinity, frames: 0, stop: false, seen: []};
  const painted = new WeakSet();
  const start = performance.now();
  const tick = (now) => {
    if (state.stop) return;
    const imgs = [...area.querySelectorAll('img')];
    const shown = imgs.filter((img) => img.getBoundingClientRect().height > 0
      && (img.naturalWidth > 0 || (!img.complete && painted.has(img))));
    imgs.forEach((img) => { if (img.naturalWidth > 0) painted.add(img); });
    if (shown.length < state.fewest) {  // what the page showed when the count dropped
      state.seen.push({ms: Math.round(now - start), shown: shown.length, imgs: imgs.map(
        (img) => [img.naturalWidth, img.getBoundingClientRect().height, img.src.slice(0, 30)])});
    }
    state.fewest = Math.min(state.fewest, shown.length);
    state.frames += 1;
    requestAnimationFrame(tick);
  };
  window.__mcdGap = state;
  requestAnimationFrame(tick);
}"""


def artifacts() -> Path | None:
    folder = os.environ.get("MCD_BROWSER_ARTIFACTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(folder)
    return None


def keep(page, area, name: str) -> None:
    """Screenshots of a failing step into MCD_BROWSER_ARTIFACTS (when set)."""
    folder = artifacts()
    if folder is None:
        return
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    (folder / f"{name}.html").write_text(page.content())
    for k, shot in enumerate(pictures(area) if area is not None else []):
        (folder / f"{name}-picture{k}.png").write_bytes(shot)


def kernel_idle(page) -> bool:
    """Whether the status bar says the notebook's kernel is idle (connected, nothing running)."""
    return page.locator(".jp-StatusBar-Widget").evaluate_all(
        "(items) => items.some((item) => /\\|\\s*Idle\\b/.test(item.innerText))")


def wait_until_idle(page, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not kernel_idle(page):
        if time.monotonic() > deadline:
            raise AssertionError(f"the kernel was not idle within {seconds:.0f} s")
        page.wait_for_timeout(250)


def run_all(page, lab: Lab, notebook: str):
    """Open ``notebook``, run all cells, and return the output area of the explorer cell."""
    page.goto(lab.url(f"lab/tree/notebooks/{notebook}", "&reset"))  # reset: no other notebook restored
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
    wait_until_idle(page, 120)
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    dropdown = page.locator(".jp-Notebook .widget-dropdown select")
    deadline = time.monotonic() + RUN_ALL_S
    while time.monotonic() < deadline:
        errors = [e for e in page.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")
                  .all_inner_texts()]
        assert not errors, f"{notebook}: a cell failed:\n{errors[0][-3000:]}"
        if dropdown.count() and kernel_idle(page):
            break
        page.wait_for_timeout(1000)
    else:
        keep(page, None, f"{Path(notebook).stem}-run-all")
        pytest.fail(f"{notebook}: Run All did not show the explorer within {RUN_ALL_S} s")
    cell = page.locator(".jp-Notebook .jp-Cell").filter(has=page.locator(".widget-dropdown"))
    area = cell.locator(".jp-Cell-outputArea")
    area.scroll_into_view_if_needed()
    return dropdown, area


def pictures(area) -> list[bytes]:
    """Screenshots (PNG) of the loaded pictures shown in the explorer's output area ([] while
    the output is being replaced under our feet: a picture removed between finding and shooting)."""
    from playwright.sync_api import Error

    shots = []
    try:
        for img in area.locator("img").all():
            if img.evaluate("(i) => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().height > 0"):
                shots.append(img.screenshot(animations="disabled", timeout=10_000))
    except Error:
        return []
    return shots


def plain(text: str) -> str:
    """Text as the notebook wrote it (the browser shows some spaces as no-break spaces)."""
    return " ".join(text.replace("\xa0", " ").split(" "))


def describe(shots: list[bytes]) -> str:
    return f"{len(shots)} picture(s), non-white share " + ", ".join(f"{ink_share(s):.3f}" for s in shots)


def wait_for_picture(area, previous: list[bytes] | None, caption: str, seconds: float):
    """Poll until every picture is non-blank, differs from ``previous`` and the output's text
    holds ``caption``; return (pictures, seconds waited) or raise AssertionError with what was seen."""
    start = time.monotonic()
    shots: list[bytes] = []
    text = ""
    while time.monotonic() - start < seconds:
        shots = pictures(area)
        text = area.inner_text()
        inked = bool(shots) and all(ink_share(s) >= MIN_INK for s in shots)
        changed = previous is None or len(shots) != len(previous) or any(
            pictures_differ(a, b) for a, b in zip(shots, previous))
        if inked and changed and caption in text:
            return shots, time.monotonic() - start
        area.page.wait_for_timeout(250)
    raise AssertionError(f"after {seconds:.0f} s: {describe(shots)}; changed from the previous: "
                         f"{previous is None or [pictures_differ(a, b) for a, b in zip(shots, previous)]}; "
                         f"caption {caption!r} shown: {caption in text}")


def explore(page, lab: Lab, notebook: str, caption_of) -> list[dict]:
    """Run ``notebook``, then change its explorer's dropdown :data:`CHANGES` times, checking the
    picture after each; ``caption_of(option_label, option_value)`` is the text the explorer's
    caption must show. Returns one record per step (seconds to the new picture, ink)."""
    dropdown, area = run_all(page, lab, notebook)
    options = dropdown.locator("option").all()
    labels = [plain(o.inner_text()) for o in options]
    values = [o.get_attribute("value") for o in options]
    current = dropdown.evaluate("(s) => s.selectedIndex")
    assert len(labels) > CHANGES, f"{notebook}: the explorer offers only {len(labels)} choices"
    steps = []
    shots, waited = wait_for_picture(area, None, caption_of(labels[current], values[current]), CHANGE_S)
    steps.append({"choice": labels[current], "seconds": waited, "ink": [ink_share(s) for s in shots]})
    order = [i for i in range(len(labels)) if i != current][:CHANGES]
    for step, index in enumerate(order, start=1):
        wait_until_idle(page, CHANGE_S)
        area.scroll_into_view_if_needed()
        area.evaluate(GAP_SAMPLER)
        page.wait_for_timeout(200)
        dropdown.select_option(index=index)
        try:
            new, waited = wait_for_picture(area, shots, caption_of(labels[index], values[index]), CHANGE_S)
            wait_until_idle(page, CHANGE_S)
            page.wait_for_timeout(500)
            settled = pictures(area)
            assert settled and all(ink_share(s) >= MIN_INK for s in settled), \
                f"the picture went blank after it had updated: {describe(settled)}"
            gap = page.evaluate("() => { window.__mcdGap.stop = true; return window.__mcdGap; }")
            if gap["fewest"] < len(shots):
                raise AssertionError(f"the explorer showed {gap['fewest']} picture(s) (of {len(shots)}) "
                                     f"while it updated: an empty gap ({gap['frames']} frames sampled; "
                                     f"when the count dropped: {gap['seen']})")
        except AssertionError as error:
            keep(page, area, f"{Path(notebook).stem}-change{step}")
            raise AssertionError(f"{notebook}, dropdown change {step} (to {labels[index]!r}): {error}") from None
        steps.append({"choice": labels[index], "seconds": waited, "ink": [ink_share(s) for s in settled]})
        shots = settled
    return steps


@pytest.fixture()
def page(browser, lab):
    page = browser.new_page()
    yield page
    page.close()
    lab.stop_kernels()


def report(notebook: str, steps: list[dict]) -> None:
    for step in steps:
        print(f"{notebook}: {step['choice'][:60]!r}: picture after {step['seconds']:.1f} s, "
              f"non-white share {', '.join(f'{i:.3f}' for i in step['ink'])}")


def test_clue_explorer_follows_the_dropdown(lab, page):
    start = time.monotonic()
    # the option label starts with the question id; the caption names it as "question <id>)"
    steps = explore(page, lab, "07_audio_visual_clues.ipynb",
                    lambda label, value: f"question {label.split(' · ')[0]})")
    report("07", steps)
    print(f"07: {time.monotonic() - start:.0f} s in all")


def test_scene_explorer_follows_the_dropdown(lab, page):
    start = time.monotonic()
    steps = explore(page, lab, "02_music_scenes.ipynb", lambda label, value: label)
    report("02", steps)
    print(f"02: {time.monotonic() - start:.0f} s in all")
