"""A FastAPI app that enqueues with the asyncio client and waits for results in requests.

RQUEUES_REDIS_URL=redis://localhost:6379/0 uvicorn app:app        # the web app
RQUEUES_REDIS_URL=redis://localhost:6379/0 rqueues worker --import jobs   # a worker
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from jobs import digest, word_count
from pydantic import BaseModel

import rqueues
from rqueues import aio


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # One asyncio connection for the app's lifetime; the tasks enqueue on it.
    async with aio.connect() as rq:
        # Declaring is explicit: the decorator never declares a queue or changes its cap.
        await rq.queue("reports").declare(concurrency=4)
        await rq.queue("hashing").declare()
        rqueues.set_default_connection(rq)
        app.state.rq = rq
        yield
        rqueues.set_default_connection(None)


app = FastAPI(lifespan=lifespan)


class Text(BaseModel):
    text: str


@app.post("/count")
async def count(body: Text, wait: float = 10.0) -> dict[str, int]:
    """Enqueue, then wait for the result in the request (blocking in Redis, not polling)."""
    job = await word_count.aenqueue(body.text)
    try:
        return await job.wait(timeout=wait)
    except rqueues.WaitTimeout:
        raise HTTPException(status_code=504, detail=f"job {job.id} still running") from None
    except rqueues.JobFailed as exc:
        raise HTTPException(status_code=502, detail=str(exc)) from None


@app.post("/digest")
async def start_digest(body: Text, rounds: int = 1) -> dict[str, str]:
    """Enqueue and answer at once with the job's id; GET /jobs/{id} reads it later."""
    job = await digest.aenqueue(body.text.encode(), rounds=rounds)
    return {"id": job.id}


@app.get("/jobs/{job_id}")
async def job_status(job_id: str) -> dict[str, object]:
    try:
        job = await aio.Job.fetch(job_id, app.state.rq)
    except rqueues.JobNotFound:
        raise HTTPException(status_code=404, detail=f"no job {job_id}") from None
    record = await job.record()
    return {"id": job.id, "queue": job.queue, "state": record.state, "result": record.to_json()["result"]}
