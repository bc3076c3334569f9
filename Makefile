# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
PORT ?= 5000
VENV := .venv
BIN := $(VENV)/bin
VIEWER := web/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js
MODELER := web/static/vendor/modeler/modeler.js
export FLASK_APP := app:create_app

.PHONY: run test setup setup-dev migrate assets browser tools fonts translations messages bench screenshots clean

# Development server on SQLite under instance/, with reference data, demo users and demo cases
# (`make run PORT=5050` serves on another port).
run: setup assets fonts migrate
	$(BIN)/flask reference load-dev
	$(BIN)/flask processes deploy
	$(BIN)/flask demo seed
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

# The whole suite (the browser tests need Debian's chromium, the README walk-through curl and jq,
# the PDF documents fonts and pango: installed here when missing).
test: setup-dev assets browser tools fonts
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	$(MAKE) --no-print-directory translations

setup-dev: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(MAKE) --no-print-directory translations

migrate:
	$(BIN)/flask db upgrade

# The bpmn-js viewer, from the npm registry, served locally (no CDN).
assets: $(VIEWER) $(MODELER)
$(VIEWER) $(MODELER): package.json package-lock.json scripts/vendor_assets.js $(wildcard web/modeler/*)
	npm ci --no-audit --no-fund --loglevel=error

browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

tools:
	@command -v curl >/dev/null && command -v jq >/dev/null || (apt-get update -qq && apt-get install -y -qq curl jq >/dev/null)

# Fonts with every Kazakh letter and the pango libraries WeasyPrint draws the PDF documents with.
fonts:
	@fc-list 2>/dev/null | grep -q DejaVuSans.ttf && ldconfig -p | grep -q libpangoft2-1.0 || \
	  (apt-get update -qq && apt-get install -y -qq fonts-dejavu-core libpango-1.0-0 libpangoft2-1.0-0 fontconfig >/dev/null)

# The Kazakh and Russian catalogues, compiled (.mo files are build output, not committed).
translations:
	$(BIN)/pybabel -q compile -d translations -D messages

# Re-extract the messages (babel.cfg) and merge them into the kk and ru catalogues.
messages:
	PYTHONPATH=. $(BIN)/pybabel extract -F babel.cfg -k N_ -k lazy_gettext --no-location --sort-output \
	  -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations -D messages --width 100 --ignore-obsolete

bench: setup-dev
	$(BIN)/python bench/engine.py

screenshots: setup-dev assets browser fonts
	$(BIN)/python scripts/screenshots.py

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules web/static/vendor
