"""Job listings page through per-state indexes: every job once, in order, never a SCAN,
and a page's cost does not grow with the number of jobs."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

import pytest
import tasks
from click.testing import CliRunner, Result

from rqueues import Connection, JobOptions, Queue, connect, defaults
from rqueues.cli import main
from rqueues.errors import ConfigurationError
from rqueues.observe.cursor import Cursor
from rqueues.observe.listing import JobPage, list_jobs

MAX_PAGES = 1000  # bounds every paging loop


def fill_finished(conn: Connection, queue: str, state: str, scores: list[int], tag: str = "j") -> list[str]:
    """Finished records and their index entries written directly, as a worker leaves them."""
    keys = conn.keys.queue(queue)
    pipe = conn.redis.pipeline(transaction=False)
    ids = [f"{tag}{i:05d}" for i in range(len(scores))]
    for job_id, score in zip(ids, scores, strict=True):
        pipe.hset(keys.job(job_id), mapping={"state": state, "function": "f", "finished_at": score})
        pipe.zadd(keys.finished(state), {job_id: score})
    pipe.execute()
    return ids


def fill_dead(conn: Connection, queue: str, count: int) -> list[str]:
    keys = conn.keys.queue(queue)
    ids = []
    for i in range(count):
        job_id = f"dead{i:05d}"
        conn.redis.hset(keys.job(job_id), mapping={"state": "dead", "function": "f", "reason": "r"})
        conn.redis.xadd(keys.dead, {"job": job_id, "entry": "1-0", "at": "1", "reason": "r"})
        ids.append(job_id)
    return ids


def pages(conn: Connection, queues: list[str] | None, state: str | None, limit: int) -> list[JobPage]:
    out = [list_jobs(conn, queues, state, limit)]
    while out[-1].next_cursor is not None:
        assert len(out) < MAX_PAGES, "the cursor never ended"
        out.append(list_jobs(conn, queues, state, limit, out[-1].next_cursor))
    return out


def ids_of(listed: list[JobPage]) -> list[str]:
    return [r.id for page in listed for r in page]


def newest_first(scores: dict[str, int]) -> list[str]:
    return sorted(scores, key=lambda j: (scores[j], j), reverse=True)


@pytest.fixture
def q(conn: Connection) -> Queue:
    queue = Queue("default", conn)
    queue.declare()
    return queue


@pytest.mark.parametrize("state", ["succeeded", "failed", "cancelled"])
def test_a_finished_state_pages_through_every_job_once_newest_first(
    conn: Connection, q: Queue, state: str
) -> None:
    # Groups of four jobs finished in the same millisecond, as one completion batch leaves them.
    scores = [1_700_000_000_000 + (i // 4) for i in range(23)]
    ids = fill_finished(conn, "default", state, scores)
    fill_finished(conn, "default", "succeeded" if state != "succeeded" else "failed", [1] * 5, tag="other")

    listed = pages(conn, ["default"], state, 5)

    assert [len(p) for p in listed] == [5, 5, 5, 5, 3]
    assert ids_of(listed) == newest_first(dict(zip(ids, scores, strict=True)))
    assert {r.state for p in listed for r in p} == {state}


def test_pages_of_several_queues_merge_newest_first(conn: Connection) -> None:
    for name in ("a", "b"):
        Queue(name, conn).declare()
    a = fill_finished(conn, "a", "failed", [10, 30, 50, 70], tag="a")
    b = fill_finished(conn, "b", "failed", [20, 40, 60], tag="b")

    listed = pages(conn, None, "failed", 2)

    assert ids_of(listed) == [a[3], b[2], a[2], b[1], a[1], b[0], a[0]]
    assert [r.queue for r in listed[0]] == ["a", "b"]


def test_a_member_that_left_the_index_does_not_lose_the_page_after_it(conn: Connection, q: Queue) -> None:
    ids = fill_finished(conn, "default", "succeeded", [100, 90, 90, 80, 70])
    first = list_jobs(conn, ["default"], "succeeded", 2)
    conn.redis.zrem(conn.keys.queue("default").finished("succeeded"), first[-1].id)  # trimmed meanwhile
    rest = pages(conn, ["default"], "succeeded", 2)
    assert [r.id for r in first] == [ids[0], ids[2]]
    second = list_jobs(conn, ["default"], "succeeded", 10, first.next_cursor)
    assert [r.id for r in second] == [ids[1], ids[3], ids[4]]
    assert ids_of(rest) == [ids[0], ids[1], ids[3], ids[4]]


def test_queued_scheduled_and_dead_pages_in_their_own_order(conn: Connection, q: Queue) -> None:
    waiting = q.enqueue_many([(tasks.add, (i, i), {}) for i in range(7)])
    later = q.enqueue_many([(tasks.noop, (), {}, JobOptions(delay=600 + i)) for i in (5, 1, 3, 2, 4)])
    dead = fill_dead(conn, "default", 4)

    assert ids_of(pages(conn, ["default"], "queued", 3)) == [j.id for j in waiting]
    due = sorted(zip((5, 1, 3, 2, 4), later, strict=True), key=lambda p: p[0])
    assert ids_of(pages(conn, ["default"], "scheduled", 2)) == [j.id for _, j in due]
    assert ids_of(pages(conn, ["default"], "dead", 3)) == dead[::-1]


def test_a_cancelled_job_still_in_the_stream_is_listed_once_as_cancelled(conn: Connection, q: Queue) -> None:
    kept, cancelled = q.enqueue(tasks.noop), q.enqueue(tasks.noop)
    assert cancelled.cancel()  # its entry stays in the stream as a tombstone
    assert [r.id for r in list_jobs(conn, ["default"], "queued")] == [kept.id]
    assert [r.id for r in list_jobs(conn, ["default"], "cancelled")] == [cancelled.id]
    assert [r.id for r in list_jobs(conn, ["default"])] == [kept.id, cancelled.id]


def test_running_jobs_page_from_the_leases(
    conn: Connection, q: Queue, redis_url: str, quick_worker: Any, wait_until: Any
) -> None:
    quick_worker(concurrency=3)
    jobs = [q.enqueue(tasks.gated, redis_url, "run:log", "run:gate") for _ in range(3)]
    wait_until(lambda: conn.redis.llen("run:log") == 3, what="three jobs running")

    listed = pages(conn, ["default"], "running", 2)

    assert [len(p) for p in listed] == [2, 1]
    assert sorted(ids_of(listed)) == sorted(j.id for j in jobs)
    assert {r.state for p in listed for r in p} == {"running"}
    conn.redis.rpush("run:gate", "go", "go", "go")
    for job in jobs:
        job.wait(timeout=15)


def test_without_a_state_pages_go_running_queued_scheduled_then_finished(conn: Connection, q: Queue) -> None:
    waiting = q.enqueue_many([(tasks.noop, (), {}) for _ in range(3)])
    later = q.options(delay=600).enqueue(tasks.noop)
    done = fill_finished(conn, "default", "succeeded", [30, 10])
    failed = fill_finished(conn, "default", "failed", [20], tag="f")
    dead = fill_dead(conn, "default", 1)  # dead letters' time is their entry id: now, the newest

    listed = pages(conn, ["default"], None, 2)

    expected = [*(j.id for j in waiting), later.id, dead[0], done[0], failed[0], done[1]]
    assert ids_of(listed) == expected


def test_each_outcome_enters_its_finished_index_when_it_is_stored(
    conn: Connection, quick_worker: Any
) -> None:
    q = Queue("default", conn)
    q.declare()
    cancelled = q.enqueue(tasks.noop)
    cancelled.cancel()
    retried = q.options(retries=1, backoff=0.01).enqueue(tasks.fail_first)
    ok, bad = q.enqueue(tasks.add, 1, 2), q.enqueue(tasks.fail)
    quick_worker()
    for job in (ok, retried):
        job.wait(timeout=15)
    with pytest.raises(Exception, match="boom"):
        bad.wait(timeout=15)

    keys = conn.keys.queue("default")
    for state, job in (("succeeded", ok), ("failed", bad), ("cancelled", cancelled)):
        score = conn.redis.zscore(keys.finished(state), job.id)
        assert score == pytest.approx(job.record().finished_at * 1000), state
    # A retried attempt is not final: the job is listed once, as it ended.
    assert conn.redis.zscore(keys.finished("failed"), retried.id) is None
    assert sorted(r.id for r in list_jobs(conn, ["default"], "succeeded")) == sorted([ok.id, retried.id])
    assert [r.id for r in list_jobs(conn, ["default"], "failed")] == [bad.id]


def commands_of(conn: Connection, listing: Callable[[], Any]) -> dict[str, int]:
    """The commands the server ran for ``listing``, by name (INFO commandstats delta)."""

    def calls() -> dict[str, int]:
        stats = conn.redis.info("commandstats")
        return {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}

    before = calls()
    listing()
    after = calls()
    delta = {name: n - before.get(name, 0) for name, n in after.items() if name != "info"}
    return {name: n for name, n in delta.items() if n}


def fill_every_state(conn: Connection, q: Queue, count: int) -> None:
    q.enqueue_many([(tasks.noop, (), {}) for _ in range(count)])
    q.enqueue_many([(tasks.noop, (), {}, JobOptions(delay=600)) for _ in range(count)])
    for state in ("succeeded", "failed", "cancelled"):
        fill_finished(conn, "default", state, list(range(count)), tag=state)
    fill_dead(conn, "default", count)


def reply_bytes(conn: Connection, listing: Callable[[], Any]) -> int:
    """About how many bytes the server sent for ``listing`` (INFO stats delta, less its own)."""

    def sent() -> int:
        return int(conn.redis.info("stats")["total_net_output_bytes"])

    a, b = sent(), sent()
    c = sent()
    listing()
    return sent() - c - (b - a)


STATES_LISTED = (None, "queued", "scheduled", "succeeded", "failed", "cancelled", "dead", "running")


def page_costs(conn: Connection) -> dict[str | None, tuple[dict[str, int], int]]:
    """Per state: the commands two pages of 10 cost, and the bytes of the second page."""
    costs: dict[str | None, tuple[dict[str, int], int]] = {}
    for state in STATES_LISTED:

        def two_pages(state: str | None = state) -> None:
            first = list_jobs(conn, ["default"], state, 10)
            list_jobs(conn, ["default"], state, 10, first.next_cursor)

        after = list_jobs(conn, ["default"], state, 10).next_cursor
        size = reply_bytes(conn, functools.partial(list_jobs, conn, ["default"], state, 10, after))
        costs[state] = (commands_of(conn, two_pages), size)
    return costs


@pytest.fixture
def redis_version(conn: Connection) -> tuple[int, ...]:
    return tuple(int(p) for p in str(conn.redis.info("server")["redis_version"]).split(".")[:2])


def test_listing_never_scans_and_a_page_costs_the_same_commands_for_any_number_of_jobs(
    conn: Connection, q: Queue
) -> None:
    fill_every_state(conn, q, 25)
    small = page_costs(conn)
    fill_every_state(conn, q, 2000)
    large = page_costs(conn)

    for state in STATES_LISTED:
        (used, size), (used_before, size_before) = large[state], small[state]
        assert not {"scan", "keys"} & set(used), (state, used)
        assert used == used_before, state
        assert size <= size_before * 1.1 + 64, (state, size, size_before)  # a page, not the index
    assert sum(large["succeeded"][0].values()) <= 2 * (10 + 4)  # look-ups, a range, a record each


def test_a_finished_index_drops_expired_members_a_bounded_number_per_call(
    redis_url: str, conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults, "FINISHED_TRIM", 2)
    low = connect(redis_url)  # loads the scripts with the lowered bound
    q = Queue("default", low)
    q.declare(result_ttl=60)
    index = low.keys.queue("default").finished("cancelled")
    now_ms = int(low.redis.time()[0]) * 1000
    low.redis.zadd(index, {f"old{i}": now_ms - 61_000 - i for i in range(10)})  # past the TTL
    low.redis.zadd(index, {"recent": now_ms - 30_000})
    jobs = q.enqueue_many([(tasks.noop, (), {}) for _ in range(4)])

    sizes = []
    for job in jobs:
        assert job.cancel()
        sizes.append(low.redis.zcard(index))

    assert sizes == [11 - 3 + 1, 11 - 6 + 2, 11 - 9 + 3, 11 - 10 + 4]  # at most 1 + 2 per call
    assert set(low.redis.zrange(index, 0, -1)) == {b"recent", *(j.id.encode() for j in jobs)}
    low.close()


def test_a_finished_index_keeps_at_most_its_cap(
    redis_url: str, conn: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(defaults, "FINISHED_MAXLEN", 5)
    low = connect(redis_url)
    q = Queue("default", low)
    q.declare()
    jobs = q.enqueue_many([(tasks.noop, (), {}) for _ in range(8)])
    for job in jobs:
        assert job.cancel()
    index = low.keys.queue("default").finished("cancelled")
    finished = sorted((round((job.record().finished_at or 0) * 1000), job.id) for job in jobs)
    assert [m.decode() for m in low.redis.zrange(index, 0, -1)] == [j for _, j in finished[-5:]]  # the newest
    low.close()


def test_deleting_a_queue_removes_its_finished_indexes(conn: Connection, q: Queue) -> None:
    q.enqueue(tasks.noop).cancel()
    fill_finished(conn, "default", "failed", [1])
    keys = conn.keys.queue("default")
    assert conn.redis.exists(keys.finished("cancelled"), keys.finished("failed")) == 2
    q.delete(force=True)
    assert conn.redis.exists(*(keys.finished(s) for s in ("succeeded", "failed", "cancelled"))) == 0


@pytest.mark.parametrize(
    ("limit", "cursor", "needle"),
    [
        (0, None, "limit"),
        (defaults.MAX_PAGE + 1, None, "limit"),
        (5, "not a cursor!", "invalid cursor"),
        (5, Cursor("failed").encode(), "continues a listing of --state failed"),
        (5, Cursor("succeeded", 0, {("default", "succeeded"): ["x", 1]}).encode(), "invalid cursor"),
        (5, Cursor("succeeded", 7).encode(), "invalid cursor"),
    ],
)
def test_a_bad_limit_or_cursor_is_a_clear_error(
    conn: Connection, q: Queue, limit: int, cursor: str | None, needle: str
) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        list_jobs(conn, ["default"], "succeeded", limit, cursor)


def test_a_page_is_a_sequence_of_records(conn: Connection, q: Queue) -> None:
    ids = fill_finished(conn, "default", "succeeded", [3, 2, 1])
    page = list_jobs(conn, ["default"], "succeeded", 2)
    assert len(page) == 2 and page[0].id == ids[0] and [r.id for r in page[:2]] == ids[:2]
    assert page.next_cursor is not None


def run_cli(redis_url: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["jobs", "--redis-url", redis_url, *args])
    assert result.exit_code == 0, result.output
    return result


def test_cli_pages_with_the_cursor_it_prints_on_stderr(conn: Connection, q: Queue, redis_url: str) -> None:
    ids = fill_finished(conn, "default", "succeeded", [50, 40, 30, 20, 10])
    seen: list[str] = []
    cursor: list[str] = []
    for _ in range(MAX_PAGES):
        result = run_cli(redis_url, "--state", "succeeded", "--limit", "2", "--json", *cursor)
        page = json.loads(result.stdout)
        assert isinstance(page, list) and len(page) <= 2
        seen += [r["id"] for r in page]
        more = [line for line in result.stderr.splitlines() if line.startswith("next page: --cursor ")]
        if not more:
            break
        cursor = ["--cursor", more[0].split()[-1]]
    assert seen == ids

    table = run_cli(redis_url, "--state", "succeeded", "--limit", "4")
    assert len(table.stdout.splitlines()) == 1 + 4 and "next page: --cursor " in table.stderr

    first = json.loads(
        run_cli(redis_url, "-s", "succeeded", "--limit", "3", "--json", "--with-cursor").stdout
    )
    assert [r["id"] for r in first["jobs"]] == ids[:3]
    last = run_cli(redis_url, "-s", "succeeded", "--json", "--with-cursor", "--cursor", first["next_cursor"])
    assert json.loads(last.stdout) == {"jobs": json.loads(last.stdout)["jobs"], "next_cursor": None}
    assert [r["id"] for r in json.loads(last.stdout)["jobs"]] == ids[3:] and last.stderr == ""


def test_cli_refuses_a_cursor_of_another_listing_with_a_message(
    conn: Connection, q: Queue, redis_url: str
) -> None:
    fill_finished(conn, "default", "failed", [3, 2, 1])
    page = list_jobs(conn, ["default"], "failed", 1)
    assert page.next_cursor
    result = CliRunner().invoke(
        main, ["jobs", "--redis-url", redis_url, "-s", "dead", "--cursor", page.next_cursor]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "continues a listing of --state failed, not of --state dead" in result.output
    usage = CliRunner().invoke(main, ["jobs", "--redis-url", redis_url, "--with-cursor"])
    assert usage.exit_code == 2 and "--with-cursor goes with --json" in usage.output
