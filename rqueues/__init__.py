"""rqueues: a Redis-backed distributed worker pool with cluster-wide concurrency caps."""

from .config import QueueConfig
from .connection import Connection, connect
from .context import JobContext, current_job
from .defaults import VERSION
from .errors import (
    ChildDied,
    ConfigurationError,
    DuplicateJob,
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobOutOfMemory,
    JobTimeout,
    PayloadTooLarge,
    QueueNotDeclared,
    RedisOutOfMemory,
    RedisUnavailable,
    RqueuesError,
    SerializationError,
    UnknownFunction,
    WaitTimeout,
)
from .job import Job, JobRecord
from .options import JobOptions
from .queue import Queue, QueueInfo
from .retry import RetryPolicy
from .worker.lifecycle import Worker

__version__ = VERSION

__all__ = [
    "ChildDied",
    "ConfigurationError",
    "Connection",
    "DuplicateJob",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobNotFound",
    "JobOptions",
    "JobOutOfMemory",
    "JobRecord",
    "JobTimeout",
    "PayloadTooLarge",
    "Queue",
    "QueueConfig",
    "QueueInfo",
    "QueueNotDeclared",
    "RedisOutOfMemory",
    "RedisUnavailable",
    "RetryPolicy",
    "RqueuesError",
    "SerializationError",
    "UnknownFunction",
    "WaitTimeout",
    "Worker",
    "connect",
    "current_job",
]
