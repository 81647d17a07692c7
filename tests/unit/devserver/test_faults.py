"""Every fault kind of the reference ingestor, observed over real loopback HTTP: injected
statuses (with Retry-After as seconds, HTTP-date and in the body), partial failures, delays,
closing, resetting, slow reading, expired keys, failing handshakes, discovery down, groups,
durations on an injected clock, and spec validation."""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import AsyncIterator

import aiohttp
import pytest

from logflux_agent.clock import FakeClock
from logflux_agent.devserver.faults import FaultSpecError
from tests.support.refingestor import InProcessIngestor
from tests.support.wire import Entry, Wire


@pytest.fixture
async def clock() -> FakeClock:
    return FakeClock(start_wall=1_800_000_000.0)


@pytest.fixture
async def ing(clock: FakeClock) -> AsyncIterator[InProcessIngestor]:
    async with InProcessIngestor(clock=clock) as server:
        yield server


@pytest.fixture
async def wire(ing: InProcessIngestor) -> AsyncIterator[Wire]:
    async with aiohttp.ClientSession() as http:
        yield Wire(http, ing.url, ing.api_key)


@pytest.mark.parametrize("status", [400, 401, 403, 413, 500, 502, 503, 504, 507])
async def test_next_n_requests_get_the_status_then_normal(
    ing: InProcessIngestor, wire: Wire, status: int
) -> None:
    session = await wire.handshake()
    ing.faults(status=status, count=2)
    for _ in range(2):
        reply = await wire.send(session, [Entry("x")])
        assert reply.status == status
        assert reply.body["status"] == "error" and reply.body["request_id"]
        assert reply.body["error"]["code"]
    assert ing.entries() == []  # a faulted request stores nothing
    assert (await wire.send(session, [Entry("after")])).status == 202
    assert [e["payload"]["message"] for e in ing.entries()] == ["after"]
    assert ing.stats()["status"] == {str(status): 2, "202": 1}


