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
