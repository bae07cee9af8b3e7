# imghost — the two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# tus-js-client for the real-browser upload test, from the committed lock file.
BROWSER_TEST := tests/e2e/browser
NODE_STAMP := $(BROWSER_TEST)/node_modules/.installed

.PHONY: run test test-fast lint typecheck pytest bench cluster install system-deps node-deps bench-deps clean

# Reinstall only when the project's dependencies change. --no-compile: pip would
# compile every module of every package (64 s of a fresh install, 24 s without);
# Python compiles what is imported, once.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Reinstall only when package.json or its lock file change. When npm is missing
# or fails it only warns: the browser test then skips, or fails under CI=true.
# (system-deps is order-only so it does not make the stamp always stale.)
$(NODE_STAMP): $(BROWSER_TEST)/package.json $(BROWSER_TEST)/package-lock.json | system-deps
	@if ! command -v npm >/dev/null 2>&1; then \
	  echo "node-deps: npm is missing (install Debian's npm)" >&2; \
	elif (cd $(BROWSER_TEST) && npm ci --no-audit --no-fund --loglevel=error); then \
	  touch $@; \
	else \
	  echo "node-deps: npm ci failed in $(BROWSER_TEST)" >&2; \
	fi

node-deps: $(NODE_STAMP)

run: $(STAMP)
	$(BIN)/imghost serve

# Debian packages the tests (postgresql, chromium, npm) and benchmarks
# (postgresql, nginx, wrk) start,
# installed only when missing and only when we are root.
system-deps:
	@bash scripts/system-deps.sh

bench-deps:
	@bash scripts/system-deps.sh bench

# The architecture's rules run here too: the import contracts ([tool.importlinter]
# in pyproject.toml) and "only transaction owners commit" (scripts/check_commits.py).
lint: $(STAMP)
	$(BIN)/ruff check src tests bench lint scripts
	$(BIN)/ruff format --check src tests bench lint scripts
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_commits.py

typecheck: $(STAMP)
	$(BIN)/mypy

# The tiers run on every core (pytest-xdist), with a worker more than there are
# cores: much of a test is waiting (servers starting and stopping, jobs, sockets).
# (Four workers made a run slower: 11:26 for the parallel tier against 10:22.)
# Long tests (marker slow) are handed out first, two at a time, so none starts last.
TEST_WORKERS ?= 3
# Each of those Pythons (xdist workers, and the servers and CLIs e2e tests start)
# would otherwise compile every module and rewrite every test's asserts again:
# ~5 s of a core per pytest process. (__pycache__ is ignored by git.)
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest -p no:cacheprovider -q
XDIST := -n $(TEST_WORKERS) --dist load --maxschedchunk 2

# Every tier, both backend combinations: unit, integration and e2e tests in
# parallel, then the few that must run alone (marker serial: latency bounds).
# (Exit status 5 is "no test selected", when PYTEST_ARGS picks no serial test.)
pytest: $(STAMP) system-deps $(NODE_STAMP)
	$(PYTEST) $(XDIST) -m "not serial" $(PYTEST_ARGS)
	$(PYTEST) -m serial $(PYTEST_ARGS) || [ $$? -eq 5 ]

# The static checks (mypy: half a minute of one core) run beside the test
# tiers, whose xdist workers leave a part of the cores idle while they wait on
# servers. Any of the three failing fails `make test`.
test:
	@$(MAKE) --no-print-directory -j3 lint typecheck pytest

# The edit loop, in under three minutes: unit tests and the integration tests
# on SQLite + local files, blobs stored as they are, but the long ones (no
# PostgreSQL, S3, encryption at rest, marker slow, e2e or browser).
test-fast: $(STAMP) system-deps
	$(PYTEST) $(XDIST) -m "not postgres_s3 and not encrypted and not slow" tests/unit tests/integration $(PYTEST_ARGS)

# After a full run (every section) bench/RESULTS.md is written anew from the run's
# JSON, failed checks listed in it; make still fails when a check did.
bench: $(STAMP) bench-deps
	$(BIN)/python -m bench.run $(BENCH_ARGS); status=$$?; \
	$(BIN)/python -m bench.results_md --if-complete --output bench/RESULTS.md && exit $$status

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache $(BROWSER_TEST)/node_modules

# A cluster on loopback (PostgreSQL + a streaming replica, S3, Redis, the nginx edge,
# N API processes, M workers): req/s with 1 and 2 API processes, then the chaos run
# under load (docs/OPERATIONS.md, "The cluster demo"). Ctrl-C stops everything.
N ?= 2
M ?= 2
DURATION ?= 60
CLIENTS ?= 32
cluster: $(STAMP) system-deps bench-deps
	$(BIN)/python -m bench.cluster --api $(N) --workers $(M) --duration $(DURATION) --clients $(CLIENTS)
