"""rqueues: a Redis-backed distributed worker pool with cluster-wide concurrency caps."""

from .config import QueueConfig
from .connection import Connection, connect
from .context import JobContext, current_job
from .defaults import VERSION
from .errors import (
    ConfigurationError,
    DuplicateJob,
    JobCancelled,
    JobFailed,
    JobNotFound,
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
from .task import Task, set_default_connection, task
from .valuetypes import register_type
from .worker.lifecycle import Worker

__version__ = VERSION

__all__ = [
    "ConfigurationError",
    "Connection",
    "DuplicateJob",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobNotFound",
    "JobOptions",
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
    "Task",
    "UnknownFunction",
    "WaitTimeout",
    "Worker",
    "connect",
    "current_job",
    "register_type",
    "set_default_connection",
    "task",
]
