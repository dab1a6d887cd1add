# Hongyan: `make run` starts the platform with a demo account; `make test` runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-fast lint format bench clean

# The modules compiled with mypyc (src/hongyan/native.py): an edit to one of them rebuilds the install.
NATIVE_SRC := $(shell sed -n 's|^    "\(hongyan/.*\.py\)",$$|src/\1|p' src/hongyan/native.py)

$(STAMP): pyproject.toml setup.py src/hongyan/native.py $(NATIVE_SRC)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "hongyan needs Python >= 3.11")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	find src -name '*.so' -exec touch {} +  # built from the sources as they are now (setuptools keeps old mtimes)
	touch $(STAMP)

run: $(STAMP) ## start on ./var/hongyan.db (SQLite) with a demo account, print its API ID/KEY
	$(BIN)/hongyan demo

PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test

test: $(STAMP) ## the whole suite: on SQLite, then on PostgreSQL when one is reachable (required in CI)
	$(BIN)/pytest -q -p no:cacheprovider
	@if $(BIN)/python scripts/pg_reachable.py "$(PG_TEST_URL)"; then \
		echo "== the same suite on PostgreSQL ($(PG_TEST_URL)) =="; \
		HONGYAN_TEST_DATABASE_URL="$(PG_TEST_URL)" $(BIN)/pytest -q -p no:cacheprovider; \
	elif [ -n "$$HONGYAN_REQUIRE_PG" ]; then echo "PostgreSQL required but not reachable" >&2; exit 1; \
	else echo "PostgreSQL not reachable at $(PG_TEST_URL): PostgreSQL run skipped"; fi

test-pg: $(STAMP)
	HONGYAN_TEST_DATABASE_URL="$(PG_TEST_URL)" $(BIN)/pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider -x

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts bench setup.py
	$(BIN)/ruff format --check src tests scripts bench setup.py

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

bench: $(STAMP) ## HTTP Submit vs a bare-ASGI baseline (wrk), SQLite and PostgreSQL; writes bench/results/
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || \
		(echo "bench needs wrk (Debian package 'wrk')" >&2; exit 1)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/pipeline_bench.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache build
	find src -name '*.so' -delete
