"""What the workers registry says: the server's clock, and which live workers consume which queues.

The liveness rule itself is rqueues.liveness; this reads what it is applied to.
"""

from __future__ import annotations

import json
from collections.abc import Set
from typing import Any

from ..liveness import DEAD_AFTER, live_workers
from .store import Store


def ms(time_reply: Any) -> int:
    """Redis' TIME reply as milliseconds."""
    secs, micros = time_reply
    return int(secs) * 1000 + int(micros) // 1000


def consumers_of(store: Store, queues: Set[str], dead_after: float = DEAD_AFTER) -> dict[str, set[str]]:
    """The live workers consuming each of ``queues``, as their last heartbeat described them."""
    keys = store.keys
    pipe = store.redis.pipeline(transaction=False)
    pipe.execute_command("TIME")
    pipe.zrange(keys.workers, 0, -1, withscores=True)
    now, beats = pipe.execute()
    alive = sorted(live_workers({w.decode(): s for w, s in beats}, ms(now), dead_after))
    pipe = store.redis.pipeline(transaction=False)
    for worker in alive:
        pipe.hget(keys.worker(worker), "queues")
    out: dict[str, set[str]] = {q: set() for q in queues}
    for worker, raw in zip(alive, pipe.execute(), strict=True):
        for queue in set(json_ids(raw)) & set(queues):
            out[queue].add(worker)
    return out


def json_ids(raw: bytes | None) -> list[str]:
    """A JSON list of ids from Redis; anything else reads as none."""
    try:
        value = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [str(v) for v in value] if isinstance(value, list) else []
