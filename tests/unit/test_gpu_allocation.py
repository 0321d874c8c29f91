"""GPU slots without GPUs: parsing and detecting device ids, the allocator, the dispatcher's gate."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from rqueues.config import QueueConfig
from rqueues.errors import ConfigurationError
from rqueues.routing import automatic_tags
from rqueues.worker.execution import Claimed
from rqueues.worker.gpus import (
    UNBOUNDED,
    WAIT,
    GpuAllocator,
    GpuGate,
    cuda_env,
    detect_gpus,
    parse_gpus,
    resolve_gpus,
)

SMI = "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-aaaa)\nGPU 1: NVIDIA A100-SXM4-40GB (UUID: GPU-bbbb)\n"


def claimed(entry: str, queue: str = "train") -> Claimed:
    return Claimed(queue, entry, f"job-{entry}", "m:f", b"", 1, {}, 60)


# -- ids ---------------------------------------------------------------------------


def test_ids_are_parsed_from_a_comma_separated_list_or_a_sequence() -> None:
    assert parse_gpus("0,1,2") == ("0", "1", "2")
    assert parse_gpus(" 0 , 1 ,") == ("0", "1")
    assert parse_gpus(["GPU-8a1c-44", "MIG-1"]) == ("GPU-8a1c-44", "MIG-1")
    assert parse_gpus("") == ()


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("0,0", "listed twice"),
        ("0,a b", "invalid GPU id"),
        ([1], "expected a string"),
        (["", "1"], "invalid GPU id"),
    ],
)
def test_a_bad_id_is_refused_by_name(spec: Any, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        parse_gpus(spec)


@pytest.mark.parametrize(
    ("visible", "found"),
    [("2,3", ("2", "3")), ("", ()), ("-1", ()), ("0,-1,2", ("0",)), ("GPU-aa, GPU-bb", ("GPU-aa", "GPU-bb"))],
)
def test_cuda_visible_devices_wins_and_ends_like_cuda_at_the_first_non_id(
    visible: str, found: tuple[str, ...]
) -> None:
    assert detect_gpus({"CUDA_VISIBLE_DEVICES": visible}, lambda: SMI) == (found, "CUDA_VISIBLE_DEVICES")


def test_without_cuda_visible_devices_nvidia_smi_lists_the_ordinals_else_there_are_none() -> None:
    assert detect_gpus({}, lambda: SMI) == (("0", "1"), "nvidia-smi -L")
    ids, source = detect_gpus({}, lambda: None)
    assert ids == () and "no nvidia-smi" in source


def test_auto_reads_the_environment_and_says_what_it_found(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="rqueues.worker")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    assert resolve_gpus("auto") == ("4", "6")
    assert "2 GPU(s) from CUDA_VISIBLE_DEVICES: 4,6" in caplog.text
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert resolve_gpus("AUTO") == ()
    assert "found no GPU" in caplog.text
    assert resolve_gpus(None) == () and resolve_gpus("1,0") == ("1", "0")


def test_a_worker_with_gpus_carries_the_gpu_tags() -> None:
    assert {"gpu", "gpus=3"} <= automatic_tags("w", 3)
    assert not {t for t in automatic_tags("w") if t.startswith("gpu")}
    assert cuda_env(("1", "3")) == {"CUDA_VISIBLE_DEVICES": "1,3"}


# -- the allocator -------------------------------------------------------------------


def test_jobs_alone_never_get_a_device_another_job_holds() -> None:
    gpus = GpuAllocator(("0", "1", "2"))
    assert gpus.capacity(1) == 3 and gpus.capacity(2) == 1 and gpus.capacity(4) == 0
    a = gpus.take(2, "a")
    assert a == ("0", "1") and gpus.capacity(1) == 1 and gpus.capacity(2) == 0
    assert gpus.take(2, "b") is None  # nothing taken
    assert gpus.take(1, "c") == ("2",)
    assert gpus.capacity(1) == 0
    assert gpus.release("a") == ("0", "1")
    assert gpus.release("a") == ()  # twice: nothing more
    assert gpus.take(1, "d") == ("0",)
    assert gpus.holders() == {"0": ["d"], "1": [], "2": ["c"]}
    with pytest.raises(ValueError, match="already holds"):
        gpus.take(1, "d")


def test_sharing_jobs_share_devices_with_each_other_but_not_with_a_job_alone() -> None:
    gpus = GpuAllocator(("0", "1"))
    assert gpus.take(1, "alone") == ("0",)
    assert gpus.capacity(1, share=True) == UNBOUNDED and gpus.capacity(2, share=True) == 0
    assert [gpus.take(1, f"s{i}", share=True) for i in range(3)] == [("1",)] * 3
    assert gpus.capacity(1) == 0  # a device in shared use is not free for a job alone
    gpus.release("alone")
    assert gpus.take(1, "s3", share=True) == ("0",)  # the least used device first
    assert gpus.holders() == {"0": ["s3"], "1": ["s0", "s1", "s2"]}


def test_concurrent_takes_and_releases_never_give_one_device_to_two_holders() -> None:
    gpus = GpuAllocator(tuple(str(i) for i in range(4)))
    problems: list[str] = []

    def churn(me: int) -> None:
        rng = random.Random(me)
        for i in range(300):
            got = gpus.take(rng.choice((1, 2)), (me, i))
            if got is None:
                continue
            held = gpus.holders()
            if any(len(held[d]) != 1 for d in got):
                problems.append(f"{got} shared: {held}")
            gpus.release((me, i))

    threads = [threading.Thread(target=churn, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not problems and all(not jobs for jobs in gpus.holders().values())


# -- the gate ------------------------------------------------------------------------


def config(need: int, share: bool = False) -> QueueConfig:
    return QueueConfig("train", gpus_per_job=need, gpu_share=share)


def test_the_gate_claims_no_more_jobs_than_free_devices_and_waits_when_none_are(
    caplog: pytest.LogCaptureFixture,
) -> None:
    woken: list[Sequence[str]] = []
    gate = GpuGate(("0", "1", "2"), woken.append)
    assert gate.cap("plain", QueueConfig("plain"), 8) == 8 and gate.cap("x", None, 8) == 8
    assert gate.cap("train", config(1), 8) == 3 and gate.cap("train", config(1), 2) == 2
    jobs = [claimed(str(i)) for i in range(3)]
    for job in jobs:
        gate.assign(job, config(1))
    assert sorted(j.gpus for j in jobs) == [("0",), ("1",), ("2",)]
    assert gate.holders() == {"0": ["job-0"], "1": ["job-1"], "2": ["job-2"]}
    assert gate.cap("train", config(1), 8) == WAIT and not woken
    gate.release(jobs[1])
    assert woken == [["train"]]  # the dispatcher blocked on the queue's wake-up stream is woken
    gate.release(jobs[0])
    assert woken == [["train"]]  # once: nothing waited since
    assert gate.cap("train", config(2), 8) == 1


def test_a_worker_without_enough_gpus_takes_no_job_of_the_queue_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="rqueues.worker")
    assert GpuGate(()).cap("train", config(1), 8) == 0
    gate = GpuGate(("0",))
    assert gate.cap("train", config(2), 8) == 0 and gate.cap("train", config(2), 8) == 0
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert "needs 1 GPU(s) per job and this worker has 0" in lines[0] and "--gpus" in lines[0]
    assert "needs 2 GPU(s) per job and this worker has 1 (0)" in lines[1]


def test_a_job_with_an_environment_of_its_own_gets_cuda_visible_devices() -> None:
    gate = GpuGate(("0", "1"))
    job = claimed("e")
    job.env = {"OTHER": "x"}  # type: ignore[attr-defined]  # the process executor's Claimed.env
    gate.assign(job, config(2))
    assert job.gpus == ("0", "1")
    assert job.env == {"OTHER": "x", "CUDA_VISIBLE_DEVICES": "0,1"}  # type: ignore[attr-defined]
    plain = claimed("p")
    gate.assign(plain, QueueConfig("train"))
    assert plain.gpus == ()


def test_gpu_settings_round_trip_through_the_config_hash() -> None:
    raw = {k.encode(): str(v).encode() for k, v in config(2, share=True).to_hash().items()}
    assert raw[b"gpus_per_job"] == b"2" and raw[b"gpu_share"] == b"1"
    parsed = QueueConfig.from_hash("train", raw)
    assert (parsed.gpus_per_job, parsed.gpu_share) == (2, True)
    with pytest.raises(ConfigurationError, match="gpu_share"):
        QueueConfig.from_hash("train", {b"gpu_share": b"yes"})
