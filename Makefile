# The two commands a new user needs (see README.md):
#   make run    set up .venv, then execute every notebook into build/ and print a table
#   make test   set up .venv and the test matrix's venvs, then run the whole test suite on the
#               pinned set and the unit tests + every notebook on each other version set
# Also: make lab (JupyterLab on notebooks/), make test-pinned, make test-<set>, make test-browser,
# make bench, make figures (README pictures from build/), make lint, make constraints.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := --quiet --disable-pip-version-check
# JupyterLab refuses to start as root unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install run test test-pinned test-matrix install-matrix test-browser bench figures lab \
	lint constraints clean clean-matrix

install: $(STAMP)

$(STAMP): requirements.txt requirements-test.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP) -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install $(PIP) --no-deps -e .
	@touch $@

run: install
	$(BIN)/python scripts/run_notebooks.py

# ---------------------------------------------------------------------------- the test matrix
# The pinned set (.venv, constraints.txt) runs everything: unit tests, every notebook under
# nbval, the browser tests and the slow tests. Each other set (constraints/<set>.txt) gets its own
# venv in .venvs/<set>, with this machine's torch and torchvision hard-linked from .venv, and runs
# the unit tests and every notebook (not the browser or slow tests). See README "Supported
# versions". Choose sets with MATRIX="..." (MATRIX= runs the pinned set only).
VENVS := .venvs
# Colab's current runtime runs Python 3.13: use one where this machine has it (pyenv here).
PY313 := $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
	$(shell command -v python3.13 2>/dev/null))
COLAB_NOW := $(if $(PY313),colab-2026.08-py313,colab-2026.08)
MATRIX ?= $(COLAB_NOW) colab-2025.07 lowest
PY_colab-2026.08-py313 := $(PY313)
set_python = $(or $(PY_$(1)),$(PYTHON))
MATRIX_PYTEST ?= -m "not slow and not browser" --ignore=tests/browser

test: install
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory test-matrix

test-pinned: install
	$(BIN)/python -m pytest

$(VENVS)/%/.installed: constraints/%.txt requirements.txt requirements-test.txt pyproject.toml \
		| $(STAMP)
	rm -rf $(VENVS)/$*
	$(call set_python,$*) -m venv $(VENVS)/$*
	$(VENVS)/$*/bin/python scripts/link_torch.py $(VENV) $(VENVS)/$*
	$(VENVS)/$*/bin/python -m pip install $(PIP) -r requirements.txt -r requirements-test.txt \
		-c constraints/$*.txt
	$(VENVS)/$*/bin/python -m pip install $(PIP) --no-deps -e .
	$(VENVS)/$*/bin/python -m pip check
	@touch $@

install-matrix: $(foreach s,$(MATRIX),$(VENVS)/$(s)/.installed)

# One target per set (not .PHONY: make skips pattern rules for phony targets).
test-%: $(VENVS)/%/.installed
	@KERAS_BACKEND=torch $(VENVS)/$*/bin/python -c "import sys, transformers, timm, keras, \
		ipywidgets; print('=== $*: python', sys.version.split()[0], '· transformers', \
		transformers.__version__, '· timm', timm.__version__, '· keras', keras.__version__, \
		'· ipywidgets', ipywidgets.__version__)"
	VIT_NOTEBOOKS_MATRIX_SET=$* $(VENVS)/$*/bin/python -m pytest $(MATRIX_PYTEST)

test-matrix: $(addprefix test-,$(MATRIX))

# ---------------------------------------------------------------------------- the rest

test-browser: install
	$(BIN)/python -m pytest tests/browser

bench: install
	$(BIN)/python scripts/bench_series.py

# The README's pictures: executes the notebooks they come from if build/ lacks them.
figures: install
	$(BIN)/python scripts/export_figures.py

lab: install
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/

lint: install
	$(BIN)/ruff check helpers tests scripts

# Re-pin every installed version after changing requirements*.txt.
constraints:
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	{ echo "# Exact versions for local installs and CI (pip install -r requirements.txt -c constraints.txt)."; \
	  echo "# Regenerate with: make constraints"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e' | grep -v '^vit-notebooks'; } > constraints.txt

clean:
	rm -rf build .pytest_cache

clean-matrix:
	rm -rf $(VENVS)
