"""The dashboard in a real browser: Debian's chromium driven by Playwright, against `rqueues web`
and `rqueues worker` processes on the test server.

Screenshots of each page go to build/screenshots/ (or $RQUEUES_SCREENSHOTS). Without chromium
or Playwright the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import reporting_jobs
import tasks
from web_helpers import TOKEN, dead_letter

from rqueues import Connection, Queue
from rqueues.cron import add_cron, list_cron

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("RQUEUES_SCREENSHOTS") or ROOT / "build" / "screenshots")
STEP = 15_000  # ms: the longest any step may take; the page polls every 1.5 s


def _missing(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why} (CI=true: the browser tests must run; .ci/run installs chromium)")
    pytest.skip(why)


def _chromium() -> str:
    found = os.environ.get("RQUEUES_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        _missing("no chromium on PATH: apt-get install chromium")
    return str(found)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = _chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright is not installed: pip install '.[dev]'")
    with sync_playwright() as pw:
        # --no-sandbox: CI and these machines run as root, where chromium's sandbox refuses to start.
        launched = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    tab = context.new_page()
    tab.set_default_timeout(STEP)
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP)
    tab.on("dialog", lambda dialog: dialog.accept())  # the confirm() of stop, cancel, requeue
    yield tab
    context.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def web_server(redis_url: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """web_server(*args, token=TOKEN): `rqueues web` in a child process; its URL once it answers."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, token: str | None = TOKEN) -> str:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "RQUEUES_WEB_TOKEN"}
        if token:
            env["RQUEUES_WEB_TOKEN"] = token
        log = tmp_path / f"web-{port}.log"
        cmd = [
            sys.executable,
            "-m",
            "rqueues.cli",
            "web",
            "--redis-url",
            redis_url,
            "--port",
            str(port),
            *args,
        ]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        started.append(proc)
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(url + "api/meta", timeout=1) as reply:
                    if reply.status == 200:
                        return url
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"rqueues web did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def cell(page: Any, queue: str, column: str) -> Any:
    return page.locator(f'tr[data-queue="{queue}"] td[data-col="{column}"]')


