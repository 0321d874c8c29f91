"""The asyncio client a URL names, from the same URL plans as the blocking clients."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisClusterException

from ..backend.clients import (
    CLUSTER_SCHEMES,
    SENTINEL_SCHEMES,
    check_scheme,
    cluster_failure,
    cluster_plan,
    sentinel_plan,
)
from ..backend.store import client_options

AsyncClient = aredis.Redis | RedisCluster


async def open_client(url: str) -> AsyncClient:
    """A redis.asyncio client for ``url`` (every kind speaks RESP2, like the blocking ones)."""
    options = client_options(url)
    scheme = check_scheme(url)
    if scheme in CLUSTER_SCHEMES:
        plan = cluster_plan(url)
        try:
            client = RedisCluster.from_url(
                plan.first, startup_nodes=[ClusterNode(h, p) for h, p in plan.others], protocol=2, **options
            )
            await client.initialize()  # reads the slot map now, as the blocking client does
        except (redis.RedisError, RedisClusterException, OSError) as exc:
            raise cluster_failure(url, exc) from exc
        return client
    if scheme in SENTINEL_SCHEMES:
        splan = sentinel_plan(url, options)
        sentinel: Any = Sentinel(splan.sentinels, sentinel_kwargs=splan.sentinel_options)  # type: ignore[no-untyped-call]
        primary: aredis.Redis = sentinel.master_for(splan.service, **splan.primary_options)
        return primary
    return aredis.Redis.from_url(url, protocol=2, **options)
