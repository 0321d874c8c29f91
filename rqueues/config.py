"""A queue's declared settings and their form in the config hash."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from . import defaults
from .checks import check_int, check_seconds
from .errors import ConfigurationError
from .ratelimit import RateLimit
from .retry import RetryPolicy
from .routing import check_patterns

DEFAULT_RESULT_TTL = defaults.RESULT_TTL
DEFAULT_MAX_RECLAIMS = defaults.MAX_RECLAIMS

log = logging.getLogger("rqueues.config")
T = TypeVar("T")


@dataclass(frozen=True)
class QueueConfig:
    """Settings of one queue, as declared. concurrency 0 means unlimited."""

    name: str
    concurrency: int = 0
    tags: tuple[str, ...] = field(default_factory=tuple)
    result_ttl: int = DEFAULT_RESULT_TTL
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_reclaims: int = DEFAULT_MAX_RECLAIMS
    version: int = 0
    # How its jobs run (see docs/production.md#choosing-an-executor). ``timeout`` is the
    # default of a job's own; the child limits apply to the process executor (0: none).
    executor: str = defaults.EXECUTOR
    timeout: float | None = None
    max_jobs_per_child: int = 0
    max_memory_per_child: int = 0  # MB
    gpus_per_job: int = 0
    gpu_share: bool = False
    # Flow control (claim.lua). `paused` is set by pause()/resume(), never by declare.
    paused: bool = False
    rate_limit: RateLimit | None = None

    def __post_init__(self) -> None:
        check_int("concurrency", self.concurrency, 0, defaults.MAX_CONCURRENCY)
        check_int("result_ttl", self.result_ttl, 1, defaults.MAX_RESULT_TTL)
        check_int("max_reclaims", self.max_reclaims, 0, defaults.MAX_MAX_RECLAIMS)
        object.__setattr__(self, "tags", check_patterns(self.tags))
        _check_execution(self)

    def to_hash(self) -> dict[str, str | int | float]:
        return {
            "concurrency": self.concurrency,
            "tags": json.dumps(list(self.tags)),
            "result_ttl": self.result_ttl,
            "retries": self.retry.retries,
            "backoff": self.retry.backoff,
            "backoff_max": self.retry.backoff_max,
            "retry_on": json.dumps(list(self.retry.retry_on)),
            "max_reclaims": self.max_reclaims,
            **_execution_hash(self),
            # 0: no rate limit (a declare without one must clear an earlier one).
            "rate_limit": self.rate_limit.count if self.rate_limit else 0,
            "rate_window": self.rate_limit.window_ms if self.rate_limit else 0,
        }

    @classmethod
    def from_hash(cls, name: str, raw: Mapping[bytes, bytes]) -> QueueConfig:
        """The settings stored in a config hash; ConfigurationError names the queue and
        the field when the hash holds something declare would never have written."""
        fields = _Fields(name, raw)
        retry = fields.build(
            lambda: RetryPolicy(
                retries=fields.get("retries", int, 0),
                backoff=fields.get("backoff", float, defaults.BACKOFF),
                backoff_max=fields.get("backoff_max", float, defaults.BACKOFF_MAX),
                retry_on=tuple(fields.get("retry_on", _names, [])),
            ),
        )
        return fields.build(
            lambda: cls(
                name=name,
                concurrency=fields.get("concurrency", int, 0),
                tags=tuple(fields.get("tags", _names, [])),
                result_ttl=fields.get("result_ttl", int, DEFAULT_RESULT_TTL),
                retry=retry,
                max_reclaims=fields.get("max_reclaims", int, DEFAULT_MAX_RECLAIMS),
                version=fields.get("version", int, 0),
                executor=fields.get("executor", str, defaults.EXECUTOR),
                timeout=fields.get("timeout", _optional_seconds, None),
                max_jobs_per_child=fields.get("max_jobs_per_child", int, 0),
                max_memory_per_child=fields.get("max_memory_per_child", int, 0),
                gpus_per_job=fields.get("gpus_per_job", int, 0),
                gpu_share=fields.get("gpu_share", _flag, False),
                paused=fields.get("paused", _flag, False),
                rate_limit=_rate(fields.get("rate_limit", int, 0), fields.get("rate_window", int, 0)),
            ),
        )


def _check_execution(config: QueueConfig) -> None:
    if config.executor not in defaults.EXECUTORS:
        raise ConfigurationError(
            f"executor must be one of {', '.join(defaults.EXECUTORS)}, got {config.executor!r}"
        )
    if config.timeout is not None:
        object.__setattr__(
            config, "timeout", check_seconds("timeout", config.timeout, defaults.MAX_TIMEOUT, positive=True)
        )
    check_int("max_jobs_per_child", config.max_jobs_per_child, 0, defaults.MAX_JOBS_PER_CHILD)
    check_int("max_memory_per_child", config.max_memory_per_child, 0, defaults.MAX_MEMORY_PER_CHILD_MB)
    check_int("gpus_per_job", config.gpus_per_job, 0, defaults.MAX_GPUS_PER_JOB)
    if not isinstance(config.gpu_share, bool):
        raise ConfigurationError(f"gpu_share must be true or false, got {config.gpu_share!r}")


def _execution_hash(config: QueueConfig) -> dict[str, str | int | float]:
    """Every field is written, a default too: declare replaces the whole configuration."""
    return {
        "executor": config.executor,
        "timeout": "" if config.timeout is None else config.timeout,
        "max_jobs_per_child": config.max_jobs_per_child,
        "max_memory_per_child": config.max_memory_per_child,
        "gpus_per_job": config.gpus_per_job,
        "gpu_share": int(config.gpu_share),
    }


def _optional_seconds(text: str) -> float | None:
    return float(text) if text else None


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError("expected 0 or 1")
    return text == "1"


class _Fields:
    """Reads one config hash; every error names the queue and the field."""

    def __init__(self, queue: str, raw: Mapping[bytes, bytes]) -> None:
        self.queue = queue
        self.raw = raw

    def _error(self, problem: str) -> ConfigurationError:
        return ConfigurationError(f"queue {self.queue!r} has a malformed configuration: {problem}")

    def get(self, name: str, parse: Callable[[str], T], default: T) -> T:
        value = self.raw.get(name.encode())
        if value is None:
            return default
        try:
            return parse(value.decode())
        except (ValueError, TypeError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise self._error(f"{name} is {value!r} ({exc})") from None

    def build(self, make: Callable[[], T]) -> T:
        """``make()``, whose checks name the field; the error then names the queue too."""
        try:
            return make()
        except ConfigurationError as exc:
            if str(exc).startswith(f"queue {self.queue!r}"):
                raise
            raise self._error(str(exc)) from None


def _rate(count: int, window_ms: int) -> RateLimit | None:
    return RateLimit(count, window_ms / 1000) if count else None


def _names(text: str) -> list[str]:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a JSON list of strings")
    return value


class ConfigProblems:
    """Logs each malformed config once per queue and config version, however often it is read."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, bytes | None, str]] = set()
        self._lock = threading.Lock()

    def parse(self, raws: Mapping[str, Mapping[bytes, bytes]], what: str) -> dict[str, QueueConfig]:
        """Configs of the queues in ``raws`` whose hash parses (empty hashes: not declared).

        ``what`` says what skipping a queue means to whoever reads the log.
        """
        out = {}
        for name, raw in raws.items():
            if not raw:
                continue
            try:
                out[name] = QueueConfig.from_hash(name, raw)
            except ConfigurationError as exc:
                self.report(name, raw, exc, what)
        return out

    def report(self, name: str, raw: Mapping[bytes, bytes], exc: Exception, what: str) -> None:
        key = (name, raw.get(b"version"), what)
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        log.warning("%s; %s (fix it with `rqueues declare %s ...`)", exc, what, name)


#: For readers without a lifetime of their own (snapshots, `rqueues queues`).
PROBLEMS = ConfigProblems()


def parse_configs(
    raws: Mapping[str, Mapping[bytes, bytes]], what: str, problems: ConfigProblems | None = None
) -> dict[str, QueueConfig]:
    """See ConfigProblems.parse; ``problems`` defaults to the process-wide one."""
    return (problems or PROBLEMS).parse(raws, what)
