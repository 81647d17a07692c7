"""`logflux-agent bench`: runs the real pipeline against a counting ingestor and prints figures.

No timing is asserted (figures depend on the machine): the command must ship every line,
print each figure it promises, leave nothing behind and never print the throwaway key.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)


def _bench(*args: str, tmp: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)} if tmp is not None else None
    return subprocess.run(
        [sys.executable, "-m", "logflux_agent", "bench", *args],
        capture_output=True,
        text=True,
        timeout=170,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def test_bench_json_ships_every_line_and_reports_each_figure(tmp_path: Path) -> None:
    # Its own temporary directory: another bench running on the machine must not count.
    proc = _bench("--lines", "5000", "--json", tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["accepted"] == 5000
    assert result["complete"] is True
    for key in ("lines_per_second", "mib_per_second", "cpu_us_per_line", "peak_rss_mib"):
        assert result[key] > 0, key
    # The split adds up to the whole (rounding aside), and the agent process did some of it.
    split = result["cpu_us_per_line_agent_process"] + result["cpu_us_per_line_encode_workers"]
    assert abs(split - result["cpu_us_per_line"]) <= 0.02
    assert result["cpu_us_per_line_agent_process"] > 0
    assert not list(tmp_path.glob("logflux-bench-*"))  # the work directory is removed
    assert "lf_" not in proc.stdout + proc.stderr


def test_bench_without_record_ids_and_ledger_says_so_and_ships_every_line(
    tmp_path: Path,
) -> None:
    # The switches that measure the cost of provable delivery (docs/record-ids.md).
    proc = _bench("--lines", "3000", "--json", "--no-record-ids", "--no-ledger", tmp=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["accepted"] == 3000
    assert result["record_ids"] is False and result["ledger"] is False


def test_bench_prints_a_readable_table() -> None:
    proc = _bench("--lines", "2000")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    for label in ("lines shipped      2,000 of 2,000", "lines/s", "CPU µs/line", "peak RSS MiB"):
        assert label in proc.stdout


def test_bench_refuses_a_nonsense_line_count() -> None:
    proc = _bench("--lines", "0")
    assert proc.returncode == 2
    assert "--lines must be at least 1" in proc.stderr


def test_bench_with_a_dropping_filter_completes_and_counts_what_it_dropped(tmp_path: Path) -> None:
    # A filter that drops some lines: fewer entries than lines arrive, yet the run is complete
    # once every line was read and its position committed (it used to wait out --seconds).
    procs = tmp_path / "procs.yaml"
    procs.write_text("processors:\n  - exclude: {patterns: ['\"GET ']}\n", encoding="utf-8")
    work = tmp_path / "tmp"
    work.mkdir()
    proc = _bench(
        "--lines", "4000", "--json", "--seconds", "100", "--processors", str(procs), tmp=work
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["complete"] is True
    assert result["dropped_by_processors"] > 0
    assert result["accepted"] + result["dropped_by_processors"] == 4000
    assert result["cpu_us_per_line"] > 0
