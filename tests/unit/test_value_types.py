"""Value types beyond msgpack's: round trips through arguments and results, user codecs, refusals."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
import zoneinfo
from typing import Any

import msgpack
import pytest

from rqueues import register_type
from rqueues.codec import decode_call, decode_result, encode_call, encode_result
from rqueues.errors import ConfigurationError, SerializationError
from rqueues.valuetypes import FIRST_USER_CODE, Registry

PARIS = zoneinfo.ZoneInfo("Europe/Paris")

VALUES: list[Any] = [
    dt.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 10, 25, 2, 30, tzinfo=PARIS, fold=1),  # the repeated hour of a DST change
    dt.datetime(1969, 7, 20, 20, 17, 40, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
    dt.date(2026, 12, 1),
    dt.time(23, 59, 59, 999999),
    dt.timedelta(days=-3, seconds=5, microseconds=7),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    decimal.Decimal("3.141592653589793238462643383279"),
    decimal.Decimal("-0.00"),
    b"\x00\xff raw bytes",
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_value_round_trips_as_argument_and_result(value: Any) -> None:
    args, kwargs = decode_call(encode_call((value,), {"nested": {"list": [value]}}))
    for got in (args[0], kwargs["nested"]["list"][0], decode_result(encode_result(value))):
        assert type(got) is type(value)
        assert got == value
        if isinstance(value, dt.datetime):
            assert got.utcoffset() == value.utcoffset()
            assert got.tzinfo == value.tzinfo or got.tzinfo.utcoffset(got) == value.utcoffset()


def test_zone_is_kept_not_just_the_offset() -> None:
    value = dt.datetime(2026, 7, 1, 12, tzinfo=PARIS)
    got = decode_result(encode_result(value))
    assert got.tzinfo == PARIS
    assert (got + dt.timedelta(days=180)).utcoffset() == dt.timedelta(hours=1)  # winter time again


def test_naive_datetime_is_refused_with_the_fix() -> None:
    with pytest.raises(SerializationError) as info:
        encode_call((), {"when": dt.datetime(2026, 1, 1)})
    text = str(info.value)
    assert "keyword argument 'when'" in text and "naive datetime" in text and "timezone.utc" in text


def test_unsupported_type_still_refused_and_named() -> None:
    with pytest.raises(SerializationError) as info:
        encode_call(({1, 2},), {})
    assert "positional argument 0 of type set" in str(info.value)
    assert "register_type" in str(info.value)


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (other.x, other.y) == (self.x, self.y)


def test_user_type_round_trips_once_registered() -> None:
    registry_code = 42
    register_type(
        Point,
        registry_code,
        lambda p: msgpack.packb([p.x, p.y]),
        lambda b: Point(*msgpack.unpackb(b)),
    )
    blob = encode_call((Point(1, 2),), {})
    assert decode_call(blob) == ([Point(1, 2)], {})
    assert decode_result(encode_result([Point(3, 4)])) == [Point(3, 4)]
    register_type(Point, registry_code, lambda p: b"", lambda b: Point(0, 0))  # same class: replaced


def test_unknown_extension_code_is_a_clear_error() -> None:
    blob = msgpack.packb([1, [msgpack.ExtType(99, b"x")], {}], use_bin_type=True)
    with pytest.raises(SerializationError) as info:
        decode_call(blob)
    assert "extension type 99" in str(info.value) and "register_type" in str(info.value)


def test_corrupt_extension_payload_is_a_clear_error() -> None:
    blob = msgpack.packb(msgpack.ExtType(5, b"short"), use_bin_type=True)  # a UUID needs 16 bytes
    with pytest.raises(SerializationError) as info:
        decode_result(blob)
    assert "extension type 5" in str(info.value)


@pytest.mark.parametrize("code", [0, FIRST_USER_CODE - 1, 128, -1, True, "20"])
def test_registration_refuses_codes_outside_the_user_range(code: Any) -> None:
    with pytest.raises(ConfigurationError) as info:
        Registry().register(Point, code, lambda p: b"", lambda b: Point(0, 0))
    assert "extension code" in str(info.value)


def test_registration_refuses_a_code_taken_by_another_class() -> None:
    registry = Registry()
    registry.register(Point, 20, lambda p: b"", lambda b: Point(0, 0))
    with pytest.raises(ConfigurationError) as info:
        registry.register(dict, 20, lambda p: b"", lambda b: {})
    assert "already taken by Point" in str(info.value)


def test_subclass_of_a_supported_type_is_carried_as_its_base() -> None:
    class MyUUID(uuid.UUID):
        pass

    value = MyUUID("12345678-1234-5678-1234-567812345678")
    assert decode_result(encode_result(value)) == uuid.UUID(str(value))