async def test_401_fault_reads_as_an_unknown_key(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    ing.faults(status=401)
    reply = await wire.send(session, [Entry("x")])
    assert reply.body["error"]["code"] == "invalid_key_id"


async def test_429_retry_after_forms(ing: InProcessIngestor, wire: Wire, clock: FakeClock) -> None:
    session = await wire.handshake()
    ing.faults(status=429)
    assert (await wire.send(session, [Entry("x")])).headers["Retry-After"] == "1"
    ing.faults(status=429, retry_after=7, retry_after_body=9)
    reply = await wire.send(session, [Entry("x")])
    assert reply.status == 429 and reply.headers["Retry-After"] == "7"
    assert reply.body["error"]["retry_after"] == 9
    ing.faults(status=429, retry_after=30, retry_after_date=True)
    reply = await wire.send(session, [Entry("x")])
    when = email.utils.parsedate_to_datetime(reply.headers["Retry-After"]).timestamp()
    assert when == clock.wall() + 30  # from the injected wall clock, to the second
    ing.faults(status=429, retry_after=None)
    assert "Retry-After" not in (await wire.send(session, [Entry("x")])).headers


async def test_partial_failure_for_listed_indexes(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    ing.faults(fail_indexes=[0, 2], count=1, fail_error="disk hiccup")
    reply = await wire.send(session, [Entry(f"m{i}") for i in range(4)])
    assert reply.status == 202
    data = reply.body["data"]
    assert (data["total"], data["succeeded"], data["failed"]) == (4, 2, 2)
    assert data["failures"] == [
        {"index": 0, "error": "disk hiccup"},
        {"index": 2, "error": "disk hiccup"},
    ]
    assert [e["payload"]["message"] for e in ing.entries()] == ["m1", "m3"]
    again = await wire.send(session, [Entry("m0"), Entry("m2")])
    assert again.body["data"]["failed"] == 0


async def test_delay_holds_the_answer_after_recording(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    ing.faults(delay=30)
    with pytest.raises(asyncio.TimeoutError):
        await wire.send(session, [Entry("slow")], timeout=0.3)
    assert [e["payload"]["message"] for e in ing.entries()] == ["slow"]
    assert ing.stats()["faults_injected"] == {"delay": 1}


async def test_close_without_answer_stores_nothing(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    ing.faults(close=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await wire.send(session, [Entry("lost")])
    assert ing.entries() == [] and ing.stats()["bytes_in"] > 0
    ing.faults(close_after_store=True)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await wire.send(session, [Entry("stored, answer lost")])
    assert [e["payload"]["message"] for e in ing.entries()] == ["stored, answer lost"]


async def test_reset_mid_request(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    ing.faults(reset=True)
    big = [Entry(f"m{i} " + "x" * 2000, compress=False) for i in range(300)]
    with pytest.raises(aiohttp.ClientOSError) as err:
        await wire.send(session, big)
    assert "reset" in str(err.value).lower() or isinstance(
        err.value.__cause__, ConnectionResetError
    )
    assert ing.entries() == []


async def test_slow_read_makes_the_client_time_out(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    ing.faults(slow_read=1000)
    big = [Entry(f"m{i} " + "y" * 2000, compress=False) for i in range(200)]
    with pytest.raises(asyncio.TimeoutError):
        await wire.send(session, big, timeout=0.5)


async def test_expired_keys_need_a_new_handshake(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    assert (await wire.send(session, [Entry("before")])).status == 202
    result = ing.faults(expire_keys=True)
    assert result["expired_sessions"] == 1
    for _ in range(2):
        reply = await wire.send(session, [Entry("refused")])
        assert reply.status == 401 and reply.body["error"]["code"] == "invalid_key_id"
    fresh = await wire.handshake()
    assert (await wire.send(fresh, [Entry("after")])).status == 202
    assert [e["payload"]["message"] for e in ing.entries()] == ["before", "after"]


async def test_handshake_fails_n_times(ing: InProcessIngestor, wire: Wire) -> None:
    ing.faults(handshake_fail=2, status=503, retry_after=3)
    first, second = await wire.init(), await wire.init()
    assert (first.status, second.status) == (503, 503)
    assert first.headers["Retry-After"] == "3"
    session = await wire.handshake()
    assert (await wire.send(session, [Entry("ok")])).status == 202
    assert ing.stats()["status_by_endpoint"]["handshake_init"] == {"503": 2, "200": 1}


async def test_discovery_down_and_back(ing: InProcessIngestor, wire: Wire) -> None:
    ing.faults(discovery_down=True)
    assert (await wire.request("GET", "/")).status == 503
    assert (await wire.request("GET", "/api/discovery", headers=wire.auth())).status == 503
    assert (await wire.init()).status == 200  # other groups are not affected
    ing.faults(discovery_down=False)
    assert (await wire.request("GET", "/")).status == 200


async def test_faults_target_groups(ing: InProcessIngestor, wire: Wire) -> None:
    session = await wire.handshake()
    ing.faults(status=502, target="discovery", count=1)
    assert (await wire.send(session, [Entry("x")])).status == 202
    assert (await wire.request("GET", "/")).status == 502
    ing.faults(status=500, target="all", count=1)
    assert (await wire.request("GET", "/")).status == 500
    assert (await wire.init()).status == 500
    assert (await wire.send(session, [Entry("y")])).status == 500
    assert (await wire.send(session, [Entry("z")])).status == 202


async def test_duration_expires_on_the_injected_clock(
    ing: InProcessIngestor, wire: Wire, clock: FakeClock
) -> None:
    session = await wire.handshake()
    ing.faults(status=503, duration=60)
    for _ in range(3):
        assert (await wire.send(session, [Entry("x")])).status == 503
    clock.advance(61)
    assert (await wire.send(session, [Entry("x")])).status == 202


async def test_setting_a_kind_again_replaces_it_and_clear_removes_all(
    ing: InProcessIngestor, wire: Wire
) -> None:
    ing.faults(delay=5, count=100)
    ing.faults(delay=0, count=100)
    ing.faults(status=503, count=100)
    rules = {r["kind"]: r for r in ing.stats()["faults"]["rules"]}
    assert rules["delay"]["delay"] == 0 and rules["status"]["remaining"] == 100
    ing.reset_faults()
    assert ing.stats()["faults"]["rules"] == []
    session = await wire.handshake()
    assert (await wire.send(session, [Entry("x")])).status == 202


async def test_fault_specs_are_validated(ing: InProcessIngestor, wire: Wire) -> None:
    for spec in (
        {"status": 200},
        {"status": "503"},
        {"count": 0, "status": 503},
        {"bogus": 1},
        {"target": "nowhere", "status": 503},
        {"fail_indexes": [-1]},
        {"delay": -1},
        {"slow_read": 0},
        {"retry_after": 1.5, "status": 429},
    ):
        with pytest.raises(FaultSpecError):
            ing.faults(**spec)
    reply = await wire.request("POST", "/_ref/faults", json_body={"status": 99})
    assert reply.status == 400 and "400-599" in reply.body["error"]
    reply = await wire.request("POST", "/_ref/faults", json_body={"status": 503, "count": 1})
    assert reply.status == 200 and reply.body["rules"][0]["remaining"] == 1
    config = await wire.request("POST", "/_ref/config", json_body={"success_status": 204})
    assert config.status == 400
