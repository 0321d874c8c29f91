"""Jobs for the tracing test, and a tracing middleware whose finished spans go to a file.

A worker runs with ``--import traced_tasks --middleware traced_tasks:tracing``. Its
tracer provider is an SDK one of its own (no global state) that appends each finished
span as one JSON line to ``$RQUEUES_TEST_SPANS``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from rqueues.tracing import TracingMiddleware


def span_json(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "description": span.status.description,
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
    }


class FileExporter(SpanExporter):
    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self.lock, open(self.path, "a") as f:
            for span in spans:
                f.write(json.dumps(span_json(span)) + "\n")
        return SpanExportResult.SUCCESS


provider = TracerProvider()
if os.environ.get("RQUEUES_TEST_SPANS"):
    provider.add_span_processor(SimpleSpanProcessor(FileExporter(os.environ["RQUEUES_TEST_SPANS"])))
tracing = TracingMiddleware(tracer_provider=provider)


def current_span_id() -> str:
    """The id of the span current inside the job: the run's, if the middleware made it current."""
    return f"{trace.get_current_span().get_span_context().span_id:016x}"


def explode(message: str) -> None:
    raise ValueError(message)
