# Each target is a one-liner; `make check` is what CI runs.
PY ?= .venv/bin/python

.PHONY: install test lint typecheck imports check bench bench-quick

install:          ## a virtual environment with mentra and its dev tools
	python3 -m venv .venv && $(PY) -m pip install -q -e '.[dev]'

test:             ## the test suite (live tests deselected)
	$(PY) -m pytest -q

lint:             ## ruff: style, imports, banned APIs
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

typecheck:        ## mypy strict over the library and the CLI
	$(PY) -m mypy

imports:          ## import-linter: the layer contracts in pyproject.toml
	$(dir $(PY))lint-imports --no-cache

check: lint typecheck imports test

bench:            ## mentra beside its peers, one table (see benchmarks/README.md)
	$(PY) benchmarks/run.py

bench-quick:      ## mentra's own scenarios only (under a minute)
	$(PY) benchmarks/run.py --quick
