"""The msgpack codec: round trips, errors that name the culprit, envelopes refused."""

from __future__ import annotations

import datetime
from typing import Any

import msgpack
import pytest

from rqueues.codec import PAYLOAD_VERSION, decode_call, encode_call, encode_result, pack
from rqueues.errors import RqueuesError, SerializationError

ROUND_TRIPS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),
    ((1, -2, 2**63 - 1, -(2**63)), {}),
    (("text", "ünïcödé", "", b"\x00\xffbytes"), {}),
    ((1.5, True, False, None), {"flag": True}),
    (([1, [2, [3]]], {"nested": {"deep": [1, "x"]}}), {"mapping": {"a": 1}, "empty": []}),
    ((), {"width": 200, "name": "img.png"}),
]


@pytest.mark.parametrize(("args", "kwargs"), ROUND_TRIPS)
def test_call_round_trip(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    decoded_args, decoded_kwargs = decode_call(encode_call(args, kwargs))
    assert decoded_args == list(args)
    assert decoded_kwargs == kwargs


def test_tuples_come_back_as_lists() -> None:
    assert decode_call(encode_call(((1, 2),), {})) == ([[1, 2]], {})


@pytest.mark.parametrize(
    ("args", "kwargs", "names"),
    [
        ((1, object()), {}, ["positional argument 1", "object"]),
        ((object(),), {}, ["positional argument 0"]),
        (({1, 2},), {}, ["positional argument 0", "set"]),
        ((1,), {"when": datetime.datetime(2024, 1, 1)}, ["keyword argument 'when'", "datetime"]),
        ((), {"ok": 1, "bad": [1, object()]}, ["keyword argument 'bad'", "list"]),
        ((2**64,), {}, ["positional argument 0", "int"]),
    ],
)
def test_unserializable_argument_is_named(
    args: tuple[Any, ...], kwargs: dict[str, Any], names: list[str]
) -> None:
    with pytest.raises(SerializationError) as info:
        encode_call(args, kwargs)
    for name in names:
        assert name in str(info.value)
    assert "msgpack" in str(info.value)


def test_serialization_error_is_a_type_error_and_an_rqueues_error() -> None:
    with pytest.raises(TypeError):
        encode_call((object(),), {})
    assert issubclass(SerializationError, RqueuesError)


def test_only_the_first_bad_argument_is_named() -> None:
    with pytest.raises(SerializationError) as info:
        encode_call((1, object(), object()), {})
    assert "positional argument 1" in str(info.value)
    assert "positional argument 2" not in str(info.value)


@pytest.mark.parametrize(
    ("blob", "why"),
    [
        (b"", "cannot decode"),
        (b"\xc1", "cannot decode"),  # a byte msgpack never uses
        (b"\x92\x01", "cannot decode"),  # truncated array
        (pack("a string"), "not an rqueues envelope"),
        (pack([PAYLOAD_VERSION, [1]]), "not an rqueues envelope"),
        (pack([PAYLOAD_VERSION, {"a": 1}, {}]), "not an rqueues envelope"),
        (pack([PAYLOAD_VERSION, [], []]), "not an rqueues envelope"),
        (pack([PAYLOAD_VERSION + 1, [], {}]), f"unknown envelope version {PAYLOAD_VERSION + 1}"),
        (pack(["1", [], {}]), "unknown envelope version '1'"),
    ],
)
def test_bad_envelopes_are_refused(blob: bytes, why: str) -> None:
    with pytest.raises(SerializationError) as info:
        decode_call(blob)
    assert why in str(info.value)


def test_payload_is_plain_msgpack_never_pickle() -> None:
    blob = encode_call((1, "a"), {"k": b"v"})
    assert msgpack.unpackb(blob, raw=False) == [PAYLOAD_VERSION, [1, "a"], {"k": b"v"}]
    assert not blob.startswith(b"\x80")  # pickle protocol 2+ opcode


def test_result_that_msgpack_cannot_carry_names_its_type() -> None:
    assert msgpack.unpackb(encode_result({"a": [1, 2]}), raw=False) == {"a": [1, 2]}
    with pytest.raises(SerializationError) as info:
        encode_result({1, 2, 3})
    assert "return value of type set" in str(info.value)
