# EventLab: `make run` serves the app with demo data; `make test` installs what the tests need and runs them all.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup setup-test chromium lint unit integration e2e soak bench bench-pages bench-big clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.test: requirements-test.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@ $(VENV)/.runtime

setup: $(VENV)/.runtime
	$(BIN)/python manage.py migrate --verbosity 0
	$(BIN)/python manage.py loadlabfixtures --verbosity 0

run: setup
	@echo "EventLab on http://$(HOST):$(PORT)/"
	$(BIN)/daphne -b $(HOST) -p $(PORT) eventlab.asgi:application

setup-test: $(VENV)/.test chromium

# Browser tests drive a real Chromium: Debian's package where apt and root are there, Playwright's download elsewhere.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else $(BIN)/playwright install chromium; fi

# Lint: ruff, the import-linter contracts (layers), and mypy (the pure layers and labs/, see [tool.mypy]).
lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: $(VENV)/.test
	$(BIN)/pytest tests/unit tests/contract -q

integration: $(VENV)/.test
	$(BIN)/pytest tests/integration -q

e2e: setup-test
	$(BIN)/pytest tests/e2e -m e2e -q

# Unit, contract and integration tests on SQLite; again on PostgreSQL + Redis when TEST_POSTGRES_URL and
# TEST_REDIS_URL are set (.ci/run starts both); then the browser tests (their own invocation: Playwright's sync API
# and pytest-asyncio do not share a process), including two daphne processes on PostgreSQL + Redis.
test: setup-test lint
	$(BIN)/pytest -q
	@if [ -n "$$TEST_POSTGRES_URL" ]; then \
		echo "--- again on PostgreSQL and Redis"; \
		DATABASE_URL="$$TEST_POSTGRES_URL" REDIS_URL="$$TEST_REDIS_URL" $(BIN)/pytest tests/contract tests/integration -q; \
	fi
	$(BIN)/pytest tests/e2e -m e2e -q

# The saga fault-plan search with hypothesis's `soak` profile: many more random examples than `make test` runs
# (100,000 by default, a few minutes; SAGA_EXAMPLES=n to choose).
soak: $(VENV)/.test
	HYPOTHESIS_PROFILE=soak $(BIN)/pytest tests/unit/test_saga_invariants.py -q

bench: $(VENV)/.test
	$(BIN)/python bench/run.py

# Pages flat in log size alone: a 10^3-event lab against a 10^5-event one (bench-big: 10^6, about 5 minutes).
bench-pages: $(VENV)/.test
	$(BIN)/python bench/run.py pages

bench-big: $(VENV)/.test
	$(BIN)/python bench/run.py pages 1000000

clean:
	rm -rf $(VENV) db.sqlite3* .test-db.sqlite3* staticfiles .mypy_cache
