"""syslog-ng as the comparison shipper: file source -> http() destination -> counting sink.

syslog-ng runs in the foreground with its own config, persist, pid and control files in the
run's temporary directory: no system service, no system config, nothing left behind. Flow
control is on (so nothing is dropped when the destination is slower than the file) with a
source window big enough for full 1000-line batches.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

INSTALL_HINT = (
    "syslog-ng with its HTTP module is not installed; for the comparison run:\n"
    "    apt-get update && apt-get install -y syslog-ng-core syslog-ng-mod-http"
)


def find_syslog_ng() -> str | None:
    """The syslog-ng binary when it and its http() module are installed, else None."""
    binary = shutil.which("syslog-ng") or (
        "/usr/sbin/syslog-ng" if Path("/usr/sbin/syslog-ng").exists() else None
    )
    if binary is None:
        return None
    try:
        out = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    modules = next((line for line in out.splitlines() if line.startswith("Available-Modules")), "")
    return binary if "http" in modules.split(":", 1)[-1].split(",") else None


def version(binary: str) -> str:
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=20, check=False
    ).stdout
    first = out.splitlines()[0] if out else "syslog-ng"
    return first.replace("syslog-ng 3 (", "syslog-ng ").rstrip(")")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path, *, log_file: Path, sink_url: str, batch_lines: int = 1000, workers: int = 1
) -> None:
    """The syslog-ng config: one file source, one http destination, flow control."""
    window = max(20_000, batch_lines * workers * 4)
    path.write_text(
        f"""@version: 3.38
# Written by benchmarks/syslogng.py for one benchmark run.
options {{
  stats-freq(0); threaded(yes); use-dns(no); dns-cache(no); use-fqdn(no);
  keep-hostname(yes); chain-hostnames(no); log-msg-size(65536);
}};
source s_bench {{
  file({_quote(str(log_file))} flags(no-parse) follow-freq(1)
       log-fetch-limit({batch_lines}) log-iw-size({window}));
}};
destination d_sink {{
  http(url({_quote(sink_url.rstrip("/") + "/ingest")}) method("POST")
       batch-lines({batch_lines}) batch-timeout(1000) workers({workers})
       body("${{MESSAGE}}") delimiter("\\n") body-suffix("\\n"));
}};
log {{ source(s_bench); destination(d_sink); flags(flow-control); }};
""",
        encoding="utf-8",
    )


def command(binary: str, workdir: Path, config: Path) -> list[str]:
    """Foreground syslog-ng with every state file inside ``workdir``."""
    return [
        binary,
        "-F",
        "-e",
        f"--cfgfile={config}",
        f"--persist-file={workdir / 'syslog-ng.persist'}",
        f"--pidfile={workdir / 'syslog-ng.pid'}",
        f"--control={workdir / 'syslog-ng.ctl'}",
    ]


def check_config(binary: str, config: Path) -> str | None:
    """None when syslog-ng accepts the config, else its complaint."""
    res = subprocess.run(
        [binary, "--syntax-only", f"--cfgfile={config}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return None if res.returncode == 0 else (res.stderr or res.stdout).strip()