def test_the_dashboard_in_a_browser(
    page: Any,
    conn: Connection,
    redis_url: str,
    web_server: Callable[..., str],
    worker_process: Callable[..., Any],
) -> None:
    from playwright.sync_api import expect

    # A dead letter, made before any worker runs (its reaper would not wait for this one).
    dead_queue = Queue("deadq", conn)
    dead_queue.declare(max_reclaims=0)
    dead = dead_queue.enqueue(tasks.add, 20, 22)
    dead_letter(conn, "deadq", [dead])
    Queue("capped", conn).declare(concurrency=2)
    Queue("slow", conn).declare()
    gpu = Queue("gpuq", conn)
    gpu.declare()
    pipe = conn.redis.pipeline(
        transaction=True
    )  # one GPU per job, as tests/integration/test_gpus.py stores it
    pipe.hset(gpu.keys.config, "gpus_per_job", 1)
    pipe.hincrby(gpu.keys.config, "version", 1)
    pipe.execute()
    worker = worker_process(
        "--queues",
        "capped,slow,deadq,gpuq",
        "--concurrency",
        "4",
        "--import",
        "reporting_jobs",
        "--gpus",
        "0",
    )
    url = web_server()

    # Log in with the token.
    page.goto(url)
    page.locator("#login-token").wait_for()
    shot(page, "login")
    page.fill("#login-token", TOKEN)
    page.click("#login button[type=submit]")
    expect(cell(page, "capped", "state")).to_have_text("idle")
    page.evaluate("window.__sameDocument = true")

    # The overview follows the counts live: 2 run (the limit), 2 wait; then all finish.
    gate = "web:gate"
    calls = [(tasks.gated, (redis_url, "web:log", gate, 30.0), {}) for _ in range(4)]
    Queue("capped", conn).enqueue_many(calls)
    expect(cell(page, "capped", "in_use")).to_have_text("2")
    expect(cell(page, "capped", "waiting")).to_have_text("2")
    expect(cell(page, "capped", "state")).to_have_text("limit-bound")
    shot(page, "overview")
    conn.redis.rpush(gate, *["go"] * 4)
    expect(cell(page, "capped", "waiting")).to_have_text("0")
    expect(cell(page, "capped", "in_use")).to_have_text("0")
    assert page.evaluate("window.__sameDocument") is True  # updated in place, never reloaded

    # A job's page follows its progress, and names the GPU it was given.
    reporting = gpu.enqueue(reporting_jobs.progress_gated, redis_url, "web:progress")
    page.goto(f"{url}#/jobs/{reporting.id}")
    expect(page.locator('dd[data-field="progress"]')).to_contain_text("50% half way")
    expect(page.locator('dd[data-field="gpus"]')).to_have_text("0")
    shot(page, "job")
    conn.redis.rpush("web:progress", "go")
    expect(page.locator('dd[data-field="state"]')).to_have_text("succeeded")
    expect(page.locator('dd[data-field="progress"]')).to_contain_text("100% done")

    # Find a running job by its id, stop it, see it end cancelled.
    running = Queue("slow", conn).enqueue(tasks.wait_for_cancel, 30)
    page.fill("#search-id", running.id)
    page.press("#search-id", "Enter")
    expect(page.locator("#job-id")).to_have_text(running.id)
    expect(page.locator('dd[data-field="state"]')).to_have_text("running")
    expect(page.locator('dd[data-field="worker"]')).to_have_text(worker.worker_id)

    # Workers: the worker process with its queues, the slot in use and the job it runs.
    page.goto(f"{url}#/workers")
    row = page.locator(f'tr[data-worker="{worker.worker_id}"]')
    expect(row.locator('td[data-col="queues"]')).to_have_text("capped, slow, deadq, gpuq")
    expect(row.locator('td[data-col="gpus"]')).to_have_text("0: free")
    expect(row.locator('td[data-col="slots"]')).to_have_text("1/4")
    expect(row.locator('td[data-col="jobs"]')).to_have_text(running.id)
    shot(page, "workers")
    row.locator(f'td[data-col="jobs"] a:text-is("{running.id}")').click()
    expect(page.locator("#job-id")).to_have_text(running.id)
    page.click('button[data-action="stop"]')
    expect(page.locator('dd[data-field="state"]')).to_have_text("cancelled")
    assert running.state == "cancelled"

    # An argument that is markup shows as text and runs nothing.
    markup = Queue("slow", conn).enqueue(
        tasks.echo, "<script>window.__pwned = 1</script>", note="<img src=x onerror=window.__pwned=2>"
    )
    page.goto(f"{url}#/jobs/{markup.id}")
    expect(page.locator('dd[data-field="state"]')).to_have_text("succeeded")
    expect(page.locator("#job-args")).to_contain_text("<script>window.__pwned = 1</script>")
    expect(page.locator("#job-kwargs")).to_contain_text("<img src=x onerror=window.__pwned=2>")
    assert page.locator("main img, main script").count() == 0
    assert page.evaluate("window.__pwned") is None

    # Requeue the dead letter from the dead letters page; it runs and succeeds.
    page.goto(f"{url}#/dead")
    row = page.locator(f'tr[data-job="{dead.id}"]')
    expect(row.locator('td[data-col="error"]')).to_contain_text("max_reclaims 0")
    shot(page, "dead")
    row.locator('button[data-action="requeue"]').click()
    expect(row).to_have_count(0)
    page.goto(f"{url}#/jobs/{dead.id}")
    expect(page.locator('dd[data-field="state"]')).to_have_text("succeeded")
    expect(page.locator("#job-result")).to_have_text("42")

    # A queue's page: jobs by state, and its limit changed live.
    page.goto(f"{url}#/queues/capped?state=succeeded")
    expect(page.locator("tr[data-job]")).to_have_count(4)
    page.fill("#concurrency-input", "3")
    page.click('button[data-action="concurrency"]')
    expect(page.locator('.card[data-col="concurrency"] .value')).to_have_text("3")
    assert Queue("capped", conn).config().concurrency == 3
    page.fill("#rate-input", "20/m")
    page.click('button[data-action="rate-limit"]')
    expect(page.locator('.card[data-col="rate"] .value')).to_have_text("20/m")
    assert str(Queue("capped", conn).config().rate_limit) == "20/m"
    shot(page, "queue")

    # Paused, the queue starts nothing; resumed, its job runs.
    page.click('button[data-action="pause"]')
    expect(page.locator("h2 .badge")).to_have_text("paused")
    held = Queue("capped", conn).enqueue(tasks.add, 2, 3)
    expect(page.locator('.card[data-col="waiting"] .value')).to_have_text("1")
    deadline = time.monotonic() + 3  # two of the page's polls, and more than a worker's refresh
    while time.monotonic() < deadline:
        assert held.state == "queued"
        assert page.locator('.card[data-col="in_use"] .value').text_content() == "0"
        time.sleep(0.25)
    page.click('button[data-action="resume"]')
    expect(page.locator('.card[data-col="waiting"] .value')).to_have_text("0")
    assert held.wait(timeout=15) == 5

    # Periodic jobs: listed with their next run, removed from the page.
    add_cron(conn, "nightly-report", "0 3 * * *", "slow", tasks.noop, tz="Europe/Paris")
    page.goto(f"{url}#/cron")
    row = page.locator('tr[data-cron="nightly-report"]')
    expect(row.locator('td[data-col="schedule"]')).to_have_text("0 3 * * * (Europe/Paris)")
    expect(row.locator('td[data-col="next_run"]')).not_to_have_text("-")
    shot(page, "cron")
    row.locator('button[data-action="remove-cron"]').click()
    expect(row).to_have_count(0)
    assert list_cron(conn) == []


