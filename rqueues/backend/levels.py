"""Priority levels: one stream per level in use, named by the entry ids it holds.

Level 0 is the queue's stream; a job enqueued with ``priority=L`` (1..9) waits in the
stream ``...:stream:pL``, and a job given back after its worker died or stopped in the
RETURNED level's stream (``...:stream:p10``), which a claim reads first. A claim reads the
levels highest first in one script call (claim.lua), so the cap is checked once.

An entry of a level stream gets an explicit id whose sequence part is ``L * 10**18 + n``
(levels.lua): a stream's own sequence numbers never come near, so an entry id (and a
lease member or a generated job id made of it) says which stream holds it. The queue's
``levels`` hash lists the levels in use.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The level of the jobs given back to their queue (giveback.lua): above every priority.
RETURNED = 10

_SEQ_DIGITS = 18


def level_of(entry: str) -> int:
    """The level whose stream holds the entry ``entry`` (0: the queue's stream)."""
    seq = entry.partition("-")[2]
    if len(seq) <= _SEQ_DIGITS or not seq.isdigit():
        return 0
    return int(seq[:-_SEQ_DIGITS])


def level_stream(stream: str, level: int) -> str:
    return stream if level == 0 else f"{stream}:p{level}"


def ordered(levels: Iterable[bytes | str | int]) -> list[int]:
    """The levels of a ``levels`` hash's fields, the first to read first, then 0."""
    found = {int(v) for v in levels if str(v.decode() if isinstance(v, bytes) else v).isdigit()}
    return [*sorted((lv for lv in found if lv > 0), reverse=True), 0]
