"""connect() with cluster and Sentinel URLs: parsing, bad input, RESP2, and the wrong kind of server."""

from __future__ import annotations

from typing import Any

import pytest
from redis.cluster import RedisCluster

from rqueues import ConfigurationError, Connection, Queue, RedisUnavailable, connect
from rqueues.backend.clients import redact, split_nodes
from rqueues.connection import as_connection
from rqueues.quickstart.embedded import free_port


@pytest.mark.parametrize(
    ("url", "nodes"),
    [
        ("redis+cluster://a:7000", [("a", 7000)]),
        ("redis+cluster://u:p@a:7000,b:7001, c", [("a", 7000), ("b", 7001), ("c", 6379)]),
        ("rediss+cluster://[::1]:7000,[fe80::1]", [("::1", 7000), ("fe80::1", 6379)]),
    ],
)
def test_split_nodes(url: str, nodes: list[tuple[str, int]]) -> None:
    assert split_nodes(url, 6379)[1] == nodes


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("redis+cluster://a:70x0", "invalid port '70x0'"),
        ("redis+cluster://a:99999", "invalid port 99999"),
        ("redis+cluster://:7000", "missing host"),
        ("redis+cluster://a:7000/1", "only database 0"),
        ("redis://a:6379,b:6379/0", "names one server"),
        ("cluster://a:7000", "unsupported Redis URL scheme 'cluster'"),
        ("redis+sentinel://a:26379", "service_name"),
        ("redis+sentinel://a:26379/mymaster/x", "invalid database 'x'"),
        ("redis+sentinel://a:26379/mymaster/0?sentinel_pass=x", "unknown option(s) sentinel_pass"),
    ],
)
def test_bad_urls_name_the_problem(url: str, needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        connect(url)
    assert needle in str(info.value)


def test_redact_hides_the_password_of_every_kind() -> None:
    assert redact("redis+cluster://u:secret@a:1,b:2") == "redis+cluster://u:***@a:1,b:2"
    assert redact("redis+sentinel://:secret@a:1/m/0") == "redis+sentinel://:***@a:1/m/0"
    assert redact("redis+cluster://a:1,b:2") == "redis+cluster://a:1,b:2"


def test_any_listed_node_is_enough(conn: Connection) -> None:
    live = conn.redis.get_primaries()[1]
    other = connect(f"redis+cluster://127.0.0.1:{free_port()},{live.host}:{live.port}")
    try:
        assert len(other.redis.get_primaries()) == 3
        # RESP3 would change the shape of stream replies: every node connection speaks RESP2.
        for node in other.redis.get_primaries():
            assert "resp=2" in node.redis_connection.execute_command("CLIENT", "INFO").decode()
    finally:
        other.close()


def test_unreachable_cluster_is_redis_unavailable() -> None:
    with pytest.raises(RedisUnavailable, match="cannot reach Redis Cluster"):
        connect(f"redis+cluster://127.0.0.1:{free_port()}")


def test_cluster_url_to_a_single_server(redis_url: str) -> None:
    single = redis_url.replace("redis://", "redis+cluster://").rsplit("/", 1)[0]
    with pytest.raises(ConfigurationError, match="not a Redis Cluster"):
        connect(single)


def test_plain_url_to_a_cluster_node_says_to_use_cluster(conn: Connection, spread_queues: Any) -> None:
    node = conn.redis.get_primaries()[0]
    plain = connect(f"redis://{node.host}:{node.port}/0")
    elsewhere = next(
        n
        for n in spread_queues(3)
        if conn.redis.get_node_from_key(conn.keys.queue(n).stream).name != node.name
    )
    try:
        with pytest.raises(ConfigurationError, match=r"redis\+cluster://"):
            Queue(elsewhere, plain).declare()
    finally:
        plain.close()


def test_as_connection_accepts_a_cluster_client(conn: Connection) -> None:
    client: RedisCluster = conn.redis
    wrapped = as_connection(client)
    assert wrapped.cluster and wrapped.url.startswith("redis+cluster://")
    Queue("wrapped", wrapped).declare()
    assert conn.declared_queues() == ["wrapped"]
