"""examples/fastapi: the app, with FastAPI's test client, a real Redis and a real worker process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rqueues import Connection

pytest.importorskip("fastapi")
pytest.importorskip("httpx2")
from fastapi.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi"


@pytest.fixture
def example_app(conn: Connection, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The app on a flushed server (``conn`` flushes it first), its lifespan run."""
    monkeypatch.setenv("RQUEUES_REDIS_URL", redis_url)
    monkeypatch.syspath_prepend(str(EXAMPLE))
    for name in ("app", "jobs"):
        sys.modules.pop(name, None)
    import app  # the example's module

    with TestClient(app.app) as client:  # runs the lifespan: connects and declares
        yield client
    for name in ("app", "jobs"):
        sys.modules.pop(name, None)


@pytest.fixture
def example_worker(
    conn: Connection, redis_url: str, tmp_path: Path, example_app: TestClient
) -> Iterator[None]:
    """`rqueues worker --import jobs` started in the example's folder, as its README says."""
    env = dict(os.environ, RQUEUES_REDIS_URL=redis_url, PYTHONPATH=os.pathsep.join([str(EXAMPLE), *sys.path]))
    log = (tmp_path / "worker.log").open("wb")
    cmd = [sys.executable, "-m", "rqueues.cli", "worker", "--import", "jobs", "--worker-id", "example-worker"]
    proc = subprocess.Popen(cmd, cwd=EXAMPLE, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while conn.redis.zscore(conn.keys.workers, "example-worker") is None:
        assert proc.poll() is None, (tmp_path / "worker.log").read_text()
        assert time.monotonic() < deadline, "the example's worker did not start"
        time.sleep(0.02)
    yield
    proc.terminate()
    proc.wait(15)
    log.close()


def test_count_waits_for_the_result_in_the_request(example_app: TestClient, example_worker: None) -> None:
    reply = example_app.post("/count", json={"text": "to be or not to be"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"to": 2, "be": 2, "or": 1, "not": 1}


def test_async_job_runs_and_is_read_back(example_app: TestClient, example_worker: None) -> None:
    job_id = example_app.post("/digest?rounds=2", json={"text": "x"}).json()["id"]
    deadline = time.monotonic() + 20
    while (status := example_app.get(f"/jobs/{job_id}").json())["state"] != "succeeded":
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    import hashlib

    assert status["result"] == hashlib.sha256(hashlib.sha256(b"x").digest()).hexdigest()


def test_a_request_that_waits_too_long_gets_504(example_app: TestClient) -> None:
    reply = example_app.post("/count?wait=0.3", json={"text": "no worker runs this"})  # no worker started
    assert reply.status_code == 504 and "still running" in reply.json()["detail"]


def test_unknown_job_is_404(example_app: TestClient) -> None:
    assert example_app.get("/jobs/reports:1-0").status_code == 404
