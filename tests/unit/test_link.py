"""An outage is logged once when it starts and once when it ends, not once per heartbeat."""

from __future__ import annotations

import logging

import pytest

from rqueues.worker.link import Link


def test_an_outage_is_two_lines(caplog: pytest.LogCaptureFixture) -> None:
    clock = [100.0]
    link = Link("redis://h:6379/0", clock=lambda: clock[0])
    caplog.set_level(logging.INFO, logger="rqueues.worker")
    link.ok()  # nothing to say while connected
    for _ in range(30):  # thirty heartbeats and claims fail
        link.failed("heartbeat", ConnectionError("refused"))
        clock[0] += 0.5
    assert link.down
    link.ok()
    link.ok()
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert len(lines) == 2, lines
    assert lines[0].startswith("lost Redis at redis://h:6379/0 (heartbeat: refused)")
    assert lines[1] == "reconnected to Redis at redis://h:6379/0 after 15.0s (30 failed calls)"
    assert not link.down


def test_a_second_outage_is_logged_again(caplog: pytest.LogCaptureFixture) -> None:
    link = Link("u", clock=lambda: 0.0)
    caplog.set_level(logging.INFO, logger="rqueues.worker")
    for _ in range(2):
        link.failed("dispatch", TimeoutError("slow"))
        link.ok()
    assert [r.getMessage().split(" ")[0] for r in caplog.records] == ["lost", "reconnected"] * 2
