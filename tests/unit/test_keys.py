"""Key names: every key of a queue carries its hash tag; bad names are refused."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from rqueues.backend.keys import FINISHED_STATES, Keyspace, QueueKeys, check_queue_name
from rqueues.errors import ConfigurationError


def queue_key_names(q: QueueKeys) -> list[str]:
    """Every key name QueueKeys can build, found by introspection so new keys are covered too."""
    names = [q.job("0190a1b2c3d4e5f6a7b8c9"), *(q.finished(s) for s in FINISHED_STATES)]
    for attr, value in vars(QueueKeys).items():
        if isinstance(value, property):
            names.append(getattr(q, attr))
    return names


@pytest.mark.parametrize("name", ["default", "heavy", "a", "with.dots:and-dashes_1", "X" * 128])
def test_every_queue_key_carries_the_hash_tag(name: str) -> None:
    q = Keyspace().queue(name)
    names = queue_key_names(q)
    assert len(names) >= 8  # stream, config, leases, events, scheduled, dead, job prefix, a job
    for key in names:
        assert f"{{q:{name}}}" in key, key
        assert key.startswith("rqueues:")
    # One hash tag means one cluster slot for the whole queue.
    assert len({key_slot(k.encode()) for k in names}) == 1


def test_keys_of_different_queues_are_distinct() -> None:
    a, b = Keyspace().queue("a"), Keyspace().queue("b")
    assert not set(queue_key_names(a)) & set(queue_key_names(b))


def test_prefix_is_configurable() -> None:
    ks = Keyspace("myapp")
    assert ks.queue("q").stream == "myapp:{q:q}:stream"
    assert ks.queues == "myapp:queues"
    assert ks.worker("w1") == "myapp:worker:w1"


def test_registries_live_outside_queue_slots() -> None:
    ks = Keyspace()
    for key in (ks.queues, ks.workers, ks.worker("w")):
        assert "{q:" not in key


@pytest.mark.parametrize(
    "name", ["", " ", "a b", "x" * 129, "a{b}", "q}", "{q", "tab\t", "é", "new\nline", "a/b", "a*"]
)
def test_invalid_names_refused(name: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        Keyspace().queue(name)
    assert repr(name) in str(info.value)


def test_non_string_name_refused() -> None:
    with pytest.raises(ConfigurationError):
        check_queue_name(3)  # type: ignore[arg-type]
