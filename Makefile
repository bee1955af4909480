# Entry points for running, testing and formatting Upkeep. `make help` lists them.

VENV := .venv
PY := $(VENV)/bin/python
# Stamp of the last `pip install -r requirements.lock`: the lock being newer reinstalls it.
STAMP := $(VENV)/.requirements.lock.installed
# The first of these that is Python 3.11 or newer creates the virtualenv.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
	2>/dev/null && { echo $$p; break; }; done)
# Extra arguments for pytest, e.g. make test PYTEST_ARGS="-x -k rollout"
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv run test test-browser lint format

help:
	@echo "make run           start Upkeep on http://127.0.0.1:$${PORT:-8000}/ (web, workers, controller)"
	@echo "make test          ruff, migrations check and the test suite (browser tests excluded)"
	@echo "make test-browser  the Playwright tests in tests/browser (needs /usr/bin/chromium)"
	@echo "make lint          ruff check and ruff format --check"
	@echo "make format        ruff format and ruff check --fix"
	@echo "make venv          create .venv and install requirements.lock"

venv: $(STAMP)

$(STAMP): requirements.lock
	@if [ ! -x $(PY) ]; then \
		if [ -z "$(PYTHON)" ]; then echo "Python 3.11 or newer is needed (python3)." >&2; exit 1; fi; \
		echo "Creating $(VENV) with $(PYTHON)"; \
		$(PYTHON) -m venv $(VENV); \
	fi
	$(PY) -m pip install -r requirements.lock
	@touch $@

run: $(STAMP)
	@bin/run

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check --output-format concise .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# pytest's exit status 5 means "no tests collected": a suite that ran nothing has not passed.
test: lint
	$(PY) manage.py makemigrations --check --dry-run
	@echo "$(PY) -m pytest $(PYTEST_ARGS)"
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# A test-database suffix of its own, so that it can run next to `make test` in one checkout.
test-browser: $(STAMP)
	@echo "$(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS)"
	@UPKEEP_TEST_DB_SUFFIX=$${UPKEEP_TEST_DB_SUFFIX:-browser} \
	$(PY) -m pytest -m browser tests/browser $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-browser: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc
