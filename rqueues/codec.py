"""msgpack encoding of job payloads, results and errors. Never pickle."""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import SerializationError
from .valuetypes import REGISTRY, SUPPORTED

#: Version of the payload envelope; a worker refuses envelopes it does not know.
PAYLOAD_VERSION = 1


def pack(value: Any) -> bytes:
    blob: bytes = msgpack.packb(value, use_bin_type=True)
    return blob


def unpack(blob: bytes) -> Any:
    return msgpack.unpackb(blob, raw=False, strict_map_key=False)


def _ext(value: Any) -> msgpack.ExtType:
    vt = REGISTRY.find(value)
    if vt is None:
        raise TypeError(
            f"{type(value).__name__} is not among the types rqueues carries (msgpack's own, "
            f"{SUPPORTED}, and those given to rqueues.register_type)"
        )
    return msgpack.ExtType(vt.code, vt.encode(value))


def _ext_hook(code: int, data: bytes) -> Any:
    decode = REGISTRY.decoder(code)
    try:
        return decode(data)
    except Exception as exc:
        raise SerializationError(f"cannot decode a value of extension type {code}: {exc}") from exc


def pack_value(value: Any) -> bytes:
    """msgpack with rqueues' value types (valuetypes.py): job arguments and results."""
    blob: bytes = msgpack.packb(value, use_bin_type=True, default=_ext)
    return blob


def unpack_value(blob: bytes) -> Any:
    return msgpack.unpackb(blob, raw=False, strict_map_key=False, ext_hook=_ext_hook)


def encode_call(
    args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], meta: dict[str, str] | None = None
) -> bytes:
    """Encode a call's arguments; names the first argument msgpack cannot carry.

    The envelope is ``[1, args, kwargs]``, or ``[1, args, kwargs, meta]`` when middleware
    gave the job metadata (str -> str, checked by middleware.check_meta): a job without
    any costs no byte more, and a worker reads both shapes.
    """
    try:
        return pack_value(
            [PAYLOAD_VERSION, list(args), kwargs, meta] if meta else [PAYLOAD_VERSION, list(args), kwargs]
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(_culprit(args, kwargs, exc)) from exc


def decode_call(blob: bytes) -> tuple[list[Any], dict[str, Any]]:
    """Decode a payload written by encode_call; raise SerializationError if it is not one."""
    args, kwargs, _ = decode_envelope(blob)
    return args, kwargs


def decode_envelope(blob: bytes) -> tuple[list[Any], dict[str, Any], dict[str, str]]:
    """A payload's arguments and its metadata ({} when it has none)."""
    try:
        value = unpack_value(blob)
    except Exception as exc:  # msgpack raises several unrelated types
        raise SerializationError(f"cannot decode job payload: {exc}") from exc
    if (
        not isinstance(value, list)
        or len(value) not in (3, 4)
        or not isinstance(value[1], list)
        or not isinstance(value[2], dict)
    ):
        raise SerializationError("cannot decode job payload: not an rqueues envelope")
    if value[0] != PAYLOAD_VERSION:
        raise SerializationError(f"cannot decode job payload: unknown envelope version {value[0]!r}")
    meta = value[3] if len(value) == 4 else {}
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise SerializationError("cannot decode job payload: its metadata is not a map of str to str")
    return value[1], value[2], meta


def encode_result(value: Any) -> bytes:
    try:
        return pack_value(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SerializationError(
            f"the job's return value of type {type(value).__name__} cannot be serialized "
            f"by msgpack ({exc}); return plain data (None, bool, int, float, str, bytes, "
            f"list, dict, {SUPPORTED}) or a type given to rqueues.register_type"
        ) from exc


def decode_result(blob: bytes) -> Any:
    """A stored result; SerializationError when it holds a value type this process lacks."""
    try:
        return unpack_value(blob)
    except SerializationError:
        raise
    except Exception as exc:
        raise SerializationError(f"cannot decode the job's result: {exc}") from exc


def encode_error(exc_type: str, message: str, traceback: str) -> bytes:
    return pack({"type": exc_type, "message": message, "traceback": traceback})


def decode_error(blob: bytes | None) -> dict[str, str]:
    if not blob:
        return {"type": "", "message": "", "traceback": ""}
    try:
        value = unpack(blob)
    except Exception:
        return {"type": "", "message": repr(blob), "traceback": ""}
    return value if isinstance(value, dict) else {"type": "", "message": str(value), "traceback": ""}


def _culprit(args: tuple[Any, ...] | list[Any], kwargs: dict[str, Any], exc: Exception) -> str:
    for i, arg in enumerate(args):
        if not _packable(arg):
            return (
                f"positional argument {i} of type {type(arg).__name__} cannot be "
                f"serialized by msgpack ({exc})"
            )
    for name, arg in kwargs.items():
        if not isinstance(name, str):
            return f"keyword argument name {name!r} is not a string"
        if not _packable(arg):
            return (
                f"keyword argument {name!r} of type {type(arg).__name__} cannot be "
                f"serialized by msgpack ({exc})"
            )
    return f"arguments cannot be serialized by msgpack ({exc})"


def _packable(value: Any) -> bool:
    try:
        pack_value(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True