def test_read_only_shows_no_action(
    page: Any, conn: Connection, web_server: Callable[..., str], worker_process: Callable[..., Any]
) -> None:
    from playwright.sync_api import expect

    dead_queue = Queue("deadq", conn)
    dead_queue.declare(max_reclaims=0)
    dead = dead_queue.enqueue(tasks.add, 1, 1)
    dead_letter(conn, "deadq", [dead])
    waiting = Queue("idle", conn)
    waiting.declare()
    queued = waiting.enqueue(tasks.add, 2, 2)  # no worker consumes 'idle': it stays queued
    add_cron(conn, "hourly", "0 * * * *", "idle", tasks.noop)
    worker = worker_process("--queues", "deadq")
    url = web_server("--read-only", token=None)

    pages = {
        "": cell(page, "idle", "waiting"),
        "#/queues/idle": page.locator(f'tr[data-job="{queued.id}"]'),
        f"#/jobs/{queued.id}": page.locator('dd[data-field="state"]'),
        "#/dead": page.locator(f'tr[data-job="{dead.id}"]'),
        "#/workers": page.locator(f'tr[data-worker="{worker.worker_id}"]'),
        "#/cron": page.locator('tr[data-cron="hourly"]'),
    }
    for hash_, loaded in pages.items():
        page.goto(url + hash_)
        expect(loaded).to_be_visible()
        expect(page.locator("#status")).to_contain_text("read-only")
        assert page.locator("button.action, [data-action], #concurrency-input").count() == 0, hash_
        if not hash_:
            shot(page, "read-only")
    refused = page.request.post(f"{url}api/jobs/{queued.id}/cancel", headers={"Origin": url.rstrip("/")})
    assert refused.status == 403
    assert queued.state == "queued"
