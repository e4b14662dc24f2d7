# EventLab: `make run` serves the app with demo data; `make test` installs what the tests need and runs them all.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup setup-test chromium lint unit integration e2e bench clean

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
	$(BIN)/python manage.py loaddata demo_bank --verbosity 0

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

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

unit: $(VENV)/.test
	$(BIN)/pytest tests/unit tests/contract -q

integration: $(VENV)/.test
	$(BIN)/pytest tests/integration -q

e2e: setup-test
	$(BIN)/pytest tests/e2e -m e2e -q

test: setup-test lint
	$(BIN)/pytest -q
	$(BIN)/pytest tests/e2e -m e2e -q

bench: $(VENV)/.test
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) db.sqlite3* .test-db.sqlite3* staticfiles
