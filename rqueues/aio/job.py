"""Job handles for asyncio code: the blocking Job's methods, awaited, on the same steps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic

from ..backend import scripts
from ..job import (
    JobHandle,
    cancel_steps,
    fetch_steps,
    handle_steps,
    outcome,
    record_steps,
    requeue_steps,
    state_steps,
    wait_steps,
)
from ..record import JobRecord
from .store import Store

if TYPE_CHECKING:  # a bare Job means Job[Any], as for the blocking Job
    from typing_extensions import TypeVar

    R = TypeVar("R", default=Any)
else:
    from typing import TypeVar

    R = TypeVar("R")


class Job(JobHandle, Generic[R]):
    """A handle on one job; every read asks Redis. ``await job.wait()`` blocks in Redis,
    on the queue's events stream, never polling; cancelling the awaiting task stops it."""

    connection: Store

    @classmethod
    async def fetch(cls, job_id: str, connection: Store, queue: str | None = None) -> Job:
        """Find a job by id, in ``queue`` or else in any declared queue."""
        return cls(job_id, await connection.run(fetch_steps(connection.keys, job_id, queue)), connection)

    async def record(self) -> JobRecord:
        return await self.connection.run(record_steps(self._keys, self.id))

    async def state(self) -> str:
        return await self.connection.run(state_steps(self._keys, self.id))

    async def result(self) -> Any:
        """The return value once succeeded, else None."""
        rec = await self.record()
        return rec.result if rec.state == "succeeded" else None

    async def cancel(self) -> bool:
        """Cancel a queued job; False when it already started or finished."""
        return await self.connection.run(cancel_steps(self.connection.keys, self._keys, self.id))

    async def stop(self) -> bool:
        """Ask the worker running this job to stop it; False when it is not running."""
        return await self.connection.run(handle_steps(scripts.stop(self._keys, self.id), self._keys, self.id))

    async def requeue(self) -> bool:
        """Put a dead-lettered or failed job back on its queue (same id, history kept)."""
        return await self.connection.run(requeue_steps(self._keys, self.id))

    async def wait(self, timeout: float | None = None) -> R:
        """The job's result once it finishes, or the exception the blocking wait() raises."""
        result: R = outcome(await self.connection.run(wait_steps(self._keys, self.id, timeout)))
        return result
