"""Checked by mypy in tests/unit/test_task_typing.py; never imported by the test run."""

from __future__ import annotations

from typing import reveal_type

import rqueues


@rqueues.task(queue="heavy", retries=3, timeout=60)
def resize(path: str, width: int = 100) -> str:
    return f"{path}@{width}"


@rqueues.task(queue="io")
async def fetch(url: str) -> bytes:
    return url.encode()


def good() -> None:
    reveal_type(resize.enqueue("a.png", width=200).wait())  # R: str
    reveal_type(fetch.enqueue("https://example.org").wait(timeout=5))  # R: bytes
    reveal_type(resize("a.png"))  # C: str
    coro = reveal_type(fetch("u"))  # C: a coroutine of bytes
    coro.close()
    reveal_type(resize.options(job_id="x").enqueue("b.png").wait())  # R: str
    reveal_type(resize.enqueue_in(30, "c.png").wait())  # R: str


async def good_async() -> None:
    reveal_type(await (await resize.aenqueue("a.png")).wait())  # R: str
    reveal_type(await (await fetch.aenqueue("u")).wait())  # R: bytes


async def bad_async() -> None:
    await resize.aenqueue(3)  # E: wrong positional type


def bad() -> None:
    resize.enqueue(200)  # E: wrong positional type
    resize.enqueue("a.png", height=1)  # E: unknown keyword
    resize.enqueue()  # E: missing argument
    fetch.enqueue("u", "v")  # E: too many arguments
    n: int = resize.enqueue("a.png").wait()  # E: str is not int
    _ = n
