"""The declare options that say how a queue's jobs run: executor, timeout, child limits, GPUs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from .. import defaults
from ..config import QueueConfig

F = TypeVar("F", bound=Callable[..., Any])


def execution_options(fn: F) -> F:
    """Adds --executor, --timeout, --max-jobs-per-child, --max-memory-per-child, --gpus-per-job
    and --gpu-share; the command receives them as Queue.declare's keyword arguments."""
    options = [
        click.option(
            "--executor",
            type=click.Choice(defaults.EXECUTORS),
            default=defaults.EXECUTOR,
            show_default=True,
            help="How its jobs run: worker threads, child processes (hard timeouts, memory "
            "limits), or the worker's event loop (async def jobs).",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True, max=defaults.MAX_TIMEOUT),
            default=None,
            help="Default job timeout, seconds (a job's own --job-timeout wins). Enforced by "
            "killing the child on the process executor, cooperative on the others.",
        ),
        click.option(
            "--max-jobs-per-child",
            type=click.IntRange(min=0, max=defaults.MAX_JOBS_PER_CHILD),
            default=0,
            show_default=True,
            help="process: replace a child after this many jobs (0 = never).",
        ),
        click.option(
            "--max-memory-per-child",
            type=click.IntRange(min=0, max=defaults.MAX_MEMORY_PER_CHILD_MB),
            default=0,
            show_default=True,
            help="process: kill a child whose resident memory passes this many MB; its job "
            "fails with JobOutOfMemory (0 = no limit).",
        ),
        click.option(
            "--gpus-per-job",
            type=click.IntRange(min=0, max=defaults.MAX_GPUS_PER_JOB),
            default=0,
            show_default=True,
            help="GPUs each job of the queue is given.",
        ),
        click.option(
            "--gpu-share/--no-gpu-share",
            default=False,
            show_default=True,
            help="Whether jobs may share a GPU device.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def execution_text(config: QueueConfig) -> str:
    """How a declared queue runs its jobs, in a few words."""
    parts = [f"executor {config.executor}"]
    parts.append(f"timeout {config.timeout:g}s" if config.timeout is not None else "no timeout")
    if config.max_jobs_per_child:
        parts.append(f"{config.max_jobs_per_child} jobs per child")
    if config.max_memory_per_child:
        parts.append(f"{config.max_memory_per_child} MB per child")
    if config.gpus_per_job:
        parts.append(f"{config.gpus_per_job} GPU(s) per job{', shared' if config.gpu_share else ''}")
    return ", ".join(parts)
