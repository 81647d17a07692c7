"""`logflux-agent bench`: runs the real pipeline against a counting ingestor and prints figures.

No timing is asserted (figures depend on the machine): the command must ship every line,
print each figure it promises, leave nothing behind and never print the throwaway key.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logflux_agent", "bench", *args],
        capture_output=True,
        text=True,
        timeout=170,
        stdin=subprocess.DEVNULL,
    )


def _bench_dirs() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("logflux-bench-*"))


def test_bench_json_ships_every_line_and_reports_each_figure() -> None:
    before = _bench_dirs()
    proc = _bench("--lines", "5000", "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["accepted"] == 5000
    assert result["complete"] is True
    for key in ("lines_per_second", "mib_per_second", "cpu_us_per_line", "peak_rss_mib"):
        assert result[key] > 0, key
    assert _bench_dirs() <= before  # the work directory is removed
    assert "lf_" not in proc.stdout + proc.stderr


def test_bench_prints_a_readable_table() -> None:
    proc = _bench("--lines", "2000")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for label in ("lines shipped      2,000 of 2,000", "lines/s", "CPU µs/line", "peak RSS MiB"):
        assert label in proc.stdout


def test_bench_refuses_a_nonsense_line_count() -> None:
    proc = _bench("--lines", "0")
    assert proc.returncode == 2
    assert "--lines must be at least 1" in proc.stderr
