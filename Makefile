# Every target sets itself up: a fresh clone needs only `make run` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run demo test lint typecheck protocol bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# Profilers for the benchmark, kept out of the test install.
$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(DEV_STAMP)

run: $(STAMP)
	$(PY) -m gateway.devstack

# Also needs Node.js 20 (npm ci of auth-server/ and frontend/ from their lock files).
demo: $(STAMP)
	$(PY) -m gateway.demostack

lint: $(STAMP)
	$(VENV)/bin/ruff check gateway backend service_plumbing tests bench
	$(VENV)/bin/ruff format --check gateway backend service_plumbing tests bench
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The Node.js identity verifier against protocol/identity-vectors.json (no npm packages).
protocol:
	node --test --test-reporter=spec protocol/

test: $(STAMP) lint typecheck protocol
	$(PY) -m pytest

bench: $(DEV_STAMP)
	bash bench/run.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
