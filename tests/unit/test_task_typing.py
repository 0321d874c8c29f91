"""@rqueues.task is typed: mypy --strict rejects wrong enqueue arguments, and wait() returns
the function's return type (tests/typing/typed_tasks.py, checked here by mypy itself)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

api = pytest.importorskip("mypy.api")

SAMPLE = Path(__file__).resolve().parents[1] / "typing" / "typed_tasks.py"
ROOT = SAMPLE.parents[2]


@pytest.fixture(scope="module")
def report() -> dict[int, list[str]]:
    out, err, _ = api.run(["--strict", "--no-incremental", "--cache-dir=/dev/null", str(SAMPLE)])
    assert not err, err
    lines: dict[int, list[str]] = {}
    for line in out.splitlines():
        m = re.match(r".*typed_tasks\.py:(\d+): (.*)$", line)
        if m:
            lines.setdefault(int(m.group(1)), []).append(m.group(2))
    return lines


def _line(marker: str) -> int:
    for number, text in enumerate(SAMPLE.read_text().splitlines(), start=1):
        if marker in text:
            return number
    raise AssertionError(f"{marker!r} not in the sample")


@pytest.mark.parametrize(
    ("marker", "revealed"),
    [
        ('resize.enqueue("a.png", width=200).wait())', "str"),
        ('fetch.enqueue("https://example.org").wait(timeout=5))', "bytes"),
        ('reveal_type(resize("a.png"))', "str"),
        ('reveal_type(fetch("u"))', r"typing\.Coroutine\[Any, Any, (builtins\.)?bytes\]"),
        ('resize.options(job_id="x").enqueue("b.png").wait())', "str"),
        ('resize.enqueue_in(30, "c.png").wait())', "str"),
        ('(await resize.aenqueue("a.png")).wait())', "str"),
        ('(await fetch.aenqueue("u")).wait())', "bytes"),
    ],
)
def test_wait_returns_the_functions_return_type(
    report: dict[int, list[str]], marker: str, revealed: str
) -> None:
    notes = report.get(_line(marker), [])
    pattern = re.compile(rf'Revealed type is "(builtins\.)?{revealed}"')
    assert any(pattern.search(n) for n in notes), notes


@pytest.mark.parametrize(
    ("marker", "error"),
    [
        ("resize.enqueue(200)", 'Argument 1 to "enqueue" of "Task" has incompatible type "int"'),
        ("resize.aenqueue(3)", 'Argument 1 to "aenqueue" of "Task" has incompatible type "int"'),
        ("height=1)", 'Unexpected keyword argument "height"'),
        ("resize.enqueue()  #", 'Missing positional argument "path"'),
        ('fetch.enqueue("u", "v")', 'Too many arguments for "enqueue" of "Task"'),
        ("n: int = resize.enqueue", 'Incompatible types in assignment (expression has type "str"'),
    ],
)
def test_wrong_arguments_are_rejected(report: dict[int, list[str]], marker: str, error: str) -> None:
    found = report.get(_line(marker), [])
    assert any(error in e for e in found), found


def test_the_good_calls_have_no_errors(report: dict[int, list[str]]) -> None:
    start, end = _line("def good()"), _line("async def bad_async()")
    errors = [e for n, msgs in report.items() if start <= n < end for e in msgs if e.startswith("error:")]
    assert errors == []
    assert any(e.startswith("error:") for n, msgs in report.items() if n >= end for e in msgs)
