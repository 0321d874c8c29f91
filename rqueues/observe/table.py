"""Aligned text tables, shared by the CLI, top and the quick start."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


def fit(rows: Sequence[dict[str, Any]], columns: Sequence[str], width: int, drop: Sequence[str]) -> str:
    """table() within ``width`` columns: columns named in ``drop`` go first to last until it
    fits; only a table still too wide without them is cut at the right edge."""
    shown = list(columns)
    text = table(rows, shown)
    for name in drop:
        if max((len(line) for line in text.splitlines()), default=0) <= width:
            return text
        if name in shown:
            shown.remove(name)
            text = table(rows, shown)
    return "\n".join(line[:width] for line in text.splitlines())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "-"
    return str(value)
