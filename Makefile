# mcdlib: every target sets up .venv itself when it is missing or stale, so on a fresh machine
# `make test` and `make demo` each do the whole setup.
#
#   make test      set up, then run the unit tests and the notebooks (smoke size) under nbval
#   make demo      set up, then build the classroom music-scenes data and train/evaluate on it
#   make book      set up, then execute every notebook at classroom size and write the static
#                  HTML site build/book/index.html (builds the data and trains what it needs)
#   make test-browser  the browser test of the explorers (needs Chromium; installs Playwright)
#   make setup     only set up .venv
#   make lint      notebooks committed without outputs (nbstripout --keep-id --verify)
#   make bench     the benchmark scripts (figures go to BENCHMARKS.md by hand)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.mcdlib-installed
# the tested torch/torchaudio/torchvision set (docs/OFFLINE_ASSETS.md); pyproject.toml pins the same
TORCH  := torch==2.14.1 torchaudio==2.11.0 torchvision==0.29.1
PYTEST_ARGS ?=
DEMO_ARGS ?=
BOOK_ARGS ?=
BROWSER_STAMP := $(VENV)/.mcdlib-browser-installed

.PHONY: setup test test-unit test-notebooks test-browser demo book lint bench clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade "pip>=24"
	# torch first, on its own, so that no other package makes pip pick a different build
	$(PIP) install $(TORCH)
	$(PIP) install -e '.[dev]'
	# tinysoundfont declares pyaudio (needs PortAudio headers) but does not use it to render
	$(PIP) install --no-deps 'tinysoundfont>=0.3.7' || echo "tinysoundfont unavailable: the built-in synthesizer will be used"
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (mcdlib)" > /dev/null
	@touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist loadgroup --timeout 900 -m "not browser" $(PYTEST_ARGS)

test-unit: $(STAMP)
	$(PY) -m pytest -n 2 --timeout 900 -m "not notebook and not browser" $(PYTEST_ARGS)

$(BROWSER_STAMP): $(STAMP)
	$(PIP) install -e '.[dev,browser]'
	@touch $(BROWSER_STAMP)

# JupyterLab + the system's headless Chromium (skipped with the reason when Chromium is missing)
test-browser: $(BROWSER_STAMP)
	$(PY) -m pytest --timeout 1200 -m browser tests/test_browser.py $(PYTEST_ARGS)

test-notebooks: $(STAMP)
	$(PY) -m pytest --timeout 900 tests/test_notebooks.py $(PYTEST_ARGS)

demo: $(STAMP)
	$(VENV)/bin/mcd demo $(DEMO_ARGS)

book: $(STAMP)
	$(VENV)/bin/mcd notebooks book $(BOOK_ARGS)

lint: $(STAMP)
	$(VENV)/bin/nbstripout --keep-id --verify notebooks/*.ipynb

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-venv:
	rm -rf $(VENV)
