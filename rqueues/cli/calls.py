"""How `rqueues enqueue` reads a call: arguments from the command line, a JSON file or stdin."""

from __future__ import annotations

import json
from typing import Any, TextIO

import click


def parse_call(tokens: list[str]) -> tuple[list[Any], dict[str, Any]]:
    """Split CLI tokens into positional and keyword arguments (`--key value`, `--key=value`)."""
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--") and len(token) > 2:
            name, eq, value = token[2:].partition("=")
            key = name.replace("-", "_")
            if eq:
                kwargs[key] = _value(value)
            elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                kwargs[key] = _value(tokens[i + 1])
                i += 1
            else:
                raise click.UsageError(f"--{name} needs a value (write --{name} true for a flag)")
        else:
            args.append(_value(token))
        i += 1
    return args, kwargs


def read_call(source: TextIO) -> tuple[list[Any], dict[str, Any]]:
    """A call from JSON: an array of arguments, or an object with "args" and "kwargs"."""
    name = getattr(source, "name", "--args-json")
    try:
        data = json.load(source)
    except ValueError as exc:
        raise click.BadParameter(f"{name} is not JSON: {exc}", param_hint="--args-json") from exc
    if isinstance(data, list):
        return data, {}
    if isinstance(data, dict) and set(data) <= {"args", "kwargs"}:
        args, kwargs = data.get("args", []), data.get("kwargs", {})
        if isinstance(args, list) and isinstance(kwargs, dict):
            return args, kwargs
    raise click.BadParameter(
        f'{name} must hold an array of arguments or {{"args": [...], "kwargs": {{...}}}}',
        param_hint="--args-json",
    )


def merge_call(
    base: tuple[list[Any], dict[str, Any]], args: list[Any], kwargs: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """The file's call, then the command line's arguments after it; a keyword given twice is an error."""
    both = sorted(set(base[1]) & set(kwargs))
    if both:
        raise click.UsageError(f"keyword argument(s) given both in --args-json and on the line: {both}")
    return [*base[0], *args], {**base[1], **kwargs}


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text
