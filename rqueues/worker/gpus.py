"""GPU slots: which devices a worker has, and which of its jobs holds which.

A worker started with ``--gpus 0,1`` (or ``--gpus auto``) carries the tags ``gpu``
and ``gpus=N`` and gives each job of a queue declared with ``gpus_per_job`` N
devices of its own, never one another job holds, unless the queue declares
``gpu_share``: its jobs may then share devices with each other (and with other
sharing queues' jobs), never with a job that holds its devices alone. The
dispatcher claims no more jobs of such a queue than the free devices can take
(``GpuGate.cap``), so a job is never taken that would wait for a device; the
queue's cluster-wide cap and tag routing spread the rest over other machines.

The job sees its devices as ``current_job().gpus``; a process executor exports
them as CUDA_VISIBLE_DEVICES (``cuda_env``), which a thread cannot have for its
own. Device ids are strings as CUDA_VISIBLE_DEVICES takes them: ordinals
(``0``) or UUIDs (``GPU-...``, ``MIG-...``).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence

from ..config import QueueConfig
from ..errors import ConfigurationError
from .execution import Claimed

log = logging.getLogger("rqueues.worker")

AUTO = "auto"
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_SMI_LINE = re.compile(r"^GPU (\d+):", re.MULTILINE)
#: GpuGate.cap: no free devices now; claim again once a job releases some.
WAIT = -1
#: GpuAllocator.capacity of a sharing queue: as many jobs as there are slots.
UNBOUNDED = 1 << 30


def parse_gpus(spec: str | Iterable[str]) -> tuple[str, ...]:
    """Device ids from ``"0,1"`` (or a list of ids); ConfigurationError names a bad one."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    ids = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigurationError(f"invalid GPU id {item!r}: expected a string such as '0' or 'GPU-…'")
        item = item.strip()
        if not item and isinstance(spec, str):
            continue
        if not _ID.fullmatch(item):
            raise ConfigurationError(
                f"invalid GPU id {item!r}: expected an ordinal or UUID as CUDA_VISIBLE_DEVICES takes "
                "them (e.g. --gpus 0,1), or --gpus auto"
            )
        if item in ids:
            raise ConfigurationError(f"GPU {item!r} is listed twice")
        ids.append(item)
    return tuple(ids)


def _nvidia_smi() -> str | None:
    """``nvidia-smi -L``'s output, or None when it is not installed or fails."""
    path = shutil.which("nvidia-smi")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("--gpus auto: nvidia-smi -L failed: %s", exc)
        return None
    if done.returncode != 0:
        log.warning("--gpus auto: nvidia-smi -L exited %d: %s", done.returncode, done.stderr.strip()[:200])
        return None
    return done.stdout


def detect_gpus(
    environ: Mapping[str, str] | None = None, nvidia_smi: Callable[[], str | None] = _nvidia_smi
) -> tuple[tuple[str, ...], str]:
    """The devices this machine gives the worker, and where they were found (for the log).

    CUDA_VISIBLE_DEVICES first, when set (an empty value or ``-1`` means none, and like
    CUDA the list ends at the first entry that is no id); else the ordinals ``nvidia-smi
    -L`` lists; else none.
    """
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids: list[str] = []
        for item in (i.strip() for i in visible.split(",")):
            if not _ID.fullmatch(item) or item in ids:
                break
            ids.append(item)
        return tuple(ids), "CUDA_VISIBLE_DEVICES"
    listing = nvidia_smi()
    if listing is None:
        return (), "no CUDA_VISIBLE_DEVICES and no nvidia-smi"
    return tuple(_SMI_LINE.findall(listing)), "nvidia-smi -L"


def resolve_gpus(spec: str | Iterable[str] | None) -> tuple[str, ...]:
    """The devices a worker was given: None or ``""`` none, ``"auto"`` detected, else the ids."""
    if spec is None or spec == "":
        return ()
    if isinstance(spec, str) and spec.strip().lower() == AUTO:
        ids, source = detect_gpus()
        if ids:
            log.info("--gpus auto: %d GPU(s) from %s: %s", len(ids), source, ",".join(ids))
        else:
            log.warning(
                "--gpus auto found no GPU (%s): this worker takes no job of a queue declared with "
                "gpus_per_job", source,
            )  # fmt: skip
        return ids
    return parse_gpus(spec)


def cuda_env(devices: Sequence[str]) -> dict[str, str]:
    """The environment a job in a child process gets for its devices."""
    return {"CUDA_VISIBLE_DEVICES": ",".join(devices)}


