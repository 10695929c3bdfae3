# Portail des factures: developer commands. `make help` lists them.
SHELL := bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
PY := $(VENV)/bin/python
RUFF := $(VENV)/bin/ruff
PORTAIL := $(VENV)/bin/portail
HTMX_VERSION ?= 2

.PHONY: help install demo serve migrate test unit integration e2e lint fix vendor clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV) && $(VENV)/bin/pip install -e '.[dev]' && touch $@

install: $(STAMP) ## Create .venv and install the project with dev extras

demo: $(STAMP) ## Migrate SQLite, seed demo communes, start a mail sink, serve on http://127.0.0.1:8000
	$(PORTAIL) demo

serve: $(STAMP) ## Serve the app (settings from the environment)
	$(PORTAIL) serve

migrate: $(STAMP) ## Apply database migrations
	$(PORTAIL) migrate

test: $(STAMP) ## All tests: SQLite suite, PostgreSQL integration (if configured), browser e2e
	$(PY) -m pytest tests
	@if [ -n "$${PORTAIL_TEST_DATABASE_URL:-}" ]; then \
	  echo "PostgreSQL integration tests (PORTAIL_TEST_DATABASE_URL is set)"; \
	  PORTAIL_TEST_ENGINE=postgres $(PY) -m pytest tests/integration; \
	elif [ "$${CI:-}" = "true" ]; then \
	  echo "error: CI=true but PORTAIL_TEST_DATABASE_URL is not set; PostgreSQL tests must run in CI" >&2; \
	  exit 1; \
	else \
	  echo "PostgreSQL tests skipped: set PORTAIL_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test to run them"; \
	fi
	$(PY) -m pytest e2e

unit: $(STAMP) ## Unit tests only
	$(PY) -m pytest tests/unit

integration: $(STAMP) ## Integration tests (PostgreSQL too when PORTAIL_TEST_DATABASE_URL is set)
	$(PY) -m pytest tests/integration
	@if [ -n "$${PORTAIL_TEST_DATABASE_URL:-}" ]; then \
	  PORTAIL_TEST_ENGINE=postgres $(PY) -m pytest tests/integration; \
	else \
	  echo "PostgreSQL tests skipped: PORTAIL_TEST_DATABASE_URL is not set"; \
	fi

e2e: $(STAMP) ## End-to-end tests in headless Chromium (/usr/bin/chromium)
	$(PY) -m pytest e2e

lint: $(STAMP) ## Ruff lint and format check, mypy on core/ and plugins/
	$(RUFF) check . && $(RUFF) format --check . && $(VENV)/bin/mypy

fix: $(STAMP) ## Apply ruff autofixes and formatting
	$(RUFF) check --fix . && $(RUFF) format .

vendor: ## Refresh static/htmx.min.js from npm (HTMX_VERSION=2 by default)
	@set -euo pipefail; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && npm pack --silent htmx.org@$(HTMX_VERSION) >/dev/null && tar xzf htmx.org-*.tgz package/dist/htmx.min.js package/package.json); \
	version=$$(node -p "require('$$tmp/package/package.json').version"); \
	cp "$$tmp/package/dist/htmx.min.js" static/htmx.min.js; \
	sed -i -E "s/^(\| \`htmx\.min\.js\` \| \`htmx\.org\` \| )[^ ]+/\1$$version/" static/VENDORED.md; \
	echo "static/htmx.min.js <- htmx.org $$version"

clean: ## Remove var/ and caches (keeps .venv)
	rm -rf var .pytest_cache .ruff_cache .mypy_cache test-results build dist
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
