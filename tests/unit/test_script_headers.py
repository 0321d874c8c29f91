"""Each script declares on purpose what Redis does with it under memory pressure (invariant 8).

Under noeviction at maxmemory Redis refuses a `#!lua` script with no flags whole, before it
runs, and runs every write of a `#!lua flags=allow-oom` one. A script without a shebang
would be refused at its first memory-growing write unless a freeing write ran before it:
behaviour by accident, which no script may have.
"""

from __future__ import annotations

from importlib.resources import files

import pytest

from rqueues.backend.scripts import _NAMES, source

#: Scripts that only renew, release or settle work already taken (or withdraw work).
ALLOWED = {
    "beat", "renew", "complete", "deadletter", "giveback", "cancel", "stop", "watch",
    "unrun", "forget_workers", "drop_consumer", "purge", "drop_queue", "resolve",
}  # fmt: skip
#: Scripts that create new work (or write what is only best-effort, progress): nothing of
#: theirs may run while Redis refuses writes.
REFUSED = {"claim", "enqueue", "promote", "requeue", "progress", "depend", "pause", "cron_tick"}


def text(name: str) -> str:
    return files("rqueues.backend").joinpath("lua", f"{name}.lua").read_text()


def test_every_script_is_in_one_class() -> None:
    assert ALLOWED | REFUSED == set(_NAMES) and not ALLOWED & REFUSED


@pytest.mark.parametrize("name", sorted(ALLOWED | REFUSED))
def test_each_script_declares_its_behaviour_under_oom(name: str) -> None:
    first, _, rest = text(name).partition("\n")
    assert first == ("#!lua flags=allow-oom" if name in ALLOWED else "#!lua")
    header = [line for line in rest.splitlines() if line.startswith("--")]
    notes = [line for line in header if line.startswith("-- Under OOM:")]
    assert len(notes) == 1, f"{name}.lua: its header must say what happens under OOM"
    assert notes[0].startswith("-- Under OOM: allowed" if name in ALLOWED else "-- Under OOM: refused whole")


@pytest.mark.parametrize("name", sorted(ALLOWED | REFUSED))
def test_the_constants_follow_the_shebang(name: str) -> None:
    lines = source(name).splitlines()
    assert lines[0].startswith("#!lua") and lines[1].startswith("local EVENTS_MAXLEN = ")