class GpuAllocator:
    """Which holder has which of ``devices``; thread-safe.

    A holder takes its devices alone (``share=False``: only devices nobody holds) or
    shared (only devices nobody holds alone; the least used first).
    """

    def __init__(self, devices: Sequence[str]) -> None:
        self.devices = tuple(devices)
        self._lock = threading.Lock()
        self._held: dict[Hashable, tuple[tuple[str, ...], bool]] = {}
        self._users = dict.fromkeys(self.devices, 0)
        self._alone: set[str] = set()

    def capacity(self, n: int, share: bool = False) -> int:
        """How many more holders of ``n`` devices each could take theirs now."""
        with self._lock:
            return self._capacity(n, share)

    def _capacity(self, n: int, share: bool) -> int:
        if n <= 0:
            return UNBOUNDED
        if share:
            return UNBOUNDED if len(self.devices) - len(self._alone) >= n else 0
        return sum(1 for d in self.devices if not self._users[d]) // n

    def take(self, n: int, holder: Hashable, share: bool = False) -> tuple[str, ...] | None:
        """``n`` devices for ``holder``, or None (nothing taken) when there are not enough."""
        with self._lock:
            if holder in self._held:
                raise ValueError(f"{holder!r} already holds GPUs {self._held[holder][0]}")
            if self._capacity(n, share) == 0:
                return None
            if share:
                usable = [d for d in self.devices if d not in self._alone]
                chosen = tuple(sorted(usable, key=lambda d: self._users[d])[:n])
            else:
                chosen = tuple([d for d in self.devices if not self._users[d]][:n])
                self._alone.update(chosen)
            for d in chosen:
                self._users[d] += 1
            self._held[holder] = (chosen, not share)
            return tuple(sorted(chosen, key=self.devices.index))

    def release(self, holder: Hashable) -> tuple[str, ...]:
        """Give back what ``holder`` took (nothing if it holds nothing); the devices freed."""
        with self._lock:
            devices, alone = self._held.pop(holder, ((), False))
            for d in devices:
                self._users[d] -= 1
                if alone:
                    self._alone.discard(d)
            return devices

    def holders(self) -> dict[str, list[Hashable]]:
        """Each device and its holders."""
        with self._lock:
            out: dict[str, list[Hashable]] = {d: [] for d in self.devices}
            for holder, (devices, _) in self._held.items():
                for d in devices:
                    out[d].append(holder)
            return out


class GpuGate:
    """The worker's side of GPU slots: how many jobs of a queue to claim, devices for each job
    it starts, and giving them back when the job ends.

    ``wake(queues)`` ends the dispatcher's blocking read (an entry on the queues' wake-up
    streams): called when a job frees devices a queue was waiting for.
    """

    def __init__(
        self, devices: Sequence[str] = (), wake: Callable[[Sequence[str]], None] | None = None
    ) -> None:
        self.allocator = GpuAllocator(devices)
        self._wake = wake
        self._lock = threading.Lock()  # a release between a cap's check and its WAIT must wake it
        self._waiting: set[str] = set()
        self._warned: set[tuple[str, int]] = set()
        self._jobs: dict[Hashable, str] = {}  # (queue, entry) -> job id, for holders()

    @property
    def devices(self) -> tuple[str, ...]:
        return self.allocator.devices

    def cap(self, queue: str, config: QueueConfig | None, want: int) -> int:
        """How many of ``want`` jobs of ``queue`` to claim: ``want`` for a queue that needs no
        GPU; 0 for one whose jobs need more devices than this worker has (logged once);
        WAIT while too few are free."""
        need = config.gpus_per_job if config is not None else 0
        if need <= 0:
            return want
        if need > len(self.devices):
            if (queue, need) not in self._warned:
                self._warned.add((queue, need))
                log.warning(
                    "queue %r needs %d GPU(s) per job and this worker has %d%s: it takes none of its "
                    "jobs (start workers for it with --gpus, and declare the queue with --tags gpu so "
                    "only they consume it)",
                    queue, need, len(self.devices), f" ({','.join(self.devices)})" if self.devices else "",
                )  # fmt: skip
            return 0
        with self._lock:
            room = self.allocator.capacity(need, config is not None and config.gpu_share)
            if room == 0:
                self._waiting.add(queue)
                return WAIT
        return min(want, room)

    def assign(self, job: Claimed, config: QueueConfig | None) -> None:
        """Give a job its devices (the dispatcher, after cap() let it claim the job)."""
        need = config.gpus_per_job if config is not None else 0
        if need <= 0:
            return
        devices = self.allocator.take(need, (job.queue, job.entry), config is not None and config.gpu_share)
        if devices is None:  # cap() counted them on this same thread: cannot happen
            log.error("job %s: no %d free GPU(s) for it; it runs without any", job.job_id, need)
            return
        self._jobs[(job.queue, job.entry)] = job.job_id
        job.gpus = devices
        export_env(job)

    def release(self, job: Claimed) -> None:
        """A job's run ended: free its devices, and wake the dispatcher if a queue waits for them."""
        if not job.gpus:
            return
        with self._lock:
            self.allocator.release((job.queue, job.entry))
            self._jobs.pop((job.queue, job.entry), None)
            waiting, self._waiting = sorted(self._waiting), set()
        if waiting and self._wake is not None:
            self._wake(waiting)

    def holders(self) -> dict[str, list[str]]:
        """Each device and the ids of the jobs holding it, for the workers registry."""
        return {
            device: [self._jobs.get(h, str(h)) for h in holders]
            for device, holders in self.allocator.holders().items()
        }


def export_env(job: Claimed) -> None:
    """Put the job's devices into the environment its executor gives a child process, when
    the job carries one (``Claimed.env`` of the process executor); a thread job reads
    ``current_job().gpus`` instead."""
    env = getattr(job, "env", None)
    if isinstance(env, dict):
        env.update(cuda_env(job.gpus))
