"""OpenTelemetry: a run's CONSUMER span is the child of its enqueuer's context, across processes;
a failed run records its exception; nothing imports OpenTelemetry unless tracing is enabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import traced_tasks
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rqueues import Connection, JobFailed, Queue, RetryPolicy, Worker
from rqueues.middleware import ENV, add_middleware
from rqueues.tracing import TracingMiddleware

TESTS = Path(__file__).resolve().parents[1]


# Each test starts with no middleware installed (conftest.py).
pytestmark = pytest.mark.usefixtures("clean_middleware")


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def spans_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a worker process that imports traced_tasks writes its finished spans."""
    path = tmp_path / "spans.jsonl"
    monkeypatch.setenv("RQUEUES_TEST_SPANS", str(path))
    return path


def exported(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ids(span: ReadableSpan) -> tuple[str, str]:
    ctx = span.get_span_context()
    assert ctx is not None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


def named(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    [span] = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


def test_a_worker_process_runs_the_job_in_a_child_span_of_the_enqueuers(
    conn: Connection,
    q: Queue,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    spans_file: Path,
    worker_process: Callable[..., Any],
    wait_until: Callable[..., Any],
) -> None:
    add_middleware(TracingMiddleware(tracer_provider=provider))
    worker_process("--import", "traced_tasks", "--middleware", "traced_tasks:tracing")
    with provider.get_tracer("test").start_as_current_span("request"):
        job = q.enqueue(traced_tasks.current_span_id)
    inside = job.wait(timeout=30)

    root = named(exporter, "request")
    producer = named(exporter, "rqueues.enqueue traced_tasks:current_span_id")
    assert producer.parent is not None and f"{producer.parent.span_id:016x}" == ids(root)[1]
    assert producer.kind.name == "PRODUCER"
    assert dict(producer.attributes or {}) == {
        "messaging.system": "rqueues",
        "messaging.destination.name": "default",
        "messaging.operation.type": "create",
        "messaging.operation.name": "enqueue",
        "rqueues.function": "traced_tasks:current_span_id",
    }
    [run] = wait_until(lambda: exported(spans_file), what="the worker's span in the file")
    assert run["name"] == "rqueues.run traced_tasks:current_span_id"
    assert run["kind"] == "CONSUMER"
    assert run["trace_id"] == ids(root)[0]
    assert run["parent_span_id"] == ids(producer)[1]
    assert run["attributes"] == {
        "messaging.system": "rqueues",
        "messaging.destination.name": "default",
        "messaging.message.id": job.id,
        "messaging.operation.type": "process",
        "messaging.operation.name": "run",
        "rqueues.function": "traced_tasks:current_span_id",
        "rqueues.attempt": 1,
        "rqueues.outcome": "succeeded",
    }
    assert run["status"] == "UNSET" and run["events"] == []
    assert inside == run["span_id"]  # the run's span is current while the job runs


def test_a_failed_run_records_its_exception_and_an_error_status_for_each_attempt(
    conn: Connection,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    spans_file: Path,
    worker_process: Callable[..., Any],
    wait_until: Callable[..., Any],
) -> None:
    q = Queue("default", conn)
    q.declare(retry=RetryPolicy(retries=1, backoff=0.01))
    add_middleware(TracingMiddleware(tracer_provider=provider))
    worker_process("--import", "traced_tasks", "--middleware", "traced_tasks:tracing")
    with provider.get_tracer("test").start_as_current_span("request"):
        job = q.enqueue(traced_tasks.explode, "kaput")
    with pytest.raises(JobFailed, match="ValueError: kaput"):
        job.wait(timeout=30)

    producer = named(exporter, "rqueues.enqueue traced_tasks:explode")
    wait_until(lambda: len(exported(spans_file)) == 2, what="two run spans in the file")
    runs = exported(spans_file)
    assert [r["attributes"]["rqueues.attempt"] for r in runs] == [1, 2]
    for run in runs:
        assert run["trace_id"] == ids(producer)[0]
        assert run["parent_span_id"] == ids(producer)[1]  # a retry is a sibling, not a child
        assert run["attributes"]["rqueues.outcome"] == "failed"
        assert run["status"] == "ERROR" and run["description"] == "ValueError: kaput"
        [event] = run["events"]
        assert event["name"] == "exception"
        assert event["attributes"]["exception.type"] == "ValueError"
        assert event["attributes"]["exception.message"] == "kaput"
        assert "traced_tasks.py" in event["attributes"]["exception.stacktrace"]


def test_without_producer_spans_the_run_is_a_child_of_the_callers_span(
    conn: Connection, q: Queue, provider: TracerProvider, exporter: InMemorySpanExporter,
    quick_worker: Callable[..., Worker],
) -> None:  # fmt: skip
    add_middleware(TracingMiddleware(tracer_provider=provider, producer_spans=False))
    quick_worker(imports=["traced_tasks"])
    with provider.get_tracer("test").start_as_current_span("request"):
        job = q.enqueue(traced_tasks.current_span_id)
    inside = job.wait(timeout=30)
    root = named(exporter, "request")
    run = named(exporter, "rqueues.run traced_tasks:current_span_id")
    assert [s.name for s in exporter.get_finished_spans()] == ["request", run.name]
    assert run.parent is not None and f"{run.parent.span_id:016x}" == ids(root)[1]
    assert inside == ids(run)[1]


def test_a_job_enqueued_without_a_trace_gets_a_root_span(
    conn: Connection, q: Queue, provider: TracerProvider, exporter: InMemorySpanExporter,
    quick_worker: Callable[..., Worker],
) -> None:  # fmt: skip
    add_middleware(TracingMiddleware(tracer_provider=provider, producer_spans=False))
    quick_worker(imports=["traced_tasks"])
    q.enqueue(traced_tasks.current_span_id).wait(timeout=30)
    run = named(exporter, "rqueues.run traced_tasks:current_span_id")
    assert run.parent is None


#: Run in a fresh interpreter: OpenTelemetry made absent (its imports fail, as without the
#: extra), rqueues imported and a worker run; reports any import of it that rqueues' own
#: code attempted (redis-py 8 tries one of its own, and copes), and what tracing says.
ABSENT = """
import json, os, sys
package = sys.argv[2]
attempts = []

class Absent:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] != "opentelemetry":
            return None
        frame = sys._getframe(1)
        while frame and ("importlib" in frame.f_code.co_filename or frame.f_code.co_filename.startswith("<")):
            frame = frame.f_back
        attempts.append(frame.f_code.co_filename if frame else "?")
        raise ModuleNotFoundError(f"No module named {name!r}")

sys.meta_path.insert(0, Absent())
from rqueues import Queue, Worker, connect
c = connect(sys.argv[1])
q = Queue("plain", c)
q.declare()
job = q.enqueue("tasks:add", 1, 2)
Worker(c, imports=["tasks"], burst=True, refresh_seconds=0.1).run(install_signals=False)
result = job.wait(timeout=5)
ours = [f for f in attempts if f.startswith(package + os.sep)]
loaded = "rqueues.tracing" in sys.modules
try:
    import rqueues.tracing
    error = ""
except ImportError as exc:
    error = str(exc)
print(json.dumps({"result": result, "ours": ours, "loaded": loaded, "error": error}))
"""


def test_rqueues_and_a_worker_run_import_no_opentelemetry(conn: Connection, redis_url: str) -> None:
    import rqueues

    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    env.pop(ENV, None)
    package = str(Path(rqueues.__file__).parent)
    proc = subprocess.run(
        [sys.executable, "-c", ABSENT, redis_url, package],
        capture_output=True, text=True, timeout=60, env=env, cwd=TESTS,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["result"] == 3
    assert report["ours"] == [] and report["loaded"] is False
    assert "pip install 'rqueues[otel]'" in report["error"]
