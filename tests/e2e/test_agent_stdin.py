"""`producer | logflux-agent --stdin`: a one-shot upload that is reliable, with backpressure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.agentproc import AgentProcess
from tests.support.refingestor import RefIngestor

PRODUCER = (
    "import sys\n"
    "n = int(sys.argv[1])\n"
    "out = sys.stdout\n"
    "for i in range(n):\n"
    "    out.write(f'stdin-{i:08d} some payload text\\n')\n"
    "out.flush()\n"
)


def stdin_agent(tmp_path: Path, ingestor: RefIngestor, **extra: object) -> AgentProcess:
    return AgentProcess(
        tmp_path / "agent",
        endpoint=ingestor.url,
        api_key=ingestor.api_key,
        inputs=[],
        extra=dict(extra),
        metrics=False,
    )


def expected(n: int) -> list[str]:
    return [f"stdin-{i:08d} some payload text" for i in range(n)]


def test_200k_lines_through_a_pipe_with_a_slow_ingestor_all_arrive_and_exit_0(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    n = 200_000
    ref_ingestor.faults(delay=0.05, count=10**6)
    agent = stdin_agent(
        tmp_path,
        ref_ingestor,
        queue={"max_entries": 5000},
        sender={"batch_max_entries": 1000, "shutdown_timeout": 120},
    )
    producer = subprocess.Popen([sys.executable, "-c", PRODUCER, str(n)], stdout=subprocess.PIPE)
    assert producer.stdout is not None
    agent.start(stdin=producer.stdout, args=["--stdin"])
    producer.stdout.close()
    try:
        assert agent.wait(timeout=240) == 0, agent.logs()[-3000:]
        assert producer.wait(timeout=30) == 0
    finally:
        agent.stop()
        producer.kill()
    ref_ingestor.verify({"stdin": expected(n)}, allow_duplicates=False)


def test_eof_with_the_ingestor_down_exits_non_zero_and_says_how_many(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    agent = stdin_agent(tmp_path, ref_ingestor, sender={"shutdown_timeout": 2})
    ref_ingestor.faults(status=503, count=10**6)
    producer = subprocess.Popen([sys.executable, "-c", PRODUCER, "50"], stdout=subprocess.PIPE)
    assert producer.stdout is not None
    agent.start(stdin=producer.stdout, args=["--stdin"])
    producer.stdout.close()
    try:
        assert agent.wait(timeout=60) == 1
    finally:
        agent.stop()
        producer.kill()
    undelivered = [e for e in agent.events() if e.get("event") == "stdin.undelivered"]
    assert undelivered
    assert undelivered[-1]["entries"] == 50


def test_a_producer_that_dies_mid_stream_delivers_what_was_read(
    tmp_path: Path, ref_ingestor: RefIngestor
) -> None:
    script = (
        "import os, sys\n"
        "for i in range(1000):\n"
        "    sys.stdout.write(f'stdin-{i:08d} some payload text\\n')\n"
        "sys.stdout.write('half a line without newline')\n"
        "sys.stdout.flush()\n"
        "os.kill(os.getpid(), 9)\n"
    )
    agent = stdin_agent(tmp_path, ref_ingestor)
    producer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert producer.stdout is not None
    agent.start(stdin=producer.stdout, args=["--stdin"])
    producer.stdout.close()
    try:
        assert agent.wait(timeout=60) == 0
    finally:
        agent.stop()
    ref_ingestor.verify(
        {"stdin": [*expected(1000), "half a line without newline"]}, allow_duplicates=False
    )
