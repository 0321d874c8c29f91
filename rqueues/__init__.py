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
from .job import Job
from .middleware import EnqueueCall, Middleware, RunContext, RunOutcome, add_middleware, remove_middleware
from .options import JobOptions
from .queue import Queue, QueueInfo
from .record import JobRecord
from .retry import RetryPolicy
from .task import Task, set_default_connection, task
from .valuetypes import register_type
from .worker.lifecycle import Worker

__version__ = VERSION

__all__ = [
    "ChildDied",
    "ConfigurationError",
    "Connection",
    "DuplicateJob",
    "EnqueueCall",
    "Job",
    "JobCancelled",
    "JobContext",
    "JobFailed",
    "JobNotFound",
    "JobOptions",
    "JobOutOfMemory",
    "JobRecord",
    "JobTimeout",
    "Middleware",
    "PayloadTooLarge",
    "Queue",
    "QueueConfig",
    "QueueInfo",
    "QueueNotDeclared",
    "RedisOutOfMemory",
    "RedisUnavailable",
    "RetryPolicy",
    "RqueuesError",
    "RunContext",
    "RunOutcome",
    "SerializationError",
    "Task",
    "UnknownFunction",
    "WaitTimeout",
    "Worker",
    "add_middleware",
    "connect",
    "current_job",
    "register_type",
    "remove_middleware",
    "set_default_connection",
    "task",
]
