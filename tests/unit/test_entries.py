"""The shapes of stream entries and of generated job ids (rqueues/backend/entries.py)."""

from __future__ import annotations

import msgpack
import pytest

from rqueues.backend.entries import (
    FRESH,
    NO_JOB_ID,
    READDED,
    generated_entry,
    generated_id,
    pack_fresh,
    queue_of,
    read_entry,
)
from rqueues.checks import check_job_id
from rqueues.errors import ConfigurationError


@pytest.mark.parametrize(
    ("options", "job_id"), [(b"", None), (b"\x81\xa7timeout\x03", None), (b"", "mine"), (b"\x80", "mine")]
)
def test_a_fresh_entry_reads_back_as_written(options: bytes, job_id: str | None) -> None:
    payload = b"\x93\x01\x90\x80\xff"  # bytes that are not UTF-8 come back as they were
    blob = pack_fresh("tasks:add", payload, options, job_id)
    entry = read_entry("default", "17-3", {FRESH.encode(): blob})
    assert entry is not None and entry.fresh
    assert (entry.function, entry.payload, entry.options) == ("tasks:add", payload, options)
    assert entry.job_id == (job_id or "default:17-3")
    assert entry.enqueued_ms == 17


def test_a_no_arg_job_without_options_packs_two_items_and_no_bin() -> None:
    blob = pack_fresh("bench.tasks:noop", b"\x93\x01\x90\x80", b"", None)
    assert msgpack.unpackb(blob, raw=True) == [b"bench.tasks:noop", b"\x93\x01\x90\x80"]
    assert b"\xc4" not in blob  # Redis' cmsgpack cannot read bin


def test_a_readded_entry_names_its_job() -> None:
    entry = read_entry("default", b"5-0", {READDED.encode(): b"order-1"})
    assert entry is not None and (entry.fresh, entry.job_id) == (False, "order-1")
    bad = read_entry("default", b"5-1", {READDED.encode(): b"\xff"})
    assert bad is not None and (bad.job_id, bad.raw_job) == (NO_JOB_ID, b"\xff")


@pytest.mark.parametrize(
    "fields",
    [
        {b"oops": b"x"},
        {b"j": b"x", b"job": b"y"},
        {b"j": b"\xc1"},
        {b"j": msgpack.packb(["f"])},
        {b"j": msgpack.packb([1, b"p"])},
        {b"j": msgpack.packb(["", b"p"])},
        {b"j": msgpack.packb(["f", b"p", 3])},
        {b"j": msgpack.packb(["f", b"p", None, ""])},
        {b"j": msgpack.packb({"f": 1})},
    ],
)
def test_entries_rqueues_did_not_write_read_as_none(fields: dict[bytes, bytes]) -> None:
    assert read_entry("default", "1-0", fields) is None


def test_a_generated_id_names_its_queue_and_entry() -> None:
    job_id = generated_id("a.b:c", "1700000000000-12")
    assert job_id == "a.b:c:1700000000000-12"
    assert queue_of(job_id) == "a.b:c"
    assert generated_entry("a.b:c", job_id) == "1700000000000-12"
    assert generated_entry("other", job_id) is None


@pytest.mark.parametrize("job_id", ["order-42", "1700000000000-12", "q:1-x", "q:" + "9" * 20 + "-0", ":1-0"])
def test_other_ids_are_not_generated_ones(job_id: str) -> None:
    assert queue_of(job_id) is None


def test_a_chosen_id_can_never_take_the_generated_form() -> None:
    with pytest.raises(ConfigurationError, match="':'"):
        check_job_id(generated_id("default", "1-0"))
