"""`logflux-agent demo`: the README's first command works as a newcomer runs it."""

from __future__ import annotations

import subprocess
import sys


def test_demo_ships_the_sample_log_and_prints_a_summary() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "logflux_agent", "demo", "--lines", "300", "--rate", "3000"],
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "received 300/300 entries decrypted" in proc.stdout
    assert "decrypted: {" in proc.stdout
    assert "summary" in proc.stdout
    assert "entries_accepted   300" in proc.stdout
    assert "eu-lf_devingestor0local0key00001" not in proc.stdout + proc.stderr
