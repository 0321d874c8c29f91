"""Helpers for the observability tests: tool lookup, scrapes, parsing expositions."""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
GRAFANA = ROOT / "grafana"
#: Where .ci/run installs npm packages the tests use (outside the work tree).
NODE_TOOLS = Path(os.environ.get("RQUEUES_NODE_TOOLS", Path.home() / ".cache" / "rqueues-tools" / "node"))


def need_tool(name: str, install: str) -> str:
    """Path of a command-line tool; skip with the install line when missing (fail in CI)."""
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} not found; install it with: {install}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def run(
    cmd: list[str], cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=120)


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition: (name, labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    found = [
        v
        for (n, ls), v in samples(text).items()
        if n == name and set(labels.items()) <= set(dict(ls).items())
    ]
    assert found, f"no sample {name}{labels} in the exposition"
    return sum(found)


def metric_names(text: str) -> set[str]:
    """Every series name an exposition can produce, including families that had no sample."""
    names: set[str] = set()
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("_sum", "_count", "_created", ""),
        "info": ("_info",),
    }
    for family in text_string_to_metric_families(text):
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
        names.update(s.name for s in family.samples)
    return names
