"""A worker's place in the workers registry: one live worker per id."""

from __future__ import annotations

from ..backend.store import Store
from ..backend.workers import ms
from ..errors import ConfigurationError
from ..liveness import is_live


def refuse_live_duplicate(store: Store, worker_id: str, dead_after: float) -> None:
    """ConfigurationError when a live worker already beats under ``worker_id``.

    Two workers with one id would share one consumer in every group: each would
    renew and complete the other's deliveries, and the reaper could never tell
    when one of them died.
    """
    r = store.redis
    pipe = r.pipeline(transaction=False)
    pipe.execute_command("TIME")
    pipe.zscore(store.keys.workers, worker_id)
    pipe.hmget(store.keys.worker(worker_id), "host", "pid")
    now, beat, (host, pid) = pipe.execute()
    now_ms = ms(now)
    if beat is None or not is_live(beat, now_ms, dead_after):
        return
    where = f" (host {host.decode()}, pid {pid.decode()})" if host and pid else ""
    raise ConfigurationError(
        f"worker id {worker_id!r} is in use by a live worker{where}, last heartbeat "
        f"{max(0.0, (now_ms - beat) / 1000):.1f}s ago: give this worker another --worker-id"
    )
