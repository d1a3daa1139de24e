# One entry point for humans and CI. Everything installs into .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install test test-fast demo bench bench-smoke lint clean services

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The whole suite: unit, property, doctests, integration (SQLite, PostgreSQL, Tansu).
test: $(STAMP) services
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS)

## Without the slow fault tests.
test-fast: $(STAMP)
	$(PY) -m pytest -q -n 2 -m "not slow" $(PYTEST_ARGS)

## Install (Debian packages) and start what the tests need when missing (.ci/services.sh).
services:
	@bash .ci/services.sh

## Live: embedded Tansu broker + SQLite, a generator with drift after 30 s, windows printed as they close (60 s).
demo: $(STAMP)
	$(VENV)/bin/monitor demo --workdir demo

## Benchmarks; figures print and land in bench/results/.
bench: $(STAMP)
	$(PY) -m bench

## The same code on tiny data (checks it runs; the test suite does this too).
bench-smoke: $(STAMP)
	$(PY) -m bench --smoke --only pipeline labels kafka sdk trust

## ruff (rules and line length) and mypy (types, configured in pyproject.toml) on monitor/.
lint: $(STAMP)
	$(VENV)/bin/ruff check monitor tests bench
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) demo *.egg-info
