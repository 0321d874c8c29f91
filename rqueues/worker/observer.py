"""Hooks a worker calls as jobs move; the base class does nothing.

Metrics (and tests) subclass Observer; the worker never depends on what they do.
Every hook is called on the hot path: keep implementations cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

from .execution import Claimed, Outcome


class Observer:
    def claimed(self, queue: str, jobs: Sequence[Claimed]) -> None:
        """Jobs were claimed with their leases and are about to run."""

    def denied(self, queue: str) -> None:
        """A claim found the queue's concurrency limit reached."""

    def finished(self, outcome: Outcome, seconds: float) -> None:
        """A job finished running (before its outcome is stored)."""

    def stored(self, outcomes: Sequence[Outcome]) -> None:
        """Outcomes were stored in Redis (called on the acker's one thread, per batch)."""

    def redis_error(self, where: str) -> None:
        """A Redis call failed in ``where`` (dispatch, ack, heartbeat)."""

    def heartbeat(self) -> None:
        """A heartbeat was written."""

    def child_replaced(self, reason: str) -> None:
        """The process executor replaced a child (executors/process.py REPLACED says why)."""


class Observers(Observer):
    """Several observers called in turn (for example metrics and job logs)."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers

    def claimed(self, queue: str, jobs: Sequence[Claimed]) -> None:
        for o in self.observers:
            o.claimed(queue, jobs)

    def denied(self, queue: str) -> None:
        for o in self.observers:
            o.denied(queue)

    def finished(self, outcome: Outcome, seconds: float) -> None:
        for o in self.observers:
            o.finished(outcome, seconds)

    def stored(self, outcomes: Sequence[Outcome]) -> None:
        for o in self.observers:
            o.stored(outcomes)

    def redis_error(self, where: str) -> None:
        for o in self.observers:
            o.redis_error(where)

    def heartbeat(self) -> None:
        for o in self.observers:
            o.heartbeat()

    def child_replaced(self, reason: str) -> None:
        for o in self.observers:
            o.child_replaced(reason)
