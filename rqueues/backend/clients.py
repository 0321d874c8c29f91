"""Builds the redis-py client a URL names: one server, Redis Cluster or Sentinel.

    redis://[user:password@]host:port/db              one server (rediss:// for TLS, unix:// too)
    redis+cluster://[user:password@]host:port[,host:port...]
                                                      Redis Cluster: any reachable nodes; the
                                                      client discovers the others (db is 0)
    redis+sentinel://[user:password@]host:port[,host:port...]/service[/db]
                                                      the primary Sentinel names for ``service``;
                                                      ?sentinel_username=&sentinel_password= when
                                                      the sentinels themselves need a login

``rediss+cluster://`` and ``rediss+sentinel://`` use TLS. Every client speaks
RESP2: RESP3 changes the shape of stream replies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterDownError, RedisClusterException, SlotNotCoveredError
from redis.retry import Retry
from redis.sentinel import Sentinel

from ..errors import ConfigurationError, RedisUnavailable

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
SENTINEL_SCHEMES = {"redis+sentinel": "redis", "rediss+sentinel": "rediss"}
_SENTINEL_QUERY = ("sentinel_username", "sentinel_password")
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379


def client_for(url: str, options: dict[str, Any]) -> redis.Redis | RedisCluster:
    """The client for ``url``; ``options`` are socket settings shared by every kind."""
    scheme = check_scheme(url)
    if scheme in CLUSTER_SCHEMES:
        return cluster_client(url, options)
    if scheme in SENTINEL_SCHEMES:
        return sentinel_client(url, options)
    return redis.Redis.from_url(url, protocol=2, **options)


def split_nodes(url: str, default_port: int) -> tuple[str, list[tuple[str, int]]]:
    """The URL's ``user:password@`` part (possibly empty) and its comma-separated host:port list."""
    netloc = urlsplit(url).netloc
    userinfo, _, hosts = netloc.rpartition("@")
    nodes = []
    for item in hosts.split(","):
        host, port = _host_port(item.strip(), default_port, url)
        nodes.append((host, port))
    return userinfo, nodes


def _host_port(item: str, default_port: int, url: str) -> tuple[str, int]:
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = item.partition(":")
    if not host:
        raise ConfigurationError(f"missing host in Redis URL {redact(url)!r}")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ConfigurationError(f"invalid port {port_text!r} in Redis URL {redact(url)!r}") from None
    if not 0 < port < 65536:
        raise ConfigurationError(f"invalid port {port} in Redis URL {redact(url)!r}")
    return host, port


#: RedisClusterException messages that mean "the cluster cannot serve now" (failover, outage).
_UNAVAILABLE = ("All slots are not covered", "could not agree on a valid slots cache")


@contextlib.contextmanager
def cluster_errors_as_connection_errors() -> Iterator[None]:
    """Raise redis.ConnectionError when the cluster is unreachable, down or its slots uncovered.

    redis-py raises RedisClusterException there (not even a RedisError) or
    ClusterDownError (a ResponseError): code that retries a single server's
    outage would crash on a cluster's instead. Other RedisClusterExceptions (a
    cross-slot command, say) are bugs and pass.
    """
    try:
        yield
    except ClusterDownError as exc:  # CLUSTERDOWN: a shard has no primary, e.g. during a failover
        raise redis.ConnectionError(f"Redis Cluster unavailable: {exc}") from exc
    except RedisClusterException as exc:
        if cluster_unavailable(exc):
            raise redis.ConnectionError(f"Redis Cluster unavailable: {exc}") from exc
        raise


def cluster_unavailable(exc: RedisClusterException) -> bool:
    """Whether the error means the cluster cannot serve now, as opposed to a misuse."""
    return (
        isinstance(exc, SlotNotCoveredError)
        or isinstance(exc.__cause__, (redis.ConnectionError, redis.TimeoutError))
        or any(text in str(exc) for text in _UNAVAILABLE)
    )


class ClusterClient(RedisCluster):
    """RedisCluster that reports an unreachable cluster as redis.ConnectionError."""

    def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        with cluster_errors_as_connection_errors():
            return super().execute_command(*args, **kwargs)  # type: ignore[no-untyped-call]

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)  # type: ignore[no-untyped-call]
        execute = pipe.execute

        def guarded_execute(raise_on_error: bool = True) -> Any:
            with cluster_errors_as_connection_errors():
                return execute(raise_on_error)

        pipe.execute = guarded_execute
        return pipe


@dataclass(frozen=True)
class ClusterPlan:
    """What a redis+cluster:// URL asks for: the first node's URL and the other startup nodes."""

    first: str
    others: list[tuple[str, int]]


