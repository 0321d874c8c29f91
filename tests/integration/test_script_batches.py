"""A batch of script calls runs in the order it was built, even the first time a script is sent."""

from __future__ import annotations

from rqueues import Connection, Queue, connect
from rqueues.backend import scripts
from rqueues.backend.entries import pack_fresh
from rqueues.codec import encode_call


def test_a_batch_keeps_its_order_when_a_script_is_not_yet_loaded(conn: Connection) -> None:
    Queue("default", conn).declare()
    conn.redis.script_flush()  # as on a fresh server, or one whose cache a restart emptied
    fresh = connect(conn.url)
    try:
        keys = fresh.keys.queue("default")
        batch = fresh.scripts.batch()
        batch.add(
            scripts.enqueue(keys, [("j1", pack_fresh("tasks:noop", encode_call((), {}), b"", "j1"), 0)])
        )
        length = batch.command(lambda pipe: pipe.xlen(keys.stream))
        batch.execute(raise_first=True)
        # A call rerun after NOSCRIPT would have run after the command queued behind it.
        assert length.get() == 1
    finally:
        fresh.close()
