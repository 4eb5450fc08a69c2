# The two commands: `make run` and `make test`. Everything else is a helper for them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup lint chromium

run: $(VENV)/.runtime
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	-$(PY) manage.py seed_demo --first-start
	$(PY) manage.py runplatform --host $(HOST) --port $(PORT)

test: $(VENV)/.dev chromium
	$(VENV)/bin/ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

setup: $(VENV)/.runtime

# Browser tests drive Debian's Chromium (Playwright's own browser download is not used).
chromium:
	@test -x /usr/bin/chromium || command -v chromium >/dev/null || \
	  { echo "Installing Debian's chromium for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "Could not install chromium (not root?): browser tests will be skipped (failed under CI)"

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@
