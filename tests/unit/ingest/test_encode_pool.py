"""Encode worker processes: real children over pipes, keys sent once, deaths survived."""

from __future__ import annotations

import asyncio
import base64
import email.parser
import email.policy
import fcntl
import gzip
import json
import os
import signal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from logflux_agent.ingest.encode import EncodedBatch, EncodeJob, PayloadStatics, new_boundary
from logflux_agent.ingest.encode_pool import (
    MAX_DEATHS,
    PIPE_BYTES,
    EncodePool,
    WorkerDied,
    WorkerError,
)
from tests.support.wait import async_wait_until

STATICS = PayloadStatics.build(node="web-01", environment=None, agent="logflux-agent/test")


def job(messages: list[str], key_id: str, counter: int = 0) -> EncodeJob:
    return EncodeJob(
        entries=[(m, 1_795_000_000.0, 7, "/var/log/app.log", {}) for m in messages],
        key_id=key_id,
        nonce_prefix=b"\x00\x01\x02\x03",
        counter_start=counter,
        statics=STATICS,
        boundary=new_boundary(),
        max_payload=1 << 20,
        max_request=1 << 24,
    )


def messages_of(enc: EncodedBatch, key: bytes) -> list[str]:
    raw = f"Content-Type: {enc.content_type}\r\n\r\n".encode() + enc.body
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    out = []
    for part in msg.iter_parts():
        nonce = base64.b64decode(part["X-LF-Nonce"])
        plain = AESGCM(key).decrypt(nonce, part.get_payload(decode=True), None)
        out.append(json.loads(gzip.decompress(plain))["message"])
    return out


async def test_worker_encodes_batches_that_decrypt_with_the_session_key() -> None:
    key = os.urandom(32)
    workers = EncodePool(2)
    try:
        batches = await asyncio.gather(
            *(
                workers.encode(
                    job([f"b{b} line {i}" for i in range(200)], "k1", b * 200), bytearray(key)
                )
                for b in range(6)
            )
        )
        assert len(workers.pids) == 2 and os.getpid() not in workers.pids
    finally:
        await workers.close()
    for b, enc in enumerate(batches):
        assert enc is not None
        assert messages_of(enc, key) == [f"b{b} line {i}" for i in range(200)]


async def test_keys_are_resent_after_the_worker_forgot_them() -> None:
    # The worker keeps two keys; the parent must know when a key has to travel again.
    keys = {name: os.urandom(32) for name in "ABC"}
    workers = EncodePool(1)
    try:
        for name in "ABACBA":
            enc = await workers.encode(job([f"under {name}"], name), bytearray(keys[name]))
            assert enc is not None
            assert messages_of(enc, keys[name]) == [f"under {name}"]
    finally:
        await workers.close()


async def test_a_killed_worker_fails_its_jobs_and_the_next_job_gets_a_new_one() -> None:
    key = os.urandom(32)
    workers = EncodePool(1)
    try:
        assert await workers.encode(job(["warm-up"], "k"), bytearray(key)) is not None
        (first,) = workers.pids
        big = job(["x" * 200] * 20_000, "k")
        pending = asyncio.ensure_future(workers.encode(big, bytearray(key)))
        await async_wait_until(
            lambda: any(w.waiting for w in workers._workers), message="job handed to the worker"
        )
        os.kill(first, signal.SIGKILL)
        with pytest.raises(WorkerDied, match=str(first)):
            await pending
        enc = await workers.encode(job(["after"], "k"), bytearray(key))
        assert enc is not None and messages_of(enc, key) == ["after"]
        assert workers.pids and workers.pids != [first]
    finally:
        await workers.close()


async def test_workers_that_keep_dying_are_given_up_and_encode_returns_none() -> None:
    key = os.urandom(32)
    workers = EncodePool(1)
    try:
        for _ in range(MAX_DEATHS):
            assert await workers.encode(job(["x"], "k"), bytearray(key)) is not None
            (pid,) = workers.pids
            os.kill(pid, signal.SIGKILL)
            await async_wait_until(lambda: not workers.pids, message="death noticed")
        assert await workers.encode(job(["z"], "k"), bytearray(key)) is None
        assert workers.disabled
    finally:
        await workers.close()


async def test_workers_ignore_sigterm_and_exit_when_the_agent_closes_them() -> None:
    key = os.urandom(32)
    workers = EncodePool(1)
    assert await workers.encode(job(["a"], "k"), bytearray(key)) is not None
    (pid,) = workers.pids
    os.kill(pid, signal.SIGTERM)  # systemd signals the whole cgroup; the agent still drains
    enc = await workers.encode(job(["still here"], "k"), bytearray(key))
    assert enc is not None and messages_of(enc, key) == ["still here"]
    await workers.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


PIPE_MAX = int(Path("/proc/sys/fs/pipe-max-size").read_text())


async def test_worker_pipes_are_widened_so_a_batch_crosses_in_few_system_calls() -> None:
    workers = EncodePool(1)
    try:
        assert await workers.encode(job(["a"], "k"), bytearray(os.urandom(32))) is not None
        proc = workers._workers[0].proc
        for fd in (
            proc.stdin.transport.get_extra_info("pipe").fileno(),  # type: ignore[union-attr]
            proc.stdout._transport.get_extra_info("pipe").fileno(),
        ):  # type: ignore[union-attr]
            assert fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ) == min(PIPE_BYTES, PIPE_MAX)
    finally:
        await workers.close()


async def test_a_job_the_worker_cannot_encode_fails_alone_and_the_worker_carries_on() -> None:
    key = os.urandom(32)
    workers = EncodePool(1)
    try:
        bad = job(["x"], "k")
        bad.compressor = "no-such-compressor"
        with pytest.raises(WorkerError, match="no-such-compressor"):
            await workers.encode(bad, bytearray(key))
        enc = await workers.encode(job(["fine"], "k"), bytearray(key))
        assert enc is not None and messages_of(enc, key) == ["fine"]
    finally:
        await workers.close()
