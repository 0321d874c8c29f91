"""A worker process with short leases and heartbeats, which `rqueues worker` keeps at their
defaults: the chaos tests need jobs that outlive their lease many times over.

Takes the flags the chaos Pool passes (--redis-url, --worker-id, --import) plus
--concurrency, --lease-seconds, --heartbeat-seconds and --dead-after.
"""

from __future__ import annotations

import argparse
import logging

from rqueues import Worker, connect


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--import", dest="imports", action="append", default=[])
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--lease-seconds", type=float, default=1.0)
    parser.add_argument("--heartbeat-seconds", type=float, default=0.25)
    parser.add_argument("--dead-after", type=float, default=2.0)
    args = parser.parse_args()
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = Worker(
        connect(args.redis_url),
        worker_id=args.worker_id,
        imports=args.imports,
        concurrency=args.concurrency,
        lease_seconds=args.lease_seconds,
        heartbeat_seconds=args.heartbeat_seconds,
        dead_after=args.dead_after,
        refresh_seconds=0.5,
    )
    worker.run()


if __name__ == "__main__":
    main()
