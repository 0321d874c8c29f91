"""The example's jobs: one sync and one async function, each declaring its queue.

Workers run them with `rqueues worker --import jobs` (from this folder).
"""

from __future__ import annotations

import asyncio
import hashlib

import rqueues


@rqueues.task(queue="reports", retries=2, timeout=30)
def word_count(text: str) -> dict[str, int]:
    """CPU work: a sync function runs in a worker slot."""
    counts: dict[str, int] = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    return counts


@rqueues.task(queue="hashing")
async def digest(data: bytes, rounds: int = 1) -> str:
    """I/O-style work: an async def is awaited on the worker, never returned as a coroutine."""
    value = data
    for _ in range(rounds):
        await asyncio.sleep(0)  # stands for an awaited call (an HTTP request, a query)
        value = hashlib.sha256(value).digest()
    return value.hex()
