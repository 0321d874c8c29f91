"""The acker's step after storing outcomes: tell the dependents of the jobs that finished.

complete.lua replies the finished jobs that have dependents (and notes them in their
queue's ``notify`` zset); a dead-lettered job is looked at here too. Telling may fail
(Redis going away, the worker dying): the jobs stay noted and the reaper's sweep tells
them later (rqueues/backend/dependencies.py), so a failure here is only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from ..backend import dependencies
from ..backend.dependencies import Ref
from ..backend.replies import Completed
from ..backend.scripts import Pending
from ..backend.store import Store

log = logging.getLogger("rqueues.worker")


def after_complete(
    conn: Store, completed: Sequence[tuple[str, Pending[Completed]]], dead: Iterable[Ref] = ()
) -> None:
    """Tell the dependents of the jobs ``completed`` noted (per queue), and of ``dead`` jobs."""
    parents = [Ref(name, job) for name, reply in completed for job in reply.get().noted]
    parents += dead
    if not parents:
        return
    try:
        dependencies.tell(conn, parents)
    except Exception as exc:  # they stay noted: the reaper's sweep tells them
        log.warning("could not tell the dependents of %d job(s) yet: %s", len(parents), exc)