def cluster_plan(url: str) -> ClusterPlan:
    parts = urlsplit(url)
    base = CLUSTER_SCHEMES[parts.scheme.lower()]
    userinfo, nodes = split_nodes(url, DEFAULT_PORT)
    if parts.path.strip("/") not in ("", "0"):
        raise ConfigurationError(f"Redis Cluster has only database 0, got {parts.path!r} in {redact(url)!r}")
    host, port = nodes[0]
    netloc = f"{userinfo}@" if userinfo else ""
    netloc += f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return ClusterPlan(urlunsplit((base, netloc, "/0", parts.query, "")), nodes[1:])


def cluster_failure(url: str, exc: Exception) -> Exception:
    """The error to raise when a cluster client cannot be made (it reads the slot map at once)."""
    if "Cluster mode is not enabled" in str(exc):
        return ConfigurationError(f"{redact(url)} is not a Redis Cluster: connect with redis://")
    return RedisUnavailable(f"cannot reach Redis Cluster at {redact(url)}: {exc}")


def cluster_client(url: str, options: dict[str, Any]) -> RedisCluster:
    """A RedisCluster client; the startup nodes are every host the URL lists."""
    plan = cluster_plan(url)
    try:
        return ClusterClient.from_url(
            plan.first,
            startup_nodes=[ClusterNode(h, p) for h, p in plan.others],  # type: ignore[no-untyped-call]
            protocol=2,
            **options,
        )
    except (redis.RedisError, RedisClusterException) as exc:
        raise cluster_failure(url, exc) from exc


@dataclass(frozen=True)
class SentinelPlan:
    """What a redis+sentinel:// URL asks for."""

    sentinels: list[tuple[str, int]]
    sentinel_options: dict[str, Any]
    service: str
    primary_options: dict[str, Any]


def sentinel_plan(url: str, options: dict[str, Any]) -> SentinelPlan:
    parts = urlsplit(url)
    tls = SENTINEL_SCHEMES[parts.scheme.lower()] == "rediss"
    userinfo, sentinels = split_nodes(url, DEFAULT_SENTINEL_PORT)
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ConfigurationError(
            f"expected redis+sentinel://host:port[,host:port...]/service_name[/db], got {redact(url)!r}"
        )
    service = path[0]
    try:
        db = int(path[1]) if len(path) == 2 else 0
    except ValueError:
        raise ConfigurationError(f"invalid database {path[1]!r} in {redact(url)!r}") from None
    query = dict(parse_qsl(parts.query))
    unknown = sorted(set(query) - set(_SENTINEL_QUERY))
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) {', '.join(unknown)} in {redact(url)!r}; "
            f"supported: {', '.join(_SENTINEL_QUERY)}"
        )
    username, _, password = userinfo.partition(":")
    sentinel_options = {k: v for k, v in options.items() if k.startswith("socket_")}
    # A sentinel that does not answer is skipped for the next one at once; redis-py's
    # default retry would back off for seconds on it before every primary lookup.
    sentinel_options["retry"] = Retry(NoBackoff(), 0)
    if tls:
        sentinel_options["ssl"] = True
    if "sentinel_username" in query:
        sentinel_options["username"] = query["sentinel_username"]
    if "sentinel_password" in query:
        sentinel_options["password"] = query["sentinel_password"]
    primary = {
        "db": db,
        "username": unquote(username) or None,
        "password": unquote(password) or None,
        "protocol": 2,
        "ssl": tls,
        **options,
    }
    return SentinelPlan(sentinels, sentinel_options, service, primary)


def sentinel_client(url: str, options: dict[str, Any]) -> redis.Redis:
    """A client of the primary that Sentinel names; it follows failovers on reconnect."""
    plan = sentinel_plan(url, options)
    sentinel: Any = Sentinel(plan.sentinels, sentinel_kwargs=plan.sentinel_options)  # type: ignore[no-untyped-call]
    client: redis.Redis = sentinel.master_for(plan.service, **plan.primary_options)
    return client


def check_scheme(url: str) -> str:
    """The URL's scheme, refused unless rqueues knows it (a one-server URL names one host)."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in CLUSTER_SCHEMES or scheme in SENTINEL_SCHEMES:
        return scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(
            f"unsupported Redis URL scheme {scheme or url!r}: use redis://, rediss://, unix://, "
            "redis+cluster:// or redis+sentinel://"
        )
    if "," in urlsplit(url).netloc:
        raise ConfigurationError(
            "a redis:// URL names one server; list several nodes with redis+cluster:// or redis+sentinel://"
        )
    return scheme


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    userinfo, at, hosts = parts.netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hosts}"))
