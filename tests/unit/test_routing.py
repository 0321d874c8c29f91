"""Tag routing: automatic tags, full-match patterns, every pattern must match some tag."""

from __future__ import annotations

import platform
import socket

import pytest

from rqueues.errors import ConfigurationError
from rqueues.routing import automatic_tags, check_patterns, matches, parse_tags


def test_automatic_tags_are_present() -> None:
    tags = automatic_tags("w-1")
    assert "*" in tags
    assert "worker_id=w-1" in tags
    assert f"hostname={socket.gethostname()}" in tags
    assert f"python={platform.python_version()}" in tags
    assert f"os={platform.system().lower()}" in tags
    assert f"arch={platform.machine().lower()}" in tags


WORKER = {"has=gpu", "region=eu-west", "*", "worker_id=w-1"}

CASES = [
    # (queue patterns, worker tags, runs there?)
    ((), set(), True),  # a queue with no tags runs anywhere
    ((), WORKER, True),
    (("has=gpu",), WORKER, True),
    (("has=gpu",), {"has=gpu2"}, False),  # patterns match fully, not as a prefix
    (("has=gpu",), {"xhas=gpu"}, False),  # nor as a substring
    (("gpu",), {"has=gpu"}, False),
    (("has=.*",), WORKER, True),
    (("has=(gpu|tpu)",), {"has=tpu"}, True),
    (("has=gpu", "region=eu-.*"), WORKER, True),  # every pattern matches some tag
    (("has=gpu", "region=us-.*"), WORKER, False),  # one pattern matching nothing is enough to refuse
    (("has=gpu", "region=eu-.*"), {"has=gpu"}, False),
    (("has=gpu",), set(), False),
    ((r"\*",), {"*"}, True),  # the automatic "*" tag
    (("worker_id=w-1",), WORKER, True),
    (("worker_id=w-2",), WORKER, False),
]


@pytest.mark.parametrize(("patterns", "tags", "expected"), CASES)
def test_matches(patterns: tuple[str, ...], tags: set[str], expected: bool) -> None:
    assert matches(patterns, tags) is expected


def test_a_pattern_may_match_an_automatic_tag() -> None:
    assert matches(("hostname=.+", "os=.+"), automatic_tags("w"))
    assert not matches(("has=gpu",), automatic_tags("w"))


@pytest.mark.parametrize("pattern", ["(", "has=[gpu", "*gpu", "a{2,1}"])
def test_bad_regex_error_names_the_pattern(pattern: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_patterns(["ok", pattern])
    assert repr(pattern) in str(info.value)


@pytest.mark.parametrize("pattern", ["", None, 3])
def test_non_string_or_empty_pattern_refused(pattern: object) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_patterns([pattern])  # type: ignore[list-item]
    assert "non-empty string" in str(info.value)


def test_check_patterns_sorts_and_deduplicates() -> None:
    assert check_patterns(["b", "a", "b"]) == ("a", "b")


def test_parse_tags_splits_commas_and_repeats() -> None:
    assert parse_tags(["has=gpu,region=eu", " zone=1 ", "", ","]) == {"has=gpu", "region=eu", "zone=1"}
