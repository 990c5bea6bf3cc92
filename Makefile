# The two commands a new user needs (see README.md):
#   make run    set up .venv, then execute every notebook into build/ and print a table
#   make test   set up .venv, then run the whole test suite (nbval executes every notebook)
# Also: make lab (JupyterLab on notebooks/), make test-browser, make bench, make figures (README
# pictures from build/), make lint, make constraints.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# JupyterLab refuses to start as root unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install run test test-browser bench figures lab lint constraints clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check \
		-r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

run: install
	$(BIN)/python scripts/run_notebooks.py

test: install
	$(BIN)/python -m pytest

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
