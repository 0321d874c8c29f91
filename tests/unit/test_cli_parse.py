"""`rqueues enqueue` argument parsing: JSON when it parses, else a string; --key value kwargs."""

from __future__ import annotations

from typing import Any

import pytest

from rqueues.cli.main import parse_call

CASES: list[tuple[list[str], list[Any], dict[str, Any]]] = [
    ([], [], {}),
    (["1", "two", "1.5", "null", "true"], [1, "two", 1.5, None, True], {}),
    (["[1, 2]", '{"a": 1}', '"quoted"'], [[1, 2], {"a": 1}, "quoted"], {}),
    (["img.png", "--width", "200"], ["img.png"], {"width": 200}),
    (["--name=x", "--size=[1,2]"], [], {"name": "x", "size": [1, 2]}),
    (["--dry-run"], [], {"dry_run": True}),
    (["--a", "--b", "1"], [], {"a": True, "b": 1}),
    (["-5", "--offset", "-3"], [-5], {"offset": -3}),
    (["--label", "hello world"], [], {"label": "hello world"}),
    (["a", "--k", "v", "b"], ["a", "b"], {"k": "v"}),
    (["--empty="], [], {"empty": ""}),
]


@pytest.mark.parametrize(("tokens", "args", "kwargs"), CASES)
def test_parse_call(tokens: list[str], args: list[Any], kwargs: dict[str, Any]) -> None:
    assert parse_call(tokens) == (args, kwargs)
