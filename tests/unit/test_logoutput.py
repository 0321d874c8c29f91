"""The batch path of job log lines writes what logging's own path would write."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from rqueues.logoutput import TEXT, BufferedStderr, JsonFormatter, lines_sink

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
LINES = [
    ("job %s started: %s on %s, attempt %d", ("j1", "m:f", "q", 1), {"job_id": "j1", "attempt": 1}),
    ("job %s %s in %.3fs: %s", ("j1", "done", 0.0012, "m:f"), {"job_id": "j1", "outcome": "done"}),
]


@pytest.fixture
def logger() -> Iterator[logging.Logger]:
    parent = logging.getLogger("test-logoutput")
    parent.propagate = False
    child = logging.getLogger("test-logoutput.jobs")
    child.setLevel(logging.INFO)
    yield child
    parent.handlers.clear()
    child.handlers.clear()
    child.filters.clear()


def both_ways(logger: logging.Logger, formatter: logging.Formatter) -> tuple[list[str], list[str]]:
    """The same lines through logging's records and through emit_lines."""
    stream = io.StringIO()
    handler = BufferedStderr(stream)
    handler.setFormatter(formatter)
    logging.getLogger("test-logoutput").handlers[:] = [handler]  # as setup_logging does
    for msg, args, extra in LINES:
        logger.info(msg, *args, extra=dict(extra))
    records = stream.getvalue().splitlines()
    stream.seek(0)
    stream.truncate()
    sink = lines_sink(logger, logging.INFO)
    assert sink is handler
    sink.emit_lines(logging.INFO, logger.name, LINES)
    return records, stream.getvalue().splitlines()


def test_text_lines_match_the_formatter(logger: logging.Logger) -> None:
    records, batch = both_ways(logger, logging.Formatter(TEXT))
    assert len(batch) == 2
    assert all(STAMP.match(line) for line in records + batch)
    assert [STAMP.sub("", line) for line in batch] == [STAMP.sub("", line) for line in records]
    assert STAMP.sub("", batch[1]) == "INFO test-logoutput.jobs: job j1 done in 0.001s: m:f"


def test_json_lines_match_the_formatter(logger: logging.Logger) -> None:
    records, batch = both_ways(logger, JsonFormatter())

    def fields(line: str) -> dict[str, object]:
        out = json.loads(line)
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", out.pop("time"))
        return dict(out)

    assert [fields(line) for line in batch] == [fields(line) for line in records]
    assert fields(batch[0])["job_id"] == "j1"


def test_other_handlers_or_filters_get_records(logger: logging.Logger) -> None:
    handler = BufferedStderr(io.StringIO())
    handler.setFormatter(logging.Formatter(TEXT))
    logging.getLogger("test-logoutput").handlers[:] = [handler]  # as setup_logging does
    assert lines_sink(logger, logging.INFO) is handler
    assert lines_sink(logger, logging.DEBUG) is handler  # the caller checks isEnabledFor

    handler.setLevel(logging.WARNING)
    assert lines_sink(logger, logging.INFO) is None  # no handler would write it
    handler.setLevel(logging.NOTSET)

    handler.setFormatter(logging.Formatter("%(message)s"))  # a format of the application's
    assert lines_sink(logger, logging.INFO) is None
    handler.setFormatter(logging.Formatter(TEXT))

    logger.addFilter(lambda record: True)
    assert lines_sink(logger, logging.INFO) is None
    logger.filters.clear()

    logger.addHandler(logging.StreamHandler(io.StringIO()))
    assert lines_sink(logger, logging.INFO) is None
