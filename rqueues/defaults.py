"""Defaults and limits, defined once: the library, the CLI, the scripts and the docs use these."""

from __future__ import annotations

VERSION = "0.1.0"

#: The queue prefix of every key (``rqueues:{q:NAME}:...``).
PREFIX = "rqueues"
DEFAULT_URL = "redis://localhost:6379/0"
URL_ENV = "RQUEUES_REDIS_URL"

#: Seconds a finished job's record (and result) is kept.
RESULT_TTL = 86_400
#: How often a job may be given back after its worker died before it is dead-lettered.
MAX_RECLAIMS = 3
#: Retry backoff: first delay and cap, in seconds.
BACKOFF = 1.0
BACKOFF_MAX = 300.0

#: A worker whose heartbeat is older than this many seconds is dead.
DEAD_AFTER = 5.0
#: How often a worker heartbeats and renews its leases.
HEARTBEAT_SECONDS = 1.0
#: dead_after may not be shorter than this many heartbeats: a late beat would pass for a death.
MIN_DEAD_AFTER_BEATS = 2
MIN_DEAD_AFTER = MIN_DEAD_AFTER_BEATS * HEARTBEAT_SECONDS
#: How long a lease lasts without renewal.
LEASE_SECONDS = 30.0
#: How often a worker re-reads the declared queues and their settings.
REFRESH_SECONDS = 1.0
#: Worker slots when none are given.
CONCURRENCY = 8
#: Seconds between a worker's claims while Redis refuses writes for lack of memory.
OOM_RETRY_SECONDS = 0.5
#: Seconds running jobs may take to finish after SIGTERM.
SHUTDOWN_TIMEOUT = 30.0

#: Approximate length each queue's wake-up stream is trimmed to.
EVENTS_MAXLEN = 1000
#: Most members of one finished index (a queue's jobs that ended in one state, listed by
#: `rqueues jobs --state`): the oldest beyond it leave the listing, not Redis (their
#: records keep their result TTL). About 120 bytes of Redis memory per member.
FINISHED_MAXLEN = 1_000_000
#: Members older than the queue's result TTL that one completion removes from a finished
#: index beyond as many as it adds, so trimming keeps up and no call does unbounded work.
FINISHED_TRIM = 100
#: Most jobs one page of `rqueues jobs` (and list_jobs) may ask for.
MAX_PAGE = 10_000

# -- limits on what declare and enqueue accept -------------------------------
# Larger numbers are typos or overflow later (a retry delay of inf, an EXPIRE that
# Redis refuses after the job was acknowledged): refused up front with the field named.

#: Longest retry backoff (and backoff cap): one day.
MAX_BACKOFF = 86_400.0
#: Most retries a queue or a job may declare.
MAX_RETRIES = 1_000
#: Highest concurrency limit a queue may declare.
MAX_CONCURRENCY = 1_000_000
#: Most reclaims a queue may allow before a dead letter.
MAX_MAX_RECLAIMS = 1_000
#: Longest job timeout: 30 days.
MAX_TIMEOUT = 30 * 86_400.0
#: Longest delay before a job runs: one year.
MAX_DELAY = 365 * 86_400.0
#: Longest result TTL: ten years (Redis refuses an EXPIRE past its clock's range).
MAX_RESULT_TTL = 10 * 365 * 86_400
#: Longest job id, in characters.
MAX_JOB_ID_LENGTH = 128
#: Longest progress message a job's record keeps, in characters (a longer one is cut).
MAX_PROGRESS_MESSAGE = 200
#: Longest unique key (JobOptions.unique_key), in characters.
MAX_UNIQUE_KEY_LENGTH = 256
#: Most parents one job may depend on (depends_on).
MAX_PARENTS = 100
#: The priorities a job may have (JobOptions.priority): higher runs first, 0 by default.
MIN_PRIORITY, MAX_PRIORITY = 0, 9

#: Largest encoded arguments of one job; checked at enqueue, before anything is written.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
#: Largest encoded result of one job; a larger one fails the job at completion.
MAX_RESULT_BYTES = 4 * 1024 * 1024

#: Most items of the metadata middleware puts in a job's envelope, and their largest
#: total size (UTF-8 bytes of keys and values): room for trace context, not for data.
MAX_META_ITEMS = 32
MAX_META_BYTES = 4096

#: A job no worker could import is given back at most this many times, then failed.
MAX_REFUSALS = 10

# -- executors -----------------------------------------------------------------

#: How a queue's jobs run in a worker: threads of the worker, child processes, or its event loop.
EXECUTORS = ("thread", "process", "asyncio")
EXECUTOR = "thread"
#: Most jobs one child process may run before it is replaced (0: no limit).
MAX_JOBS_PER_CHILD = 1_000_000_000
#: Highest memory limit per child process, in MB (0: no limit).
MAX_MEMORY_PER_CHILD_MB = 1_048_576
#: Most GPUs one job may ask for.
MAX_GPUS_PER_JOB = 64
#: Seconds a child process is given after SIGTERM before it is killed with SIGKILL.
CHILD_KILL_GRACE = 1.0
#: How often the parent samples a busy child's memory and checks its job's deadline and stop flag.
CHILD_SAMPLE_SECONDS = 0.2
