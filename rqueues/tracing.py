"""OpenTelemetry tracing, as a middleware: a job's runs are children of its enqueuer's span.

Needs the extra ``rqueues[otel]`` (opentelemetry-api); ``import rqueues`` never imports
this module. Install it in every process that enqueues or runs jobs::

    rqueues.add_middleware(rqueues.tracing.TracingMiddleware())   # in code
    rqueues worker --middleware rqueues.tracing:TracingMiddleware  # a worker and its children

At enqueue, the current trace context goes into the job's envelope metadata through
the global propagator (W3C ``traceparent`` and ``tracestate`` by default), from a short
PRODUCER span per job (``producer_spans=False`` injects the caller's span instead). Each
run is a CONSUMER span, a child of that context, current while the job's function runs
(so the job's own spans nest under it), with the OpenTelemetry messaging attributes and
``rqueues.function``, ``rqueues.attempt`` and ``rqueues.outcome``; a failed run records
its exception and an error status.
"""

from __future__ import annotations

from typing import Any

try:
    from opentelemetry import context, propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # the extra is not installed
    raise ImportError(f"rqueues.tracing needs OpenTelemetry: pip install 'rqueues[otel]' ({exc})") from exc

from .defaults import VERSION
from .middleware import EnqueueCall, Middleware, RunContext, RunOutcome

SYSTEM = "rqueues"
_SPAN = "rqueues.tracing.span"  # RunContext.state key: (span, context token)


class TracingMiddleware(Middleware):
    """Carries trace context from enqueue to run; see the module's docstring."""

    def __init__(
        self, tracer_provider: trace.TracerProvider | None = None, *, producer_spans: bool = True
    ) -> None:
        self.tracer = trace.get_tracer("rqueues", VERSION, tracer_provider=tracer_provider)
        self.producer_spans = producer_spans

    def before_enqueue(self, call: EnqueueCall) -> None:
        if not self.producer_spans:
            propagate.inject(call.meta)
            return
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.destination.name": call.queue,
            "messaging.operation.type": "create",
            "messaging.operation.name": "enqueue",
            "rqueues.function": call.function,
        }
        if call.options.job_id:
            attributes["messaging.message.id"] = call.options.job_id
        name = f"rqueues.enqueue {call.function}"
        with self.tracer.start_as_current_span(name, kind=SpanKind.PRODUCER, attributes=attributes):
            propagate.inject(call.meta)

    def before_run(self, ctx: RunContext) -> None:
        parent = propagate.extract(ctx.meta)
        span = self.tracer.start_span(
            f"rqueues.run {ctx.function}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": SYSTEM,
                "messaging.destination.name": ctx.queue,
                "messaging.message.id": ctx.job_id,
                "messaging.operation.type": "process",
                "messaging.operation.name": "run",
                "rqueues.function": ctx.function,
                "rqueues.attempt": ctx.attempts,
            },
        )
        token = context.attach(trace.set_span_in_context(span, parent))  # baggage stays
        ctx.state[_SPAN] = (span, token)

    def after_run(self, ctx: RunContext, outcome: RunOutcome) -> None:
        span, token = ctx.state.pop(_SPAN, (None, None))
        if span is None:
            return
        try:
            span.set_attribute("rqueues.outcome", outcome.state)
            if outcome.error is not None:
                span.record_exception(outcome.error)
                span.set_status(Status(StatusCode.ERROR, f"{type(outcome.error).__name__}: {outcome.error}"))
        finally:
            span.end()
            context.detach(token)
