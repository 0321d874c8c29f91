"""The opaque cursor of a job listing: where each index's page ended.

A listing walks phases (one state, or the states of ``rqueues jobs`` without
``--state`` in turn); within a phase it merges one index per queue and state. The
cursor records the phase, each index's mark (where its last listed job sits) and the
indexes already read to their end; an index it does not name starts from its top.
It is URL-safe base64 of compact JSON, so it fits on a command line.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError

#: Bumped when the cursor's content changes: an older one is refused, not misread.
VERSION = 1

#: (queue, state): one index of a listing.
Source = tuple[str, str]


@dataclass(frozen=True)
class Cursor:
    """Where a listing of ``state`` (None: every state) goes on."""

    state: str | None
    phase: int = 0
    marks: dict[Source, Any] = field(default_factory=dict)
    done: frozenset[Source] = frozenset()

    def encode(self) -> str:
        body = {
            "v": VERSION,
            "s": self.state,
            "p": self.phase,
            "m": [[q, s, mark] for (q, s), mark in sorted(self.marks.items())],
            "d": sorted([q, s] for q, s in self.done),
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, state: str | None) -> Cursor:
        """The cursor a page of a ``state`` listing returned; a clear error for anything else."""
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            body = json.loads(raw)
            cursor = cls(
                body["s"],
                int(body["p"]),
                {(str(q), str(s)): mark for q, s, mark in body["m"]},
                frozenset((str(q), str(s)) for q, s in body["d"]),
            )
            version = body["v"]
        except (binascii.Error, ValueError, TypeError, KeyError) as exc:
            raise ConfigurationError(
                f"invalid cursor {text[:40]!r}: pass the next cursor an earlier page printed"
            ) from exc
        if version != VERSION:
            raise ConfigurationError(f"cursor {text[:40]!r} is from another version of rqueues")
        if cursor.state != state:
            raise ConfigurationError(
                f"this cursor continues a listing of {_what(cursor.state)}, not of {_what(state)}"
            )
        return cursor


def _what(state: str | None) -> str:
    return f"--state {state}" if state else "every state"
