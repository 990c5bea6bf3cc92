# The two commands a new user needs (see README.md):
#   make run    set up .venv, then execute every notebook into build/ and print a table
#   make test   set up .venv and the test matrix's venvs, then run the whole test suite on the
#               pinned set and the unit tests + every notebook on each other version set
# Also: make lab (JupyterLab on notebooks/), make test-pinned, make test-<set>, make test-browser,
# make bench, make figures (README pictures from build/), make lint, make constraints,
# make constraints-matrix.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PIP := --quiet --disable-pip-version-check
# JupyterLab refuses to start as root unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install run test test-pinned install-matrix test-browser bench figures lab \
	lint constraints constraints-matrix clean clean-matrix

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
# nbval, the slow tests and the browser tests. Each other set (constraints/<set>.txt) gets its
# own venv in .venvs/<set>, with this machine's torch and torchvision hard-linked from .venv, and
# runs the tests marked `api` and every notebook (see tests/conftest.py and README "Supported
# versions"). scripts/constraints_matrix.py names the sets and writes their constraint files;
# choose sets with MATRIX="..." (MATRIX= runs the pinned set only).
VENVS := .venvs
MATRIX ?= $(shell $(PYTHON) scripts/constraints_matrix.py sets)
# The Python a set asks for (e.g. 3.13 for Colab now) where this machine has it, else python3.
find_python = $(if $(1),$(firstword $(wildcard $(HOME)/.pyenv/versions/$(1).*/bin/python$(1)) \
	$(shell command -v python$(1) 2>/dev/null)))
set_python = $(or $(call find_python,$(shell $(PYTHON) scripts/constraints_matrix.py python $(1))),$(PYTHON))

# Builds the matrix venvs in the background while the pinned set's tests run, runs every set
# even after a failure, and ends with one line per set (scripts/test_matrix.py).
test: install
	$(BIN)/python scripts/test_matrix.py --sets "$(MATRIX)"

test-pinned: install
	$(BIN)/python scripts/test_matrix.py --sets ""

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

# One target per set (not .PHONY: make skips pattern rules for phony targets), e.g.
# make test-colab-2025.07 (an optional set: scripts/constraints_matrix.py sets --all).
test-%: install
	$(BIN)/python scripts/test_matrix.py --sets "$*" --no-pinned --no-browser

# Rewrite constraints/<set>.txt from the Colab freezes (tests/data/colab), requirements*.txt and
# constraints.txt; tests/test_constraints_matrix.py fails when a committed file is stale.
constraints-matrix:
	$(PYTHON) scripts/constraints_matrix.py write

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
