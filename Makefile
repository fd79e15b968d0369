# Every target sets itself up: a fresh clone needs only `make run` or `make test`.
# The venv installs the exact versions of requirements/dev.txt (both services, tests and
# profilers), then the project itself without resolving anything again.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_LOCK := requirements/dev.txt
# One resolution for every lock: the service locks are held to dev.txt's versions, so the
# images run exactly what the tests ran.
COMPILE := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command 'make lock' $(LOCK_ARGS) pyproject.toml

.PHONY: run demo test lint typecheck protocol bench lock image-deps clean

$(STAMP): pyproject.toml $(DEV_LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m gateway.devstack

# Also needs Node.js 20 (npm ci of auth-server/ and frontend/ from their lock files).
demo: $(STAMP)
	$(PY) -m gateway.demostack

lint: $(STAMP)
	$(VENV)/bin/ruff check gateway backend service_plumbing tests bench deploy
	$(VENV)/bin/ruff format --check gateway backend service_plumbing tests bench deploy
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# The Node.js identity verifier against protocol/identity-vectors.json (no npm packages).
protocol:
	node --test --test-reporter=spec protocol/

test: $(STAMP) lint typecheck protocol
	$(PY) -m pytest

bench: $(STAMP)
	bash bench/run.sh

# After any change to the dependency lists in pyproject.toml (see docs/deployment.md);
# `make lock LOCK_ARGS=--upgrade` moves every pin to the newest allowed version.
lock: $(STAMP)
	$(COMPILE) --all-extras -o $(DEV_LOCK)
	$(COMPILE) --extra gateway -c $(DEV_LOCK) -o requirements/gateway.txt
	$(COMPILE) --extra backend -c $(DEV_LOCK) -o requirements/backend.txt

# Each service installed alone, as its image is (deploy/image-deps.sh; needs the package index).
image-deps:
	PYTHON=$(PYTHON) bash deploy/image-deps.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
