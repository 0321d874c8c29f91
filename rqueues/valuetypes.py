"""Types beyond msgpack's own, carried in job arguments and results as msgpack extension types.

Built in: aware ``datetime``, ``date``, ``time``, ``timedelta``, ``UUID`` and ``Decimal``
(``bytes`` is msgpack's own). ``register_type`` adds a codec for a user's type; the
worker must register it too (a module it imports with ``--import`` is the natural
place). Everything here turns a value into bytes and back: never pickle.
"""

from __future__ import annotations

import datetime as dt
import decimal
import threading
import uuid
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgpack

from .errors import ConfigurationError, SerializationError

T = TypeVar("T")

#: The value types carried beyond msgpack's own, as error messages name them.
SUPPORTED = "aware datetime, date, time, timedelta, UUID, Decimal"
#: Extension codes below this are rqueues' own; a user's types take codes from here to 127.
FIRST_USER_CODE = 16
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class ValueType:
    """How one type becomes an extension type's bytes and back."""

    cls: type
    code: int
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


def _pack_list(*values: Any) -> bytes:
    blob: bytes = msgpack.packb(list(values), use_bin_type=True)
    return blob


def _unpack_list(data: bytes) -> list[Any]:
    value = msgpack.unpackb(data, raw=False)
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return value


def _encode_datetime(value: dt.datetime) -> bytes:
    offset = value.utcoffset()
    if offset is None:
        raise TypeError(
            "a naive datetime (no tzinfo) is ambiguous between machines; pass an aware one, "
            "e.g. datetime.now(timezone.utc) or .replace(tzinfo=ZoneInfo('Europe/Paris'))"
        )
    micros = (value - _EPOCH) // dt.timedelta(microseconds=1)
    key = value.tzinfo.key if isinstance(value.tzinfo, zoneinfo.ZoneInfo) else ""
    return _pack_list(micros, offset // dt.timedelta(seconds=1), key)


def _decode_datetime(data: bytes) -> dt.datetime:
    micros, offset, key = _unpack_list(data)
    utc = _EPOCH + dt.timedelta(microseconds=micros)
    if key:
        try:
            return utc.astimezone(zoneinfo.ZoneInfo(key))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass  # a zone this machine does not know: the same instant at its offset
    return utc.astimezone(dt.timezone(dt.timedelta(seconds=offset)))


def _encode_time(value: dt.time) -> bytes:
    if value.tzinfo is not None:
        raise TypeError("a time with a tzinfo has no fixed offset; pass a naive time or a datetime")
    return value.isoformat().encode()


def _encode_timedelta(value: dt.timedelta) -> bytes:
    return _pack_list(value // dt.timedelta(microseconds=1))


def _decode_timedelta(data: bytes) -> dt.timedelta:
    return dt.timedelta(microseconds=_unpack_list(data)[0])


_BUILTIN = (
    # datetime before date: a datetime is a date.
    ValueType(dt.datetime, 1, _encode_datetime, _decode_datetime),
    ValueType(dt.date, 2, lambda v: v.isoformat().encode(), lambda b: dt.date.fromisoformat(b.decode())),
    ValueType(dt.time, 3, _encode_time, lambda b: dt.time.fromisoformat(b.decode())),
    ValueType(dt.timedelta, 4, _encode_timedelta, _decode_timedelta),
    ValueType(uuid.UUID, 5, lambda v: v.bytes, lambda b: uuid.UUID(bytes=b)),
    ValueType(decimal.Decimal, 6, lambda v: str(v).encode(), lambda b: decimal.Decimal(b.decode())),
)


class Registry:
    """The value types of this process, by class and by extension code."""

    def __init__(self) -> None:
        self._by_cls: dict[type, ValueType] = {}
        self._by_code: dict[int, ValueType] = {}
        self._lock = threading.Lock()
        for vt in _BUILTIN:
            self._add(vt)

    def _add(self, vt: ValueType) -> None:
        self._by_cls[vt.cls] = vt
        self._by_code[vt.code] = vt

    def register(
        self, cls: type[T], code: int, encode: Callable[[T], bytes], decode: Callable[[bytes], T]
    ) -> None:
        if not isinstance(cls, type):
            raise ConfigurationError(f"register_type needs a class, got {cls!r}")
        if not isinstance(code, int) or isinstance(code, bool) or not FIRST_USER_CODE <= code <= 127:
            raise ConfigurationError(
                f"extension code for {cls.__qualname__} must be an integer from {FIRST_USER_CODE} "
                f"to 127 (below {FIRST_USER_CODE} is rqueues' own), got {code!r}"
            )
        with self._lock:
            taken = self._by_code.get(code)
            if taken is not None and taken.cls is not cls:
                raise ConfigurationError(
                    f"extension code {code} is already taken by {taken.cls.__qualname__}; "
                    f"choose another for {cls.__qualname__}"
                )
            self._add(ValueType(cls, code, encode, decode))

    def find(self, value: Any) -> ValueType | None:
        vt = self._by_cls.get(type(value))
        if vt is not None:
            return vt
        for klass in type(value).__mro__[1:]:  # a subclass of a registered type
            vt = self._by_cls.get(klass)
            if vt is not None:
                return vt
        return None

    def decoder(self, code: int) -> Callable[[bytes], Any]:
        vt = self._by_code.get(code)
        if vt is None:
            raise SerializationError(
                f"cannot decode a value of extension type {code}: no codec is registered for it "
                "in this process (call rqueues.register_type in a module the worker imports)"
            )
        return vt.decode


REGISTRY = Registry()


def register_type(
    cls: type[T], code: int, encode: Callable[[T], bytes], decode: Callable[[bytes], T]
) -> None:
    """Carry ``cls`` in job arguments and results as msgpack extension type ``code``.

    ``encode`` turns a value into bytes and ``decode`` turns them back. Register the
    same type with the same code in every process that enqueues, runs or reads such
    jobs: a worker that meets a code it does not know fails the job with a clear error.
    """
    REGISTRY.register(cls, code, encode, decode)
