# The two commands a newcomer needs: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HOST PORT

.PHONY: run test lint format bench install install-dev test-deps test-main test-embedded clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found; set PYTHON=...)"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "$(PYTHON) is not Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# Web (uvicorn), Celery worker, beat and push (IMAP IDLE) under one supervisor (honcho): logs interleaved with
# process names; Ctrl-C stops them all.
run: install
	@$(BIN)/python manage.py migrate --no-input -v 0
	@$(BIN)/python manage.py webmail_bootstrap
	@echo "webmail: starting web, worker, beat and push on http://$(HOST):$(PORT)/ (Ctrl-C stops all)"
	@WEBMAIL_HOST=$(HOST) WEBMAIL_PORT=$(PORT) PATH="$(CURDIR)/$(BIN):$$PATH" \
	  exec $(BIN)/honcho -f Procfile start

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# System packages the real-server tests need (Dovecot, Postfix, Redis, Postgres, Chromium).
test-deps: install-dev
	bash scripts/install-test-deps.sh

# Leg 1: Postgres + Redis, in parallel. Leg 2: the embedded default (SQLite, no Redis).
test: lint test-deps
	$(BIN)/python -m pytest -n 2 -m "not embedded" $(PYTEST_ARGS)
	WEBMAIL_TEST_EMBEDDED=1 $(BIN)/python -m pytest -m embedded $(PYTEST_ARGS)

test-main: install-dev
	$(BIN)/python -m pytest -n 2 -m "not embedded" $(PYTEST_ARGS)

test-embedded: install-dev
	WEBMAIL_TEST_EMBEDDED=1 $(BIN)/python -m pytest -m embedded $(PYTEST_ARGS)

bench: test-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data .mypy_cache .ruff_cache
