"""A queue's declared settings: validation and the config hash round trip."""

from __future__ import annotations

import pytest

from rqueues.config import DEFAULT_RESULT_TTL, QueueConfig
from rqueues.errors import ConfigurationError


def as_redis_hash(mapping: dict[str, object]) -> dict[bytes, bytes]:
    return {k.encode(): str(v).encode() for k, v in mapping.items()}


def test_defaults_are_unlimited_and_untagged() -> None:
    config = QueueConfig("q")
    assert config.concurrency == 0
    assert config.tags == ()
    assert config.result_ttl == DEFAULT_RESULT_TTL


def test_hash_round_trip() -> None:
    config = QueueConfig("q", concurrency=3, tags=("has=gpu", "region=.*"), result_ttl=60)
    back = QueueConfig.from_hash("q", as_redis_hash(config.to_hash()))
    assert (back.concurrency, back.tags, back.result_ttl) == (3, ("has=gpu", "region=.*"), 60)


def test_missing_fields_take_defaults() -> None:
    back = QueueConfig.from_hash("q", {b"concurrency": b"2"})
    assert (back.concurrency, back.tags, back.result_ttl, back.version) == (2, (), DEFAULT_RESULT_TTL, 0)


def test_version_is_read() -> None:
    assert QueueConfig.from_hash("q", {b"concurrency": b"0", b"version": b"7"}).version == 7


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"concurrency": -1}, ["concurrency", "-1"]),
        ({"concurrency": 1.5}, ["concurrency", "1.5"]),
        ({"concurrency": True}, ["concurrency", "True"]),
        ({"concurrency": "2"}, ["concurrency", "'2'"]),
        ({"result_ttl": 0}, ["result_ttl", ">= 1"]),
        ({"tags": ("has=[gpu",)}, ["'has=[gpu'"]),
    ],
)
def test_bad_settings_refused_with_their_name(kwargs: dict[str, object], names: list[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        QueueConfig("q", **kwargs)  # type: ignore[arg-type]
    for name in names:
        assert name in str(info.value)


def test_execution_settings_round_trip_through_the_hash() -> None:
    config = QueueConfig(
        "q", executor="process", timeout=2.5, max_jobs_per_child=3, max_memory_per_child=100,
        gpus_per_job=2, gpu_share=True,
    )  # fmt: skip
    back = QueueConfig.from_hash("q", as_redis_hash(config.to_hash()))
    assert back == config


def test_execution_defaults_are_written_so_a_declare_replaces_an_earlier_one() -> None:
    stored = QueueConfig("q").to_hash()
    assert (stored["executor"], stored["timeout"], stored["max_jobs_per_child"]) == ("thread", "", 0)
    back = QueueConfig.from_hash("q", as_redis_hash(stored))
    assert (back.executor, back.timeout, back.gpu_share) == ("thread", None, False)


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"executor": "fork"}, ["executor", "'fork'", "process"]),
        ({"timeout": 0}, ["timeout", "> 0"]),
        ({"timeout": float("inf")}, ["timeout", "inf"]),
        ({"max_jobs_per_child": -1}, ["max_jobs_per_child", "-1"]),
        ({"max_memory_per_child": 1.5}, ["max_memory_per_child", "1.5"]),
        ({"gpus_per_job": 65}, ["gpus_per_job", "65"]),
        ({"gpu_share": "yes"}, ["gpu_share", "'yes'"]),
    ],
)
def test_bad_execution_settings_refused_with_their_name(kwargs: dict[str, object], names: list[str]) -> None:
    with pytest.raises(ConfigurationError) as info:
        QueueConfig("q", **kwargs)  # type: ignore[arg-type]
    for name in names:
        assert name in str(info.value)


def test_a_stored_executor_no_declare_writes_names_the_queue_and_field() -> None:
    with pytest.raises(ConfigurationError, match=r"queue 'q' .*executor.*'fork'"):
        QueueConfig.from_hash("q", {b"executor": b"fork"})
    with pytest.raises(ConfigurationError, match=r"queue 'q' .*gpu_share"):
        QueueConfig.from_hash("q", {b"gpu_share": b"maybe"})
