# Two commands for a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := app:create_app

.PHONY: run test setup setup-dev migrate bench clean

run: setup migrate
	$(BIN)/flask processes deploy
	$(BIN)/flask run --host 127.0.0.1 --port 5000

test: setup-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

setup: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt

setup-dev: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt

migrate:
	$(BIN)/flask db upgrade

bench: setup-dev
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) instance .pytest_cache
