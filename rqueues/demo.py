"""Job functions for `rqueues quickstart`; its workers run them with `--import rqueues.demo`.

Each one stands in for real work by sleeping, so the quick start shows queues,
caps and routing without needing anything but Python.
"""

from __future__ import annotations

import os
import time
from typing import Any


def _work(kind: str, seconds: float) -> dict[str, Any]:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not 0 <= seconds <= 60:
        raise ValueError(f"seconds must be a number from 0 to 60, got {seconds!r}")
    time.sleep(seconds)
    return {"kind": kind, "seconds": seconds, "pid": os.getpid()}


def render_video(seconds: float) -> dict[str, Any]:
    """A heavy job: the quick start's `heavy` queue lets only a few run at once."""
    return _work("render", seconds)


def train_model(seconds: float) -> dict[str, Any]:
    """A GPU job: the `gpu` queue only runs on workers tagged has=gpu."""
    return _work("train", seconds)


def send_email(seconds: float) -> dict[str, Any]:
    """A light job on the uncapped `default` queue."""
    return _work("email", seconds)
