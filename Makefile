# Two entry points do all set-up on a fresh machine with Python 3.11:
#   make demo   the main job on the bundled sample
#   make test   the test suite's fast tier
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
# two workers; a module's tests stay on one worker (they share its fixtures), and the
# slow tier's long tests are balanced by work stealing
PYTEST := $(BIN)/python -m pytest -n 2

.PHONY: demo test test-slow test-all lint clean docs docs-check figures

# torch is installed first and pinned: the CPU build on local disk. An unpinned
# torch pulled in by a dependency would fetch a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,sb3,ray,tensorboard,docs]"
	touch $@

# The main job: the walk-forward backtest of the agents and baselines on the bundled
# sample (backtests/results/default/report.html). The clone is the workspace: its
# tracked envs/, strategies/ and backtests/ are the specs it reads.
demo: $(VENV)/.installed
	$(BIN)/fin-hgrpo backtest backtests/default.toml

# The fast tier (what a change is checked with while working); test-slow runs what
# trains to skill, runs on the bundled sample, builds the wheel, starts Ray or
# compiles; CI (.ci/run) runs both, then the strict docs build.
test: $(VENV)/.installed
	$(PYTEST) --dist loadfile -m "not slow"

test-slow: $(VENV)/.installed
	$(PYTEST) --dist worksteal -m slow

test-all: $(VENV)/.installed
	$(PYTEST) --dist loadfile

# The documentation site (MkDocs Material, API pages from the docstrings): served at
# http://127.0.0.1:8000; docs-check builds it strictly, as CI does (a broken link, a
# missing API name or an included file that moved fails it).
docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

docs-check: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

lint: $(VENV)/.installed
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build dist site *.egg-info

# The figures the README and docs quote, rewritten from the files of the runs that made
# them (docs/results/); tests/test_figures.py fails on any that differ
figures: $(VENV)/.installed
	$(BIN)/python tools/figures.py
