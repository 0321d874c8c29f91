"""Jobs that take and return value types beyond msgpack's, and a user type registered at import."""

from __future__ import annotations

import datetime as dt
import decimal
import os
import uuid
from typing import Any

import msgpack

from rqueues import register_type


class Money:
    """A user's own type, carried by the codec this module registers (workers import it)."""

    def __init__(self, amount: decimal.Decimal, currency: str) -> None:
        self.amount, self.currency = amount, currency

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Money) and (other.amount, other.currency) == (self.amount, self.currency)

    def __repr__(self) -> str:
        return f"Money({self.amount}, {self.currency})"


register_type(
    Money,
    17,
    lambda m: msgpack.packb([str(m.amount), m.currency]),
    lambda b: Money(decimal.Decimal(msgpack.unpackb(b)[0]), msgpack.unpackb(b)[1]),
)


def shift(when: dt.datetime, by: dt.timedelta, ident: uuid.UUID, price: Money) -> dict[str, Any]:
    """Computes with each value, so a value that arrived as a string would fail here."""
    return {
        "when": when + by,
        "day": (when + by).date(),
        "ident": uuid.UUID(int=ident.int + 1),
        "price": Money(price.amount * 2, price.currency),
        "pid": os.getpid(),
    }
