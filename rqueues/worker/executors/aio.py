"""The asyncio executor: one event loop on a thread of the worker, ``async def`` jobs as its tasks.

Jobs run concurrently on the loop, as many as the worker's slots give them. A
job's timeout or its cancellation flag (a stop, a lost delivery, a hard shutdown)
cancels its task. A function that is not ``async def`` runs in a thread of a pool
(as large as the worker's slots) through ``loop.run_in_executor``, never on the
loop, so a blocking call cannot stall the other jobs. The loop and the pool are
started with the first job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable

from ... import defaults
from ...config import QueueConfig
from ...functions import FunctionRegistry
from ..execution import Claimed, Outcome, run_job_async
from ..settle import unsettled
from .base import OnDone, OnMessage

log = logging.getLogger("rqueues.worker")


class AsyncioExecutor:
    def __init__(
        self,
        functions: FunctionRegistry,
        threads: int,
        on_done: OnDone,
        on_message: OnMessage,
        max_result_bytes: int = defaults.MAX_RESULT_BYTES,
    ) -> None:
        self._functions = functions
        self._threads = threads
        self._on_done = on_done
        self._on_message = on_message
        self._max_result_bytes = max_result_bytes
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._running: set[concurrent.futures.Future[None]] = set()
        self._abandoned = False

    def start(self) -> None:
        """Nothing until the first job."""

    def submit(self, job: Claimed, config: QueueConfig | None = None) -> None:
        loop = self._started()
        future = asyncio.run_coroutine_threadsafe(self._run(job), loop)
        with self._lock:
            self._running.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._running.discard(future)

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=self._threads, thread_name_prefix="rqueues-asyncio-sync"
                )
                self._loop.set_default_executor(self._pool)
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="rqueues-asyncio", daemon=True
                )
                self._thread.start()
            return self._loop

    async def _run(self, job: Claimed) -> None:
        loop = asyncio.get_running_loop()

        def report(kind: str, data: object) -> None:
            self._on_message(job, kind, data)

        async def in_thread(fn: Callable[[], Outcome]) -> Outcome:
            return await loop.run_in_executor(self._pool, fn)

        try:
            outcome = await run_job_async(job, self._functions, in_thread, self._max_result_bytes, report)
        except BaseException as exc:  # run_job_async never raises; if it did, the job still ends
            log.exception("asyncio executor failed to run job %s", job.job_id)
            outcome = unsettled(job, exc)
        if self._abandoned:
            return  # handed back by the stopping worker
        try:
            self._on_done(outcome)
        except Exception:
            log.exception("asyncio executor failed to finish job %s", job.job_id)

    def abandon(self) -> None:
        """Cancel the running tasks (their flags are set by the hand-back too); report nothing."""
        self._abandoned = True

    def stop(self, timeout: float | None = None) -> None:
        with self._lock:
            loop, running = self._loop, list(self._running)
        if loop is None:
            return
        if timeout is None:
            concurrent.futures.wait(running)
        for future in running:
            future.cancel()  # cancels the task on the loop
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5.0 if timeout is None else max(timeout, 1.0))
            if not self._thread.is_alive():
                loop.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
