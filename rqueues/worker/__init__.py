"""The worker: lifecycle, dispatch, executors, running one job, heartbeat, reaper.

``Worker`` (lifecycle) owns the threads; ``dispatch`` claims jobs with their
leases and blocks in Redis when idle; ``executors`` run jobs on slots;
``acker`` stores outcomes in batches; ``heartbeat`` keeps the worker alive and
its leases renewed; ``reaper`` gives back the jobs of dead workers. Pure
decisions (which queues to consume, how an outcome settles) are plain
functions in ``selection`` and ``settle``.
"""

from .lifecycle import Worker

__all__ = ["Worker"]
