"""The observe endpoint over real loopback HTTP: /metrics naming, /health, /ready, bind errors."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.parser import text_string_to_metric_families

from logflux_agent.config.model import MetricsConfig
from logflux_agent.errors import AgentError, ConfigError
from logflux_agent.observe import metrics
from logflux_agent.observe.server import LoopLagProbe, ObserveServer, parse_listen
from tests.support.wait import async_wait_until


class Readiness:
    """A readiness callable the test flips."""

    def __init__(self) -> None:
        self.state: tuple[bool, str] = (False, "no session with the ingestor yet")

    def __call__(self) -> tuple[bool, str]:
        return self.state


@pytest.fixture
async def server() -> AsyncIterator[tuple[ObserveServer, Readiness]]:
    readiness = Readiness()
    srv = ObserveServer(MetricsConfig(listen="127.0.0.1:0"), readiness)
    await srv.start()
    try:
        yield srv, readiness
    finally:
        await srv.stop()


async def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


async def test_url_is_the_bound_port(server: tuple[ObserveServer, Readiness]) -> None:
    srv, _ = server
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", srv.url)
    assert match is not None, srv.url
    assert int(match.group(1)) > 0
    status, _, body = await fetch(srv.url + "/")
    assert status == 200
    assert "/metrics" in body


async def test_metrics_parse_and_follow_naming(server: tuple[ObserveServer, Readiness]) -> None:
    srv, _ = server
    # Labelled metrics export samples only once a child exists: make sure some do.
    metrics.INPUT_ENTRIES.labels(input="observe-test").inc(3)
    metrics.SEND_FAILURES.labels(reason="timeout").inc()
    metrics.REQUEST_DURATION.observe(0.02)
    status, ctype, body = await fetch(srv.url + "/metrics")
    assert status == 200
    assert ctype.startswith("text/plain; version=0.0.4"), ctype

    families = list(text_string_to_metric_families(body))
    names = {f.name for f in families}
    defined = {m._name for m in vars(metrics).values() if isinstance(m, MetricWrapperBase)}
    # Every metric defined in metrics.py is exported (counters lose _total in family names).
    assert defined <= names, defined - names
    assert len(families) >= 30
    for family in families:
        assert family.name.startswith("logflux_agent_"), family.name
        assert not re.search(
            r"_(milli|micro|nano)?(ms|us|kb|mb|kib|mib|minutes|hours)"
            r"(_|$)|milliseconds|microseconds",
            family.name,
        ), family.name
        if family.type == "counter":
            for sample in family.samples:
                assert sample.name.endswith(("_total", "_created")), sample.name
        else:
            assert not family.name.endswith("_total"), f"{family.name} is not a counter"
    # The raw exposition declares counters under their _total names.
    for line in body.splitlines():
        if line.startswith("# TYPE ") and line.endswith(" counter"):
            assert line.split()[2].endswith("_total"), line

    entries = next(f for f in families if f.name == "logflux_agent_input_entries")
    values = {s.labels.get("input"): s.value for s in entries.samples if s.name.endswith("_total")}
    assert values["observe-test"] >= 3
    build = next(f for f in families if f.name == "logflux_agent_build_info")
    assert build.samples[0].value == 1


async def test_metrics_openmetrics_negotiation(server: tuple[ObserveServer, Readiness]) -> None:
    srv, _ = server
    status, ctype, body = await fetch(
        srv.url + "/metrics", {"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    assert status == 200
    assert ctype.startswith("application/openmetrics-text"), ctype
    assert body.rstrip().endswith("# EOF")


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian package `prometheus`)"
)
async def test_metrics_pass_promtool(server: tuple[ObserveServer, Readiness]) -> None:
    srv, _ = server
    metrics.INPUT_BYTES.labels(input="observe-test").inc(10)
    _, _, body = await fetch(srv.url + "/metrics")
    proc = await asyncio.create_subprocess_exec(
        "promtool",
        "check",
        "metrics",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(body.encode()), timeout=60)
    # promtool prints lint findings (abbreviated units, a gauge named _total...) and exits != 0.
    assert proc.returncode == 0, out.decode()


async def test_health_reports_uptime_and_loop_lag(server: tuple[ObserveServer, Readiness]) -> None:
    srv, _ = server
    async with aiohttp.ClientSession() as session, session.get(srv.url + "/health") as resp:
        assert resp.status == 200
        doc = await resp.json()
    assert doc["status"] == "ok"
    assert doc["uptime_seconds"] >= 0
    assert isinstance(doc["loop_lag_seconds"], float | int)
    assert doc["loop_lag_seconds"] >= 0
    assert doc["loop_lag_max_seconds"] >= doc["loop_lag_seconds"]


async def test_loop_lag_probe_sees_a_blocked_loop() -> None:
    probe = LoopLagProbe(interval=0.01)
    task = asyncio.create_task(probe.run())
    try:
        await asyncio.sleep(0)  # let the probe schedule its first wake-up
        # Block the loop on purpose: the probe's wake-up must come at least this much late.
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test, not a wait
        await async_wait_until(lambda: probe.max_lag > 0, timeout=10, message="lag measured")
        assert probe.max_lag >= 0.25
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_servers_lag_probe_is_a_timer_that_stop_cancels() -> None:
    srv = ObserveServer(MetricsConfig(listen="127.0.0.1:0"), Readiness())
    srv._probe.interval = 0.01
    await srv.start()
    try:
        time.sleep(0.3)  # noqa: ASYNC251 - the stall under test, not a wait
        _, _, body = await fetch(srv.url + "/health")
        assert json.loads(body)["loop_lag_max_seconds"] >= 0.25
        handle = srv._probe._handle
        assert handle is not None and not handle.cancelled()
    finally:
        await srv.stop()
    # No task ran the probe; stopping cancelled its timer.
    assert handle.cancelled() and srv._probe._handle is None


async def test_ready_follows_the_readiness_callable(
    server: tuple[ObserveServer, Readiness],
) -> None:
    srv, readiness = server
    status, ctype, body = await fetch(srv.url + "/ready")
    assert status == 503
    assert ctype.startswith("application/json")
    assert json.loads(body) == {
        "ready": False,
        "stage": "sender",
        "reason": "no session with the ingestor yet",
    }
    readiness.state = (True, "shipping")
    status, _, body = await fetch(srv.url + "/ready")
    assert status == 200
    assert json.loads(body) == {"ready": True, "stage": "", "reason": "shipping"}
    readiness.state = (False, "no send succeeded for 61s (last: 503)")
    status, _, body = await fetch(srv.url + "/ready")
    assert status == 503
    assert "no send succeeded for 61s" in json.loads(body)["reason"]


async def test_ready_names_the_blocking_stage_the_readiness_gives() -> None:
    def session_pending() -> tuple[bool, str, str]:
        return False, "no session with the ingestor yet: connection refused", "session"

    srv = ObserveServer(MetricsConfig(listen="127.0.0.1:0"), session_pending)
    await srv.start()
    try:
        status, _, body = await fetch(srv.url + "/ready")
    finally:
        await srv.stop()
    assert status == 503
    doc = json.loads(body)
    assert doc["stage"] == "session" and "connection refused" in doc["reason"]


async def test_status_is_json_from_the_source_and_503_without_one() -> None:
    srv = ObserveServer(MetricsConfig(listen="127.0.0.1:0"), lambda: (True, "ready"))
    await srv.start()
    try:
        status, _, _ = await fetch(srv.url + "/status")
    finally:
        await srv.stop()
    assert status == 503
    srv = ObserveServer(
        MetricsConfig(listen="127.0.0.1:0"), lambda: (True, "ready"), lambda: {"inputs": []}
    )
    await srv.start()
    try:
        status, _, body = await fetch(srv.url + "/status")
    finally:
        await srv.stop()
    assert status == 200 and json.loads(body) == {"inputs": []}


async def test_metrics_have_no_created_series(server: tuple[ObserveServer, Readiness]) -> None:
    srv, _ = server
    status, _, body = await fetch(srv.url + "/metrics")
    assert status == 200
    assert "logflux_agent_entries_sent_total" in body
    assert "_created" not in body


async def test_ready_is_503_when_readiness_raises() -> None:
    def broken() -> tuple[bool, str]:
        raise RuntimeError("boom")

    srv = ObserveServer(MetricsConfig(listen="127.0.0.1:0"), broken)
    await srv.start()
    try:
        status, _, body = await fetch(srv.url + "/ready")
        assert status == 503
        assert "readiness check failed: boom" in body
        status, _, _ = await fetch(srv.url + "/health")
        assert status == 200
    finally:
        await srv.stop()


async def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        srv = ObserveServer(MetricsConfig(listen=f"127.0.0.1:{port}"), Readiness())
        with pytest.raises(AgentError) as info:
            await srv.start()
    message = str(info.value)
    assert f"metrics.listen 127.0.0.1:{port}" in message
    assert "already in use" in message
    assert "metrics.enabled: false" in message
    await srv.stop()  # harmless after a failed start


async def test_stop_releases_the_port() -> None:
    srv = ObserveServer(MetricsConfig(listen="127.0.0.1:0"), Readiness())
    await srv.start()
    port = int(srv.url.rsplit(":", 1)[1])
    await srv.stop()
    again = ObserveServer(MetricsConfig(listen=f"127.0.0.1:{port}"), Readiness())
    await again.start()
    try:
        status, _, _ = await fetch(again.url + "/health")
        assert status == 200
    finally:
        await again.stop()
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(again.url + "/health")


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
async def test_ipv6_listen() -> None:
    srv = ObserveServer(MetricsConfig(listen="[::1]:0"), Readiness())
    await srv.start()
    try:
        assert srv.url.startswith("http://[::1]:")
        status, _, _ = await fetch(srv.url + "/health")
        assert status == 200
    finally:
        await srv.stop()


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:9102", ("127.0.0.1", 9102)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("localhost:80", ("localhost", 80)),
        ("[::1]:9102", ("::1", 9102)),
    ],
)
def test_parse_listen(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen) == expected


@pytest.mark.parametrize(
    "listen", ["9102", ":9102", "host:port", "127.0.0.1:70000", "::1:9102", "127.0.0.1:-1"]
)
def test_parse_listen_rejects(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"metrics\.listen"):
        parse_listen(listen)


async def test_unresolvable_host_is_a_clear_error() -> None:
    srv = ObserveServer(MetricsConfig(listen="no-such-host.invalid:0"), Readiness())
    with pytest.raises(AgentError, match=r"metrics.listen no-such-host.invalid:0: cannot listen"):
        await srv.start()
