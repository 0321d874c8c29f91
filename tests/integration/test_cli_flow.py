"""`rqueues enqueue --unique-key/--on-duplicate/--depends-on/--allow-failure`, and deferred
jobs in `rqueues job` and `rqueues jobs --state deferred`."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import Result

from rqueues import Connection, Queue


def test_unique_key_from_the_cli(q: Queue, cli: Callable[..., Result]) -> None:
    first = cli("enqueue", "default", "tasks:noop", "--unique-key", "nightly")
    assert first.exit_code == 0, first.output
    job_id = first.stdout.strip()
    again = cli("enqueue", "default", "tasks:noop", "--unique-key", "nightly")
    assert again.exit_code == 0 and again.stdout.strip() == job_id
    assert "holds unique key 'nightly'" in again.stderr
    refused = cli("enqueue", "default", "tasks:noop", "--unique-key", "nightly", "--on-duplicate", "raise")
    assert refused.exit_code != 0 and job_id in refused.output
    shown = cli("job", job_id)
    assert "unique_key: nightly" in shown.output


def test_depends_on_from_the_cli(q: Queue, conn: Connection, cli: Callable[..., Result]) -> None:
    Queue("other", conn).declare()
    parent = cli("enqueue", "other", "tasks:noop").stdout.strip()
    child = cli("enqueue", "default", "tasks:noop", "--depends-on", parent, "--allow-failure")
    assert child.exit_code == 0, child.output
    child_id = child.stdout.strip()
    shown = cli("job", child_id)
    assert "state: deferred" in shown.output and f"parent: {parent} in other" in shown.output
    listed = cli("jobs", "--state", "deferred", "--json")
    assert [j["id"] for j in json.loads(listed.stdout)] == [child_id]
    data = json.loads(cli("job", child_id, "--json").stdout)
    assert data["allow_failure"] and data["parents"] == [{"queue": "other", "id": parent, "state": None}]
    assert f"dependents: {child_id} in default" in cli("job", parent).output
    missing = cli("enqueue", "default", "tasks:noop", "--depends-on", "nope")
    assert missing.exit_code != 0 and "nope" in missing.output
    bad = cli("enqueue", "default", "tasks:noop", "--allow-failure")
    assert bad.exit_code != 0 and "allow_failure needs depends_on" in bad.output
