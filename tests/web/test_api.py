"""The JSON API the page uses: what it shows, the actions' outcomes, escaping, input checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import reporting_jobs
import tasks
from starlette.testclient import TestClient
from web_helpers import BEARER, claim_as, dead_letter

from rqueues import Connection, Queue, RetryPolicy, Worker
from rqueues.cron import add_cron
from rqueues.job import JobRecord
from rqueues.web.app import STATIC, create_app

SCRIPT = "<script>alert('x')</script>"
IMG = '<img src=x onerror="alert(1)">'


def test_overview_shows_every_queue_with_its_counts_and_state(client: TestClient, conn: Connection) -> None:
    q = Queue("busy", conn)
    q.declare(concurrency=2)
    q.enqueue_many([(tasks.add, (i, 1), {}) for i in range(3)])
    Queue("empty", conn).declare()
    data = client.get("/api/overview", headers=BEARER).json()
    rows = {r["name"]: r for r in data["queues"]}
    assert set(rows) == {"busy", "empty"}
    busy = rows["busy"]
    assert (busy["concurrency"], busy["waiting"], busy["in_use"], busy["dead"]) == (2, 3, 0, 0)
    assert busy["state"] == "no-consumer"  # waiting, and no worker consumes it
    assert busy["oldest_waiting_seconds"] is not None
    for key in ("scheduled", "succeeded_per_second", "failed_per_second", "p95_wait_seconds", "consumers"):
        assert key in busy
    assert rows["empty"]["state"] == "idle"


def test_queue_page_data_and_its_jobs_by_state_page_by_page(client: TestClient, conn: Connection) -> None:
    q = Queue("pages", conn)
    q.declare(concurrency=1, tags=["has=gpu"], retry=RetryPolicy(retries=2))
    ids = [j.id for j in q.enqueue_many([(tasks.add, (i, 1), {}) for i in range(23)])]
    data = client.get("/api/queues/pages", headers=BEARER).json()["queue"]
    assert data["tags"] == ["has=gpu"] and data["config"]["retries"] == 2
    seen, cursor = [], None
    for _ in range(10):  # bounded: 3 pages expected
        params = {"state": "queued", "limit": "10", **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/queues/pages/jobs", params=params, headers=BEARER).json()
        assert len(page["jobs"]) <= 10
        seen += [j["id"] for j in page["jobs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids  # queued: next to run first, none skipped or repeated
    row = client.get("/api/queues/pages/jobs", params={"limit": "1"}, headers=BEARER).json()["jobs"][0]
    assert set(row) >= {"id", "function", "state", "attempts", "enqueued_at", "worker"}
    assert "args" not in row and "result" not in row  # a listing shows no call


def test_dead_letters_newest_first_across_queues_with_the_reason(
    client: TestClient, conn: Connection, dead_queue: Queue
) -> None:
    jobs = [dead_queue.enqueue(tasks.add, i, 1) for i in range(2)]
    dead_letter(conn, "deadq", jobs)
    page = client.get("/api/jobs", params={"state": "dead"}, headers=BEARER).json()
    assert {j["id"] for j in page["jobs"]} == {j.id for j in jobs}
    assert all("max_reclaims 0" in j["reason"] for j in page["jobs"])


def test_job_detail_with_errors_and_tracebacks(client: TestClient, conn: Connection) -> None:
    q = Queue("failing", conn)
    q.declare()
    job = q.enqueue(tasks.fail, "it broke")
    Worker(conn, queues=["failing"], imports=["tasks"], burst=True, reaper=False).run(install_signals=False)
    data = client.get(f"/api/jobs/{job.id}", headers=BEARER).json()
    assert data["state"] == "failed" and data["function"] == "tasks:fail"
    assert data["args"] == ["it broke"] and data["kwargs"] == {}
    assert data["error"]["type"] == "ValueError" and "it broke" in data["error"]["traceback"]
    assert data["errors"][0]["attempt"] == 1
    assert data["actions"] == ["requeue"]
    assert data["worker"]


def test_job_found_by_id_alone_or_with_its_queue(client: TestClient, conn: Connection) -> None:
    q = Queue("named", conn)
    q.declare()
    job = q.options(job_id="nightly-42").enqueue(tasks.add, 1, 2)
    assert client.get("/api/jobs/nightly-42", headers=BEARER).json()["queue"] == "named"
    assert client.get("/api/jobs/nightly-42", params={"queue": "named"}, headers=BEARER).status_code == 200
    assert client.get(f"/api/jobs/{job.id}", params={"queue": "other"}, headers=BEARER).status_code == 404
    missing = client.get("/api/jobs/no-such-job", headers=BEARER)
    assert missing.status_code == 404 and "no job 'no-such-job'" in missing.json()["error"]


def test_a_script_argument_comes_back_as_data_never_as_markup(client: TestClient, conn: Connection) -> None:
    q = Queue("xss", conn)
    q.declare()
    job = q.options(job_id="x<b>y").enqueue(tasks.echo, SCRIPT, note=IMG)
    reply = client.get(f"/api/jobs/{job.id}", headers=BEARER)
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["x-content-type-options"] == "nosniff"
    data = reply.json()
    assert data["args"] == [SCRIPT] and data["kwargs"] == {"note": IMG} and data["id"] == "x<b>y"


def test_the_page_puts_no_data_in_html_and_its_script_never_writes_markup(client: TestClient) -> None:
    page = client.get("/")
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert (
        "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    )
    assert "<script>" not in page.text  # the one script is a file: no inline code to inject into
    script = (STATIC / "app.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink


def test_a_redaction_hook_decides_what_the_job_page_shows(
    make_client: Callable[..., TestClient], conn: Connection
) -> None:
    def redact(record: JobRecord) -> dict[str, object]:
        call = record.call()
        args = call[0] if call else []
        return {"args": ["***" if str(a).startswith("pw=") else a for a in args], "kwargs": {}}

    q = Queue("secret", conn)
    q.declare()
    job = q.enqueue(tasks.echo, "pw=hunter2", "visible", token="abc")
    data = make_client(redact=redact).get(f"/api/jobs/{job.id}").json()
    assert data["args"] == ["***", "visible"] and data["kwargs"] == {}
    assert "hunter2" not in str(data)


@pytest.mark.parametrize(
    ("path", "params", "what"),
    [
        ("/api/jobs/bad id", {}, "invalid job id"),
        ("/api/jobs/" + "x" * 300, {}, "invalid job id"),
        ("/api/jobs/tab%09id", {}, "invalid job id"),
        ("/api/jobs/ok", {"queue": "no spaces"}, "invalid queue name"),
        ("/api/queues/bad$name", {}, "invalid queue name"),
        ("/api/queues/bad$name/jobs", {}, "invalid queue name"),
        ("/api/jobs", {"state": "exploded"}, "unknown state"),
        ("/api/jobs", {"limit": "many"}, "limit must be an integer"),
        ("/api/jobs", {"limit": "0"}, "limit must be an integer"),
        ("/api/jobs", {"cursor": "not-a-cursor"}, "invalid cursor"),
    ],
)
def test_bad_input_is_refused_before_redis_is_asked(path: str, params: dict[str, str], what: str) -> None:
    """A dashboard over a Redis that cannot be reached answers 400, not 503: nothing was sent."""
    dead = redis.Redis(port=1, socket_connect_timeout=0.2)
    client = TestClient(create_app(dead))
    reply = client.get(path, params=params)
    assert reply.status_code == 400, reply.text
    assert what in reply.json()["error"]


def test_bad_input_of_actions(client: TestClient, conn: Connection) -> None:
    Queue("work", conn).declare(concurrency=3)
    for value in ("many", -1, 10**9, True, None, 1.5):
        reply = client.post("/api/queues/work/concurrency", json={"concurrency": value}, headers=BEARER)
        assert reply.status_code == 400, (value, reply.text)
        assert "concurrency must be" in reply.json()["error"]
    assert client.post("/api/queues/work/concurrency", content=b"[1]", headers=BEARER).status_code == 400
    huge = b'{"concurrency": 1, "pad": "' + b"x" * 70_000 + b'"}'
    reply = client.post("/api/queues/work/concurrency", content=huge, headers=BEARER)
    assert reply.status_code == 400 and "at most" in reply.json()["error"]
    assert (
        client.post("/api/queues/nope/concurrency", json={"concurrency": 1}, headers=BEARER).status_code
        == 404
    )
    assert client.post("/api/jobs/bad id/cancel", headers=BEARER).status_code == 400
    assert client.post("/api/jobs/nope/cancel", headers=BEARER).status_code == 404
    assert Queue("work", conn).config().concurrency == 3


def test_an_action_on_a_job_in_another_state_says_why(client: TestClient, conn: Connection) -> None:
    q = Queue("work", conn)
    q.declare()
    job = q.enqueue(tasks.add, 1, 2)
    for action, needs in (("stop", "not running"), ("requeue", "not dead or failed")):
        reply = client.post(f"/api/jobs/{job.id}/{action}", headers=BEARER)
        assert reply.status_code == 409 and needs in reply.json()["error"], reply.text
    claim_as(conn, "work")
    reply = client.post(f"/api/jobs/{job.id}/cancel", headers=BEARER)
    assert (
        reply.status_code == 409
        and f"job {job.id} is running, not queued, scheduled or deferred" in reply.json()["error"]
    )


def test_concurrency_changes_alone_and_requeue_all_of_a_queue(
    client: TestClient, conn: Connection, dead_queue: Queue
) -> None:
    jobs = [dead_queue.enqueue(tasks.add, i, 1) for i in range(3)]
    dead_letter(conn, "deadq", jobs)
    dead_queue.declare(concurrency=1, tags=["has=gpu"], max_reclaims=0, result_ttl=600)
    reply = client.post("/api/queues/deadq/concurrency", json={"concurrency": "4"}, headers=BEARER)
    assert reply.status_code == 200 and reply.json()["concurrency"] == 4
    config = dead_queue.config()
    assert (config.concurrency, config.tags, config.max_reclaims, config.result_ttl) == (
        4,
        ("has=gpu",),
        0,
        600,
    )
    done = client.post("/api/queues/deadq/requeue-dead", headers=BEARER).json()
    assert (done["requeued"], done["skipped"]) == (3, 0)
    assert {j.state for j in jobs} == {"queued"}
    assert client.post("/api/queues/deadq/requeue-dead", headers=BEARER).json()["requeued"] == 0


def test_workers_with_tags_queues_slots_and_running_jobs(
    client: TestClient,
    conn: Connection,
    start_worker: Callable[..., Worker],
    wait_until: Callable[..., object],
) -> None:
    q = Queue("slow", conn)
    q.declare()
    job = q.enqueue(tasks.wait_for_cancel, 30)
    start_worker(queues=["slow"], tags=["has=gpu"], concurrency=2, refresh_seconds=0.1)

    def listed() -> dict[str, object] | None:
        workers = client.get("/api/workers", headers=BEARER).json()["workers"]
        return next((w for w in workers if job.id in w["jobs"]), None)

    worker = wait_until(listed, timeout=15, what="the worker to report its running job")
    assert isinstance(worker, dict)
    assert "has=gpu" in worker["tags"] and worker["queues"] == ["slow"]
    assert worker["concurrency"] == 2 and worker["running"] == 1
    assert worker["running_functions"] == {"tasks.wait_for_cancel": 1}
    assert worker["heartbeat_age_seconds"] >= 0
    client.post(f"/api/jobs/{job.id}/stop", headers=BEARER)


def test_static_files_ship_with_the_package() -> None:
    names = {p.name for p in Path(STATIC).iterdir()}
    assert {"index.html", "app.js", "app.css"} <= names
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert re.search(r'"rqueues\.web" = \["static/\*\.html", "static/\*\.js", "static/\*\.css"\]', pyproject)


def test_job_detail_shows_progress_gpus_and_dependencies(
    client: TestClient,
    conn: Connection,
    redis_url: str,
    start_worker: Callable[..., Worker],
    wait_until: Callable[..., object],
) -> None:
    gpu = Queue("gpuq", conn)
    gpu.declare()
    pipe = conn.redis.pipeline(
        transaction=True
    )  # the GPU setting, as tests/integration/test_gpus.py stores it
    pipe.hset(gpu.keys.config, "gpus_per_job", 1)
    pipe.hincrby(gpu.keys.config, "version", 1)
    pipe.execute()
    Queue("plain", conn).declare()
    parent = gpu.enqueue(reporting_jobs.progress_gated, redis_url, "web:gate")
    child = Queue("plain", conn).options(depends_on=[parent]).enqueue(tasks.add, 1, 2)
    waiting = client.get(f"/api/jobs/{child.id}", headers=BEARER).json()
    assert waiting["state"] == "deferred" and waiting["actions"] == ["cancel"]
    assert [p["id"] for p in waiting["parents"]] == [parent.id]
    start_worker(imports=["tasks", "reporting_jobs"], gpus="0", queues=["gpuq", "plain"], refresh_seconds=0.1)

    def reported() -> dict[str, object] | None:
        data: dict[str, object] = client.get(f"/api/jobs/{parent.id}", headers=BEARER).json()
        return data if data.get("progress") else None

    data = wait_until(reported, timeout=15, what="the parent's progress report")
    assert isinstance(data, dict)
    assert data["progress"]["fraction"] == 0.5 and data["progress"]["message"] == "half way"
    assert data["gpus"] == ["0"]
    assert [d["id"] for d in data["dependents"]] == [child.id]
    workers = client.get("/api/workers", headers=BEARER).json()["workers"]
    assert workers[0]["gpus"] == {"0": [parent.id]}
    config = client.get("/api/queues/gpuq", headers=BEARER).json()["queue"]["config"]
    assert config["gpus_per_job"] == 1
    conn.redis.rpush("web:gate", "go")
    assert child.wait(timeout=15) == 3


def test_pause_resume_and_the_rate_limit_keep_every_other_setting(
    client: TestClient, conn: Connection
) -> None:
    q = Queue("work", conn)
    q.declare(concurrency=2, tags=["has=gpu"], rate_limit="10/s")
    assert client.post("/api/queues/work/pause", headers=BEARER).json() == {"queue": "work", "paused": True}
    row = client.get("/api/queues/work", headers=BEARER).json()["queue"]
    assert row["paused"] is True and row["state"] == "paused" and row["config"]["rate_limit"] == "10/s"
    reply = client.post("/api/queues/work/rate-limit", json={"rate_limit": "30/m"}, headers=BEARER)
    assert reply.status_code == 200 and reply.json()["rate_limit"] == "30/m"
    config = q.config()
    assert (str(config.rate_limit), config.concurrency, config.tags, config.paused) == (
        "30/m",
        2,
        ("has=gpu",),
        True,
    )
    for bad in ("fast", 5, "0/s"):
        reply = client.post("/api/queues/work/rate-limit", json={"rate_limit": bad}, headers=BEARER)
        assert reply.status_code == 400, (bad, reply.text)
    assert (
        client.post("/api/queues/work/rate-limit", json={"rate_limit": None}, headers=BEARER).status_code
        == 200
    )
    assert q.config().rate_limit is None
    client.post("/api/queues/work/resume", headers=BEARER)
    assert q.config().paused is False
    assert client.post("/api/queues/nope/pause", headers=BEARER).status_code == 404
    assert client.post("/api/queues/bad$name/pause", headers=BEARER).status_code == 400


def test_periodic_jobs_with_their_last_and_next_run(client: TestClient, conn: Connection) -> None:
    Queue("work", conn).declare()
    add_cron(conn, "nightly", "0 3 * * *", "work", tasks.add, (1, 2), tz="Europe/Paris")
    schedules = client.get("/api/cron", headers=BEARER).json()["schedules"]
    assert len(schedules) == 1
    one = schedules[0]
    assert (one["name"], one["queue"], one["schedule"], one["tz"]) == (
        "nightly",
        "work",
        "0 3 * * *",
        "Europe/Paris",
    )
    assert one["function"] == "tasks:add" and one["last_run"] is None and one["next_run"]
    assert client.post("/api/cron/bad name/remove", headers=BEARER).status_code == 400
    assert client.post("/api/cron/other/remove", headers=BEARER).status_code == 404
    assert (
        client.post("/api/cron/nightly/remove", params={"queue": "work"}, headers=BEARER).status_code == 200
    )
    assert client.get("/api/cron", headers=BEARER).json()["schedules"] == []
