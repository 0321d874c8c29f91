"""`rqueues declare --executor ...`: stored, shown by queues and info, refused when wrong."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import Result

from rqueues import Connection, Queue


def test_declare_stores_the_execution_settings_and_queues_shows_them(
    conn: Connection, cli: Callable[..., Result]
) -> None:
    result = cli(
        "declare", "heavy", "--executor", "process", "--timeout", "90", "--max-jobs-per-child", "50",
        "--max-memory-per-child", "512", "--gpus-per-job", "1", "--gpu-share",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "executor process, timeout 90s, 50 jobs per child, 512 MB per child" in result.output
    config = Queue("heavy", conn).config()
    assert (config.executor, config.timeout, config.max_jobs_per_child) == ("process", 90.0, 50)
    assert (config.max_memory_per_child, config.gpus_per_job, config.gpu_share) == (512, 1, True)

    listed = cli("queues", "--json")
    row = json.loads(listed.output)[0]
    assert (row["executor"], row["timeout"]) == ("process", 90.0)
    table = cli("queues").output
    assert "process" in table and "90s" in table

    info = cli("info", "--sample", "0", "--json")
    assert json.loads(info.output)["queues"][0]["executor"] == "process"
    assert "process:90s" in cli("info", "--sample", "0").output


def test_declaring_again_without_the_options_resets_them(
    conn: Connection, cli: Callable[..., Result]
) -> None:
    assert cli("declare", "q", "--executor", "asyncio", "--timeout", "5").exit_code == 0
    assert cli("declare", "q").exit_code == 0
    config = Queue("q", conn).config()
    assert (config.executor, config.timeout) == ("thread", None)


def test_a_bad_executor_or_limit_is_refused_by_name(conn: Connection, cli: Callable[..., Result]) -> None:
    for args, named in (
        (["--executor", "fork"], "--executor"),
        (["--timeout", "0"], "--timeout"),
        (["--max-memory-per-child", "-1"], "--max-memory-per-child"),
    ):
        result = cli("declare", "q", *args)
        assert result.exit_code != 0 and named in result.output, result.output
    assert not conn.redis.exists(conn.keys.queue("q").config)
