"""Listings for asyncio code: the pages `rqueues jobs` prints, from the same steps."""

from __future__ import annotations

from collections.abc import Iterable

from ..observe.listing import JobPage, list_jobs_steps
from .store import Store


async def list_jobs(
    connection: Store,
    queues: Iterable[str] | None = None,
    state: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> JobPage:
    """One page of jobs by state, read from per-queue indexes (see rqueues.observe.listing.list_jobs)."""
    return await connection.run(list_jobs_steps(connection.keys, queues, state, limit, cursor))
