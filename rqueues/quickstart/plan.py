"""The quick start's plan: the demo queues, the options, how jobs and tags are spread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import ConfigurationError

DEMO_MODULE = "rqueues.demo"
GPU_TAG = "has=gpu"
REFRESH_SECONDS = 0.2  # how often the progress view is redrawn
LINE_SECONDS = 1.0  # how often a progress line is printed when stdout is not a terminal
WORKER_START_SECONDS = 30.0
WORKER_STOP_SECONDS = 20.0  # running jobs are short; past this a worker is killed


@dataclass(frozen=True)
class DemoQueue:
    """A queue the quick start declares, and the jobs it sends there."""

    name: str
    concurrency: int  # 0 = unlimited
    tags: tuple[str, ...]
    function: str
    weight: int  # share of the jobs, in tenths
    seconds: tuple[float, float]  # range of job durations


DEMO_QUEUES = (
    DemoQueue("heavy", 2, (), f"{DEMO_MODULE}:render_video", 4, (0.6, 1.6)),
    DemoQueue("gpu", 3, (GPU_TAG,), f"{DEMO_MODULE}:train_model", 3, (0.4, 1.2)),
    DemoQueue("default", 0, (), f"{DEMO_MODULE}:send_email", 3, (0.1, 0.6)),
)


@dataclass(frozen=True)
class QuickstartOptions:
    """What `rqueues quickstart` runs: the defaults take about 10 to 15 seconds."""

    jobs: int = 40
    workers: int = 4  # every other worker, starting with the first, carries has=gpu
    concurrency: int = 4  # job slots per worker
    seed: int | None = None
    live: bool | None = None  # redraw in place; None = when stdout is a terminal
    timeout: float = 120.0  # give up waiting for the jobs after this many seconds

    def __post_init__(self) -> None:
        for name, low, high in (("jobs", 1, 1000), ("workers", 2, 16), ("concurrency", 1, 64)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigurationError(f"{name} must be an integer from {low} to {high}, got {value!r}")
        if not self.timeout > 0:
            raise ConfigurationError(f"timeout must be > 0 seconds, got {self.timeout!r}")


def split_jobs(total: int, queues: Sequence[DemoQueue] = DEMO_QUEUES) -> list[int]:
    """How many of ``total`` jobs go to each queue, by weight; the remainder goes first to first."""
    weights = sum(q.weight for q in queues)
    counts = [total * q.weight // weights for q in queues]
    for i in range(total - sum(counts)):
        counts[i % len(queues)] += 1
    return counts


def worker_tags(index: int) -> tuple[str, ...]:
    """Tags of the index-th worker (from 0): every other one has a GPU."""
    return (GPU_TAG,) if index % 2 == 0 else ()
