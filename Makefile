# Echelon developer commands. Every target creates/uses the virtual environment in .venv.
# Needs only Python >= 3.11 and the package registries.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.echelon-installed

.PHONY: demo test lint bench format clean help

help:
	@echo "make demo   - simulate a batch of retired batteries, take it through the pipeline, write out/report.html"
	@echo "make test   - run the whole test suite (skips slow benchmarks)"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - run the benchmarks (slow); numbers go to docs/performance.md"

$(STAMP): pyproject.toml plugins/echelon-mpr/pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Echelon needs Python >= 3.11; set PYTHON=python3.11 (found %s)" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e plugins/echelon-mpr  # GPL .mpr plug-in, for its tests
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/echelon demo

test: $(STAMP)
	OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks plugins
	$(BIN)/ruff format --check src tests benchmarks plugins
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks plugins
	$(BIN)/ruff check --fix src tests benchmarks plugins

bench: $(STAMP)
	$(BIN)/python -m pytest benchmarks -m bench -p no:xdist -s

clean:
	rm -rf out echelon.db echelon.db-* echelon-store .pytest_cache .mypy_cache .ruff_cache
