"""`rqueues enqueue` argument parsing: JSON when it parses, else a string; --key value kwargs."""

from __future__ import annotations

from typing import Any

import click
import pytest

from rqueues.cli.calls import parse_call

CASES: list[tuple[list[str], list[Any], dict[str, Any]]] = [
    ([], [], {}),
    (["1", "two", "1.5", "null", "true"], [1, "two", 1.5, None, True], {}),
    (["[1, 2]", '{"a": 1}', '"quoted"'], [[1, 2], {"a": 1}, "quoted"], {}),
    (["img.png", "--width", "200"], ["img.png"], {"width": 200}),
    (["--name=x", "--size=[1,2]"], [], {"name": "x", "size": [1, 2]}),
    (["--dry-run", "true"], [], {"dry_run": True}),
    (["-5", "--offset", "-3"], [-5], {"offset": -3}),
    (["--label", "hello world"], [], {"label": "hello world"}),
    (["a", "--k", "v", "b"], ["a", "b"], {"k": "v"}),
    (["--empty="], [], {"empty": ""}),
]


@pytest.mark.parametrize(("tokens", "args", "kwargs"), CASES)
def test_parse_call(tokens: list[str], args: list[Any], kwargs: dict[str, Any]) -> None:
    assert parse_call(tokens) == (args, kwargs)


@pytest.mark.parametrize("tokens", [["--dry-run"], ["--a", "--b", "1"], ["x", "--last"]])
def test_a_keyword_without_a_value_is_refused(tokens: list[str]) -> None:
    """Regression: `--name` alone became True, so a forgotten value ran the job with a boolean."""
    with pytest.raises(click.UsageError, match="needs a value"):
        parse_call(tokens)
