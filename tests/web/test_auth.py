"""Who may do what: every action refused without credentials and in read-only mode, CSRF
enforced on cookie, hook and basic requests, Bearer clients exempt; the app mounted in a
host application under a prefix."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
import tasks
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount
from starlette.testclient import TestClient
from web_helpers import BEARER, ORIGIN, TOKEN, claim_as, dead_letter, login

from rqueues import Connection, Job, Queue
from rqueues.cron import add_cron, list_cron
from rqueues.errors import ConfigurationError
from rqueues.web.app import create_app
from rqueues.web.security import SESSION_SECONDS, Security


@pytest.fixture
def jobs(conn: Connection, dead_queue: Queue) -> dict[str, Job]:
    """One job in each state an action applies to, and the queue 'work' (limit 3)."""
    dead = dead_queue.enqueue(tasks.add, 3, 4)
    dead_letter(conn, "deadq", [dead])  # first: its reaper would give the running job back
    work = Queue("work", conn)
    work.declare(concurrency=3, tags=["has=gpu"])
    running = work.enqueue(tasks.sleep, 5)
    claim_as(conn, "work")
    queued = work.enqueue(tasks.add, 1, 2)
    add_cron(conn, "nightly", "0 3 * * *", "work", tasks.noop)
    return {"queued": queued, "running": running, "dead": dead}


def actions(jobs: dict[str, Job]) -> list[tuple[str, dict[str, object]]]:
    """Every action route, with a body that would make it succeed."""
    return [
        (f"/api/jobs/{jobs['queued'].id}/cancel", {}),
        (f"/api/jobs/{jobs['running'].id}/stop", {}),
        (f"/api/jobs/{jobs['dead'].id}/requeue", {}),
        ("/api/queues/work/concurrency", {"concurrency": 7}),
        ("/api/queues/work/rate-limit", {"rate_limit": "30/m"}),
        ("/api/queues/work/pause", {}),
        ("/api/queues/deadq/resume", {}),
        ("/api/queues/deadq/requeue-dead", {}),
        ("/api/cron/nightly/remove?queue=work", {}),
    ]


def unchanged(conn: Connection, jobs: dict[str, Job]) -> None:
    assert jobs["queued"].state == "queued"
    assert not conn.redis.hexists(conn.keys.queue("work").job(jobs["running"].id), "stop")
    assert jobs["dead"].state == "dead"
    config = Queue("work", conn).config()
    assert (config.concurrency, config.rate_limit, config.paused) == (3, None, False)
    assert [i.job.name for i in list_cron(conn)] == ["nightly"]


def test_every_action_needs_authentication(
    client: TestClient, conn: Connection, jobs: dict[str, Job]
) -> None:
    for path, body in actions(jobs):
        reply = client.post(path, json=body, headers={"Origin": ORIGIN})
        assert reply.status_code == 401, (path, reply.text)
        assert "authentication required" in reply.json()["error"]
        wrong = client.post(path, json=body, headers={"Authorization": "Bearer not-the-token-at-all"})
        assert wrong.status_code == 401, path
    unchanged(conn, jobs)


def test_read_only_refuses_every_action_even_with_the_token(
    make_client: Callable[..., TestClient], conn: Connection, jobs: dict[str, Job]
) -> None:
    client = make_client(token=TOKEN, read_only=True)
    assert client.get("/api/meta").json()["actions"] is False
    for path, body in actions(jobs):
        reply = client.post(path, json=body, headers=BEARER)
        assert reply.status_code == 403, (path, reply.text)
        assert "read-only" in reply.json()["error"]
    unchanged(conn, jobs)
    assert client.get("/api/overview", headers=BEARER).status_code == 200  # reads still work


def test_without_any_credential_reads_are_open_and_actions_off(
    make_client: Callable[..., TestClient], conn: Connection, jobs: dict[str, Job]
) -> None:
    client = make_client()
    meta = client.get("/api/meta").json()
    assert (meta["actions"], meta["auth_required"], meta["authenticated"]) == (False, False, True)
    assert client.get("/api/overview").status_code == 200
    for path, body in actions(jobs):
        reply = client.post(path, json=body, headers={"Origin": ORIGIN})
        assert reply.status_code == 403, (path, reply.text)
    unchanged(conn, jobs)


def test_reads_need_authentication_when_credentials_exist(client: TestClient, jobs: dict[str, Job]) -> None:
    for path in ("/api/overview", "/api/workers", "/api/queues/work", f"/api/jobs/{jobs['queued'].id}"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=BEARER).status_code == 200, path
    assert client.get("/api/meta").status_code == 200  # what the page needs to show the login
    assert client.get("/").status_code == 200  # the shell holds no data


def test_the_token_authorizes_every_action(
    client: TestClient, conn: Connection, jobs: dict[str, Job]
) -> None:
    """Bearer clients need no CSRF token and no Origin: a browser never sends the header itself."""
    for path, body in actions(jobs):
        reply = client.post(path, json=body, headers=BEARER)
        assert reply.status_code == 200, (path, reply.text)
    assert jobs["queued"].state == "cancelled"
    assert conn.redis.hget(conn.keys.queue("work").job(jobs["running"].id), "stop") is not None
    assert jobs["dead"].state == "queued"
    config = Queue("work", conn).config()
    assert (config.concurrency, str(config.rate_limit), config.paused) == (7, "30/m", True)
    assert list_cron(conn) == []


def test_a_session_action_needs_the_csrf_token_and_this_origin(
    client: TestClient, conn: Connection, jobs: dict[str, Job]
) -> None:
    csrf = login(client)
    path = f"/api/jobs/{jobs['queued'].id}/cancel"
    refused = {
        "no csrf header": {"Origin": ORIGIN},
        "wrong csrf header": {"Origin": ORIGIN, "X-CSRF-Token": "0" * 64},
        "other origin": {"Origin": "http://evil.example", "X-CSRF-Token": csrf},
        "other referer": {"Referer": "http://evil.example/page", "X-CSRF-Token": csrf},
        "no origin or referer": {"X-CSRF-Token": csrf},
    }
    for what, headers in refused.items():
        reply = client.post(path, json={}, headers=headers)
        assert reply.status_code == 403, (what, reply.text)
    assert jobs["queued"].state == "queued"
    reply = client.post(path, json={}, headers={"Origin": ORIGIN, "X-CSRF-Token": csrf})
    assert reply.status_code == 200, reply.text
    assert jobs["queued"].state == "cancelled"


def test_the_csrf_token_is_bound_to_its_cookie(
    client: TestClient, make_client: Callable[..., TestClient], jobs: dict[str, Job]
) -> None:
    """A token read by one browser (or from another app's key) does not pass with another cookie."""
    login(client)
    other = make_client(token=TOKEN)
    foreign = other.get("/api/meta").json()["csrf"]
    reply = client.post(
        f"/api/jobs/{jobs['queued'].id}/cancel", json={}, headers={"Origin": ORIGIN, "X-CSRF-Token": foreign}
    )
    assert reply.status_code == 403


def test_login_sets_a_strict_http_only_session_cookie(client: TestClient) -> None:
    client.get("/api/meta")
    assert (
        client.post(
            "/api/session", json={"token": "wrong-token-of-some-length"}, headers={"Origin": ORIGIN}
        ).status_code
        == 401
    )
    assert (
        client.post(
            "/api/session", json={"token": TOKEN}, headers={"Origin": "http://evil.example"}
        ).status_code
        == 403
    )
    reply = client.post("/api/session", json={"token": TOKEN}, headers={"Origin": ORIGIN})
    assert reply.status_code == 200
    cookies = [v for k, v in reply.headers.multi_items() if k == "set-cookie"]
    session = next(c for c in cookies if c.startswith("rqueues_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session and "Path=/" in session
    assert f"Max-Age={SESSION_SECONDS}" in session
    assert client.get("/api/overview").status_code == 200
    assert client.get("/api/meta").json()["authenticated"] is True
    client.post("/api/session/logout")
    assert client.get("/api/overview").status_code == 401


def test_a_form_login_works_too(client: TestClient) -> None:
    reply = client.post(
        "/api/session",
        content=f"token={TOKEN}",
        headers={"Origin": ORIGIN, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert reply.status_code == 200


def test_sessions_expire_and_cannot_be_forged() -> None:
    sec = Security(token=TOKEN)
    session = sec.new_session(now=1000.0)
    assert sec.session_valid(session, now=1000.0 + SESSION_SECONDS - 1)
    assert not sec.session_valid(session, now=1000.0 + SESSION_SECONDS + 1)
    nonce, expiry, mac = session.split(".")
    assert not sec.session_valid(f"{nonce}.{int(expiry) + 10_000}.{mac}", now=1000.0)  # a longer life
    assert not Security(token=TOKEN).session_valid(session, now=1000.0)  # another app's key
    for junk in ("", "x", "a.b.c", "..", "a.1.", "a.1"):
        assert not sec.session_valid(junk)


def test_basic_auth_is_exempt_from_the_token_but_not_from_the_origin_check(
    make_client: Callable[..., TestClient], jobs: dict[str, Job]
) -> None:
    client = make_client(basic=("ops", "pa55word-long"))
    good = {"Authorization": "Basic " + base64.b64encode(b"ops:pa55word-long").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"ops:guess").decode()}
    path = f"/api/jobs/{jobs['queued'].id}/cancel"
    assert client.get("/api/overview", headers=bad).status_code == 401
    assert client.post(path, json={}, headers=bad).status_code == 401
    assert client.post(path, json={}, headers={**good, "Origin": "http://evil.example"}).status_code == 403
    assert client.post(path, json={}, headers=good).status_code == 200
    # and the login form takes the same user and password
    assert (
        client.post(
            "/api/session", json={"user": "ops", "password": "guess"}, headers={"Origin": ORIGIN}
        ).status_code
        == 401
    )
    ok = client.post(
        "/api/session", json={"user": "ops", "password": "pa55word-long"}, headers={"Origin": ORIGIN}
    )
    assert ok.status_code == 200


def test_mounted_under_a_prefix_with_the_host_apps_auth_hook(conn: Connection, jobs: dict[str, Job]) -> None:
    def hook(request: Request) -> bool:
        return request.headers.get("x-user") == "operator"

    host = Starlette(routes=[Mount("/ops", app=create_app(conn, auth=hook, prefix="/ops"))])
    client = TestClient(host)
    page = client.get("/ops/")
    assert page.status_code == 200 and 'src="static/app.js"' in page.text  # relative: works under any prefix
    assert client.get("/ops/static/app.js").status_code == 200
    assert client.get("/ops/api/overview").status_code == 401
    assert client.get("/ops/api/overview", headers={"x-user": "operator"}).status_code == 200
    meta = client.get("/ops/api/meta", headers={"x-user": "operator"})
    assert "Path=/ops" in meta.headers["set-cookie"]
    csrf = meta.json()["csrf"]
    path = f"/ops/api/jobs/{jobs['queued'].id}/cancel"
    # the hook's users are cookie users of the host app: CSRF applies to them
    assert client.post(path, json={}, headers={"x-user": "operator", "Origin": ORIGIN}).status_code == 403
    reply = client.post(path, json={}, headers={"x-user": "operator", "Origin": ORIGIN, "X-CSRF-Token": csrf})
    assert reply.status_code == 200, reply.text
    assert jobs["queued"].state == "cancelled"


def test_bad_settings_are_refused_by_name(conn: Connection) -> None:
    with pytest.raises(ConfigurationError, match="at least 16"):
        create_app(conn, token="short")
    with pytest.raises(ConfigurationError, match="user and a password"):
        create_app(conn, basic=("ops", ""))
    with pytest.raises(ConfigurationError, match="start with '/'"):
        create_app(conn, prefix="ops")
