# tokenveil: `make run` starts the demo server, `make test` runs everything CI runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint typecheck unit bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files re-run the install only when pyproject.toml changes, or the C speedups of
# tokenveil.pii, which the editable install compiles in place (src/tokenveil/pii/*.so).
SPEEDUPS := src/tokenveil/pii/_speedups.c
$(VENV)/.run-installed: pyproject.toml $(SPEEDUPS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[server]"
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(SPEEDUPS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[server,postgres,redis,scan,dev]"
	touch $@

$(VENV)/.bench-installed: pyproject.toml $(SPEEDUPS) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[server,postgres,redis,scan,dev,bench]"
	touch $@

run: $(VENV)/.run-installed
	$(BIN)/tokenveil serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

unit: $(VENV)/.dev-installed
	$(BIN)/python -m pytest

test: lint typecheck unit

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache src/tokenveil/pii/*.so
