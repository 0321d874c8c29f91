"""Jobs that report about themselves: progress, and the GPU devices they were given.

Each logs what it saw to a Redis list, an independent record the tests check.
"""

from __future__ import annotations

import os
import time

import redis

import rqueues


def _job() -> rqueues.JobContext:
    job = rqueues.current_job()
    assert job is not None, "not running as a job"
    return job


def progress_gated(url: str, gate_key: str, limit: float = 30.0) -> str:
    """Report 50% ("half way"), wait for a token on ``gate_key``, report 100% ("done"), return."""
    job = _job()
    job.progress(0.5, "half way")
    r = redis.Redis.from_url(url)
    try:
        if r.blpop([gate_key], timeout=limit) is None:
            raise TimeoutError(f"gate {gate_key!r} stayed closed for {limit}s")
    finally:
        r.close()
    job.progress(1.0, "done")
    return job.id


def progress_many(calls: int) -> int:
    """Report progress ``calls`` times in a row, as a tight loop would; the last is 100%."""
    job = _job()
    for i in range(1, calls + 1):
        job.progress(i / calls, f"step {i} of {calls}")
    return calls


def progress_invalid(fraction: float) -> str:
    """Report a bad fraction: the job fails with the error progress() raised."""
    _job().progress(fraction)
    return "accepted"


def gpu_record(url: str, log_key: str, gate_key: str = "", seconds: float = 0.0, limit: float = 30.0) -> str:
    """Log "start|end JOB DEVICES PID" around a run of ``seconds`` (or until a token on
    ``gate_key``): which devices each job saw, and when."""
    job = _job()
    devices = ",".join(job.gpus) or "-"
    r = redis.Redis.from_url(url)
    r.rpush(log_key, f"start {job.id} {devices} {os.getpid()}")
    try:
        if gate_key:
            if r.blpop([gate_key], timeout=limit) is None:
                raise TimeoutError(f"gate {gate_key!r} stayed closed for {limit}s")
        else:
            time.sleep(seconds)
    finally:
        r.rpush(log_key, f"end {job.id} {devices} {os.getpid()}")
        r.close()
    return devices


def report_in_child(url: str, log_key: str) -> str:
    """On the process executor: log the pid, CUDA_VISIBLE_DEVICES and current_job().gpus the
    child saw, and report progress from the child (it travels to the worker over the pipe)."""
    job = _job()
    r = redis.Redis.from_url(url)
    env = os.environ.get("CUDA_VISIBLE_DEVICES", "-")
    r.rpush(log_key, f"{job.id} {os.getpid()} {env} {','.join(job.gpus) or '-'}")
    r.close()
    job.progress(0.75, "from the child")
    return env
