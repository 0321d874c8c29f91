"""The `rqueues` command: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import json
import math
import os
import sys
from typing import Any

import click

from .. import defaults
from ..backend.store import Store
from ..errors import RqueuesError
from ..job import Job
from ..middleware import install_specs
from ..observe.listing import gpus_text, list_workers, worker_gpus
from ..queue import Queue, queue_infos
from ..retry import RetryPolicy
from ..routing import parse_tags
from ..worker.joblog import JobLog
from ..worker.lifecycle import Worker
from .cron import COMMANDS as CRON_COMMANDS
from .enqueue import enqueue
from .execution import execution_options, execution_text
from .kit import dead_after_option, with_connection
from .logs import log_format_option, log_level_option, setup_logging
from .manage import COMMANDS as MANAGE_COMMANDS
from .observe import COMMANDS as OBSERVE_COMMANDS
from .output import emit, job_text
from .recovery import COMMANDS
from .waiting import COMMANDS as WAIT_COMMANDS
from .web import web

QUEUE_COLUMNS = (
    "name", "concurrency", "running", "waiting", "pending", "dead", "executor", "timeout", "tags",
    "rate_limit", "paused",
)  # fmt: skip
WORKER_COLUMNS = ("id", "host", "pid", "tags", "queues", "running", "concurrency", "age_seconds", "gpus")


@click.group()
@click.version_option(package_name="rqueues")
def main() -> None:
    """rqueues: a Redis-backed worker pool with cluster-wide concurrency caps."""


@main.command()
@click.argument("name")
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=0, max=defaults.MAX_CONCURRENCY),
    default=0,
    show_default=True,
    help="Most jobs of this queue running at once, over all workers (0 = unlimited).",
)
@click.option("--tags", "-t", multiple=True, help="Tag pattern (regex) a worker must match; repeatable.")
@click.option(
    "--result-ttl",
    type=click.IntRange(min=1, max=defaults.MAX_RESULT_TTL),
    default=defaults.RESULT_TTL,
    show_default=True,
    help="Seconds a finished job's record and result are kept.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0, max=defaults.MAX_RETRIES),
    default=0,
    show_default=True,
    help="Attempts after a failure before the job is failed.",
)
@click.option(
    "--backoff",
    type=click.FloatRange(min=0, max=defaults.MAX_BACKOFF),
    default=defaults.BACKOFF,
    show_default=True,
    help="Seconds before the first retry; doubles each retry (with jitter).",
)
@click.option(
    "--backoff-max",
    type=click.FloatRange(min=0, max=defaults.MAX_BACKOFF),
    default=defaults.BACKOFF_MAX,
    show_default=True,
    help="Longest wait between retries, in seconds.",
)
@click.option(
    "--retry-on", multiple=True, help="Retry only these exception types (name or dotted name); repeatable."
)
@click.option(
    "--max-reclaims",
    type=click.IntRange(min=0, max=defaults.MAX_MAX_RECLAIMS),
    default=defaults.MAX_RECLAIMS,
    show_default=True,
    help="Times a job may be taken back from dead workers before it is dead-lettered.",
)
@click.option(
    "--rate-limit",
    default=None,
    help="Most jobs started in any window, over all workers: 100/s, 30/m, 1000/h, 10/30s (default none).",
)
@execution_options
@with_connection
def declare(
    conn: Store,
    name: str,
    concurrency: int,
    tags: tuple[str, ...],
    result_ttl: int,
    retries: int,
    backoff: float,
    backoff_max: float,
    retry_on: tuple[str, ...],
    max_reclaims: int,
    rate_limit: str | None,
    **execution: Any,
) -> None:
    """Create a queue or replace its settings; running workers pick them up at once.

    The declaration is the whole configuration: an option left out takes its default.
    """
    cap = backoff_max if math.isnan(backoff_max) else max(backoff, backoff_max)  # nan: refused by name
    retry = RetryPolicy(retries, backoff, cap, tuple(parse_tags(retry_on)))
    queue = Queue(name, conn)
    config = queue.declare(
        concurrency, parse_tags(tags), result_ttl, retry, max_reclaims, rate_limit=rate_limit, **execution
    )
    limit = config.concurrency or "unlimited"
    rate = f", rate limit {config.rate_limit}" if config.rate_limit else ""
    paused = ", paused" if config.paused else ""
    click.echo(
        f"declared {name}: concurrency {limit}{rate}, tags {list(config.tags) or 'none'}, "
        f"{execution_text(config)}{paused} (version {config.version})"
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def queues(conn: Store, as_json: bool) -> None:
    """List declared queues with their limit, running, waiting and tags."""
    rows = [i.to_json() for i in queue_infos(conn, conn.declared_queues(), skip_malformed=True)]
    for row in rows:
        row["concurrency"] = row["concurrency"] or ("unlimited" if not as_json else 0)
        if not as_json:
            row["paused"] = "paused" if row["paused"] else "-"
            row["timeout"] = "none" if row["timeout"] is None else f"{row['timeout']:g}s"
    emit(rows, QUEUE_COLUMNS, as_json)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--sample",
    "sample_seconds",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Seconds over which rates and the p95 wait are measured (0: none).",
)
@with_connection
def info(conn: Store, as_json: bool, sample_seconds: float) -> None:
    """What `rqueues top` shows, once: queues (limit, in use, waiting, rates, p95 wait) and workers."""
    from ..observe.top import info_json, render, sample

    with conn.guard():
        snap, rates, functions = sample(conn, sample_seconds)
    if as_json:
        click.echo(json.dumps(info_json(snap, rates, functions), indent=2))
        return
    click.echo(render(snap, rates, functions, title="rqueues info"))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@dead_after_option
@with_connection
def workers(conn: Store, as_json: bool, dead_after: float) -> None:
    """List live workers with host, pid, tags, queues and running jobs."""
    rows = [w.to_json() for w in list_workers(conn, dead_after)]
    if as_json:
        emit(rows, WORKER_COLUMNS, as_json)
        return
    rows = [{**r, "gpus": gpus_text(worker_gpus(r.get("gpus")))} for r in rows]  # device:job, as text
    gpus = any(r["gpus"] for r in rows)  # the column only where a worker has GPUs
    emit(rows, WORKER_COLUMNS if gpus else WORKER_COLUMNS[:-1], as_json)


@main.command()
@click.option("--queues", "-q", default=None, help="Comma-separated queues (default: every matching queue).")
@click.option("--tags", "-t", multiple=True, help="Worker tag, e.g. has=gpu; repeatable or comma-separated.")
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(min=1),
    default=defaults.CONCURRENCY,
    show_default=True,
    help="Job slots (threads) in this worker.",
)
@click.option("--import", "imports", multiple=True, help="Module whose functions jobs may run; repeatable.")
@click.option(
    "--middleware",
    "middleware",
    multiple=True,
    help="Middleware to install, as module:object (also in child processes); repeatable.",
)
@click.option("--burst", is_flag=True, help="Exit once no job is left.")
@click.option("--worker-id", default=None, help="Worker id (default host.pid.random).")
@click.option(
    "--shutdown-timeout",
    type=click.FloatRange(min=0),
    default=defaults.SHUTDOWN_TIMEOUT,
    show_default=True,
    help="On SIGTERM, seconds running jobs may finish before they are handed back.",
)
@dead_after_option
@click.option("--no-reaper", is_flag=True, help="Do not reap dead workers' jobs from this worker.")
@click.option("--no-cron", is_flag=True, help="Do not enqueue periodic jobs from this worker.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), help="Serve Prometheus /metrics on this port.")
@click.option("--metrics-addr", default="0.0.0.0", show_default=True, help="Address for --metrics-port.")
@click.option(
    "--job-logs/--no-job-logs",
    default=True,
    show_default=True,
    help="Log each job's start and end at INFO (failures are always logged).",
)
@click.option("--quiet-queue", "quiet", multiple=True, help="No start/end lines for this queue; repeatable.")
@click.option(
    "--gpus",
    default=None,
    help="GPU ids for jobs of queues declared with --gpus-per-job (e.g. 0,1), or 'auto': from "
    "CUDA_VISIBLE_DEVICES, else nvidia-smi -L. Adds the tags gpu and gpus=N.",
)
@log_level_option
@log_format_option
@with_connection
def worker(
    conn: Store,
    queues: str | None,
    tags: tuple[str, ...],
    concurrency: int,
    imports: tuple[str, ...],
    middleware: tuple[str, ...],
    burst: bool,
    worker_id: str | None,
    shutdown_timeout: float,
    dead_after: float,
    no_reaper: bool,
    no_cron: bool,
    metrics_port: int | None,
    metrics_addr: str,
    job_logs: bool,
    quiet: tuple[str, ...],
    gpus: str | None,
    log_level: str,
    log_format: str,
) -> None:
    """Run a worker until SIGTERM/Ctrl-C (running jobs finish first)."""
    setup_logging(log_level, log_format)
    sys.path.insert(0, os.getcwd())  # so --import finds the project's own modules
    names = [q for q in (queues or "").split(",") if q.strip()] or None
    from ..observe.metrics import WorkerMetrics, run_instrumented  # prometheus_client only where needed

    metrics = WorkerMetrics()
    w = Worker(
        conn,
        observer=metrics,
        queues=names,
        tags=parse_tags(tags),
        concurrency=concurrency,
        imports=imports,
        burst=burst,
        worker_id=worker_id,
        shutdown_timeout=shutdown_timeout,
        dead_after=dead_after,
        reaper=not no_reaper,
        cron=not no_cron,
        job_logs=JobLog(lines=job_logs, quiet=quiet),
        gpus=gpus,
    )
    install_specs(middleware)  # after --import, the order a child that runs jobs has too
    run_instrumented(w, metrics, metrics_port, metrics_addr)


@main.command()
@click.argument("job_id")
@click.option("--queue", "-q", default=None, help="The job's queue (found automatically if omitted).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_connection
def job(conn: Store, job_id: str, queue: str | None, as_json: bool) -> None:
    """Show one job: state, times, worker, result or error."""
    rec = Job.fetch(job_id, conn, queue).record()
    data = rec.to_json()
    call = rec.call()
    data["args"], data["kwargs"] = call if call else (None, None)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(job_text(data))


@main.command()
@click.argument("job_id")
@click.option("--queue", "-q", default=None, help="The job's queue (found automatically if omitted).")
@with_connection
def cancel(conn: Store, job_id: str, queue: str | None) -> None:
    """Cancel a queued job (it will not run)."""
    handle = Job.fetch(job_id, conn, queue)
    if not handle.cancel():
        raise click.ClickException(f"job {job_id} is {handle.state}, not queued: not cancelled")
    click.echo(f"cancelled {job_id}")


@main.command()
@click.option(
    "--jobs", "-n", type=click.IntRange(1, 1000), default=40, show_default=True, help="Jobs to enqueue."
)
@click.option(
    "--workers",
    "-w",
    type=click.IntRange(2, 16),
    default=4,
    show_default=True,
    help="Worker processes; every other one carries has=gpu.",
)
@click.option(
    "--concurrency",
    "-c",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Job slots per worker.",
)
@click.option("--seed", type=int, default=None, help="Seed for the job durations.")
@click.option(
    "--live/--no-live", default=None, help="Redraw progress in place (default: when stdout is a terminal)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the jobs before giving up.",
)
def quickstart(
    jobs: int, workers: int, concurrency: int, seed: int | None, live: bool | None, timeout: float
) -> None:
    """Start a private server, capped and tag-routed queues and worker processes; watch jobs flow."""
    from ..quickstart.plan import QuickstartOptions  # only this command needs them
    from ..quickstart.session import run

    try:
        status = run(QuickstartOptions(jobs, workers, concurrency, seed, live, timeout))
    except RqueuesError as exc:
        raise click.ClickException(str(exc)) from exc
    click.get_current_context().exit(status)


for _command in [*COMMANDS, *MANAGE_COMMANDS, *OBSERVE_COMMANDS, *WAIT_COMMANDS, *CRON_COMMANDS]:
    main.add_command(_command)
main.add_command(web)
main.add_command(enqueue)


if __name__ == "__main__":
    main()
