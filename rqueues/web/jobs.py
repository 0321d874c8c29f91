"""Job routes: listings across queues (dead letters among them), one job, and the job
actions, each the library call the CLI makes (`cancel`, `stop`, `requeue`).

A job's progress, GPUs, unique key and dependencies reach the page through
``JobRecord.to_json``: no route of their own.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from ..job import Job
from .http import ApiError, WebContext, action, job_id, optional_queue, reader
from .queues import page
from .views import job_detail

#: action -> (the Job method, the state it needs, the past tense for messages)
JOB_ACTIONS = {
    "cancel": (Job.cancel, "queued, scheduled or deferred", "cancelled"),
    "stop": (Job.stop, "running", "stopped"),
    "requeue": (Job.requeue, "dead or failed", "requeued"),
}


def fetch(ctx: WebContext, request: Request) -> Job:
    """The job the path names, in ``?queue=`` or found by its id (Job.fetch)."""
    return Job.fetch(job_id(request.path_params["job_id"]), ctx.conn, optional_queue(request))


@reader
def get_jobs(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    queue = optional_queue(request)
    return page(ctx, request, [queue] if queue else None)


@reader
def get_job(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
    return job_detail(fetch(ctx, request).record(), ctx.redact)


def job_action(name: str) -> Any:
    method, needs, done = JOB_ACTIONS[name]

    @action
    def run(ctx: WebContext, request: Request, body: dict[str, Any]) -> Any:
        handle = fetch(ctx, request)
        if not method(handle):
            raise ApiError(409, f"job {handle.id} is {handle.state}, not {needs}: not {done}")
        return {"id": handle.id, "queue": handle.queue, "done": name, "state": handle.state}

    run.__name__ = f"{name}_job"
    return run


# The action routes come first: a GET of /api/jobs/{id} takes any path, '/' included.
ROUTES = [
    *(Route(f"/api/jobs/{{job_id:path}}/{name}", job_action(name), methods=["POST"]) for name in JOB_ACTIONS),
    Route("/api/jobs", get_jobs, methods=["GET"]),
    Route("/api/jobs/{job_id:path}", get_job, methods=["GET"]),
]
