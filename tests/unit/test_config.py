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
