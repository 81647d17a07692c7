"""Processors through the real agent: CRI and docker files as the runtimes write them, to the
reference ingestor, decrypted and checked: message, level, ts, attributes — and a kill -9
between a partial line and its end."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor
from tests.support.wait import wait_until

T = "2026-12-01T06:00:0{}.5Z"  # CRI time, second filled in
EPOCH = 1_796_104_800.5


def pod_log(tmp_path: Path) -> Path:
    path = tmp_path / "pods" / "shop_web-7d9f_0f1e-22" / "app" / "0.log"
    path.parent.mkdir(parents=True)
    path.touch()
    return path


def agent_with(
    tmp_path: Path, ingestor: RefIngestor, path: Path, processors: list[Any]
) -> AgentProcess:
    inputs = [
        {
            "type": "file",
            "id": "pods",
            "paths": [str(path)],
            "start_at": "beginning",
            "processors": processors,
        }
    ]
    return AgentProcess(
        tmp_path / "agent", endpoint=ingestor.url, api_key=ingestor.api_key, inputs=inputs
    )


def payloads(ingestor: RefIngestor) -> list[dict[str, Any]]:
    return [e["payload"] for e in ingestor.entries()]


def messages(ingestor: RefIngestor) -> list[str]:
    return [p["message"] for p in payloads(ingestor)]


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def test_cri_kubernetes_json_entries_arrive_parsed(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = pod_log(tmp_path)
    agent = agent_with(
        tmp_path,
        ref_ingestor,
        log,
        [
            {"cri": {}},
            {"kubernetes": {}},
            {"json": {"message_key": "msg"}},
            {"timestamp": {"field": "ts", "formats": ["unix_ms"]}},
            {"level": {"field": "level"}},
        ],
    )
    agent.start()
    try:
        app_line = json.dumps(
            {"level": "error", "ts": 1796104790250, "msg": "payment failed", "order_id": "A-1"}
        )
        append(
            log,
            f"{T.format(0)} stdout F {app_line}\n"
            f"{T.format(1)} stderr P GET /health \n"
            f"{T.format(1)} stderr F 200\n",
        )
        ref_ingestor.wait_for_entries(2)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    first, second = payloads(ref_ingestor)
    assert first["message"] == "payment failed"
    assert first["level"] == 4
    assert first["ts"] == "2026-12-01T05:59:50.250000Z"
    attrs = first["attributes"]
    assert attrs["order_id"] == "A-1" and attrs["stream"] == "stdout"
    assert attrs["k8s.namespace"] == "shop" and attrs["k8s.pod"] == "web-7d9f"
    assert attrs["k8s.container"] == "app" and attrs["k8s.pod_uid"] == "0f1e-22"
    # Not JSON: shipped as text, level 7, the runtime's time, counted.
    assert second["message"] == "GET /health 200"
    assert second["level"] == 7 and second["ts"] == "2026-12-01T06:00:01.500000Z"
    assert second["attributes"]["stream"] == "stderr"


def test_docker_json_file_lines_arrive_unwrapped_and_joined(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "containers" / "abc" / "abc-json.log"
    log.parent.mkdir(parents=True)
    log.touch()
    agent = agent_with(tmp_path, ref_ingestor, log, ["docker"])
    agent.start()
    try:
        stamp = T.format(2)
        for piece in ("GET /health 200\n", "a long line in ", "two pieces\n"):
            append(log, json.dumps({"log": piece, "stream": "stdout", "time": stamp}) + "\n")
        ref_ingestor.wait_for_entries(2)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    assert messages(ref_ingestor) == ["GET /health 200", "a long line in two pieces"]
    assert payloads(ref_ingestor)[1]["ts"] == "2026-12-01T06:00:02.500000Z"


def test_kill_between_p_and_f_delivers_the_joined_line_whole_exactly_once(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = pod_log(tmp_path)
    agent = agent_with(tmp_path, ref_ingestor, log, ["cri", "kubernetes"])
    agent.start()
    first = f"{T.format(0)} stdout F first\n"
    try:
        append(log, first)
        ref_ingestor.wait_for_entries(1)
        # A P line split across two writes, a complete line of the other stream, a second P.
        append(log, f"{T.format(1)} stdout P alp")
        append(log, f"ha-\n{T.format(1)} stderr F second\n{T.format(1)} stdout P beta-\n")
        wait_until(lambda: "second" in messages(ref_ingestor), 30, message="'second' to arrive")
        # Give the agent time to commit whatever it would commit; it must not pass the P line.
        p_line_start = len(first.encode())
        wait_until(
            lambda: any(v.get("offset") for v in agent.checkpoints().values()),
            30,
            message="a checkpoint",
        )
        offsets = [v.get("offset", 0) for v in agent.checkpoints().values()]
        assert max(offsets) <= p_line_start, offsets
        agent.kill9()
        append(log, f"{T.format(2)} stdout F gamma\n{T.format(3)} stdout F last\n")
        agent.start()
        wait_until(lambda: "last" in messages(ref_ingestor), 60, message="'last' to arrive")
        assert agent.terminate() == 0
    finally:
        agent.stop()
    got = messages(ref_ingestor)
    assert got.count("alpha-beta-gamma") == 1, got
    assert not [m for m in got if m.startswith(("alp", "beta")) and m != "alpha-beta-gamma"]
    # At-least-once: lines before the held P may come twice (they were re-read), never lost.
    assert got.count("first") >= 1 and got.count("second") >= 1 and got.count("last") == 1
    joined = next(p for p in payloads(ref_ingestor) if p["message"] == "alpha-beta-gamma")
    assert joined["ts"] == "2026-12-01T06:00:01.500000Z"
    assert joined["attributes"]["k8s.pod"] == "web-7d9f"
    assert joined["attributes"]["stream"] == "stdout"


def test_stdin_at_eof_ships_a_held_partial_and_exits_0(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent = AgentProcess(
        tmp_path / "agent",
        endpoint=ref_ingestor.url,
        api_key=ref_ingestor.api_key,
        inputs=[{"type": "stdin", "processors": [{"cri": {}}, {"json": {}}]}],
    )
    data = f'{T.format(0)} stdout F {{"k":"v"}}\n{T.format(1)} stdout P never ended\n'
    agent.start(stdin=subprocess.PIPE)
    assert agent.proc is not None and agent.proc.stdin is not None
    agent.proc.stdin.write(data.encode())
    agent.proc.stdin.close()
    try:
        assert agent.wait(timeout=60) == 0, agent.logs()[-2000:]
    finally:
        agent.stop()
    got = payloads(ref_ingestor)
    assert [p["message"] for p in got] == ['{"k":"v"}', "never ended"]
    assert got[0]["attributes"] == {"stream": "stdout", "k": "v"}
    problems = {e["reason"] for e in agent.events() if e.get("event") == "processing.problem"}
    assert problems == {"partial_timeout", "invalid_json"}  # the piece is not JSON either


TRACE = (
    'Exception in thread "main" java.lang.IllegalStateException: boom',
    "\tat com.shop.Pay.charge(Pay.java:42)",
    "\tat com.shop.Main.main(Main.java:7)",
)


def offsets(agent: AgentProcess) -> list[int]:
    return [v["offset"] for v in agent.checkpoints().values() if "offset" in v]


def cri_lines(*texts: str, stream: str = "stderr") -> str:
    return "".join(f"{T.format(1)} {stream} F {text}\n" for text in texts)


def test_a_stack_trace_in_cri_lines_is_joined_and_a_kill_9_inside_it_ships_it_whole_once(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = pod_log(tmp_path)
    # A long timeout: only a next entry completes one, so the kill -9 surely hits a held trace.
    multiline = {"multiline": {"continue_pattern": r"^\s+at ", "timeout": 120}}
    agent = agent_with(tmp_path, ref_ingestor, log, ["cri", multiline, "kubernetes"])
    agent.start()
    head = cri_lines("first", "second")
    try:
        append(log, head)
        ref_ingestor.wait_for_entries(1)  # "first": "second" began the next entry
        append(log, cri_lines(*TRACE[:2]))
        wait_until(lambda: "second" in messages(ref_ingestor), 30, message="'second' to arrive")
        # "second" carried its read's token: committed up to the trace's first line, not past.
        trace_start = len(head.encode())
        wait_until(
            lambda: offsets(agent) == [trace_start],
            30,
            message=f"the checkpoint at {trace_start}",
        )
        agent.kill9()
        append(log, cri_lines(TRACE[2], "last", "end"))
        agent.start()
        wait_until(lambda: "last" in messages(ref_ingestor), 60, message="'last' to arrive")
        assert agent.terminate() == 0
    finally:
        agent.stop()
    got = messages(ref_ingestor)
    assert got == ["first", "second", "\n".join(TRACE), "last"], got
    trace = payloads(ref_ingestor)[2]
    assert trace["ts"] == "2026-12-01T06:00:01.500000Z"
    assert trace["attributes"]["stream"] == "stderr"
    assert trace["attributes"]["k8s.pod"] == "web-7d9f"


def test_syslog_lines_in_a_file_arrive_with_level_ts_and_fields(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    log = tmp_path / "remote.log"
    log.touch()
    agent = agent_with(tmp_path, ref_ingestor, log, ["syslog"])
    agent.start()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S.250Z", time.gmtime(time.time() - 30))
    try:
        append(
            log,
            f'<11>1 {stamp} web01 shop 42 PAY [order@1 id="A-1"] payment failed\n'
            "not a syslog line\n",
        )
        ref_ingestor.wait_for_entries(2)
        assert agent.terminate() == 0
    finally:
        agent.stop()
    parsed, plain = payloads(ref_ingestor)
    assert parsed["message"] == "payment failed" and parsed["level"] == 4
    assert parsed["ts"] == stamp.replace(".250Z", ".250000Z")
    assert parsed["attributes"] == {
        "facility": "user",
        "hostname": "web01",
        "app_name": "shop",
        "procid": "42",
        "msgid": "PAY",
        "sd.order@1.id": "A-1",
    }
    assert plain["message"] == "not a syslog line" and plain["level"] == 7
    problems = {e["reason"] for e in agent.events() if e.get("event") == "processing.problem"}
    assert problems == {"not_syslog"}
