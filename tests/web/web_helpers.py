"""What the dashboard's tests share besides fixtures."""

from __future__ import annotations

from starlette.testclient import TestClient

from rqueues import Connection, Job
from rqueues.backend.replies import ClaimKind
from rqueues.worker.reaper import Reaper

TOKEN = "s3cret-token-for-the-tests"
ORIGIN = "http://testserver"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def claim_as(conn: Connection, queue: str, worker: str = "w-test", count: int = 1) -> None:
    """Start jobs of ``queue`` as a worker that never beats: they are running."""
    reply = conn.scripts.claim(conn.keys.queue(queue), worker, count, 60_000)
    assert reply.kind == ClaimKind.CLAIMED


def dead_letter(conn: Connection, queue: str, jobs: list[Job]) -> None:
    """Dead-letter ``jobs`` of a queue declared with max_reclaims=0: claimed by a worker that
    never beats, then reaped."""
    claim_as(conn, queue, "w-crashed", len(jobs))
    assert Reaper(conn).reap_once().dead_lettered == len(jobs)


def login(client: TestClient) -> str:
    """Log in with the token as the page does; the CSRF token for the session."""
    meta = client.get("/api/meta").json()
    reply = client.post("/api/session", json={"token": TOKEN}, headers={"Origin": ORIGIN})
    assert reply.status_code == 200, reply.text
    return str(meta["csrf"])
