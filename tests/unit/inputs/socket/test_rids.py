"""inputs/socket/rids.py: derived record ids are unique per input, run, connection, position."""

from __future__ import annotations

import re

from logflux_agent.inputs.socket.rids import RUN, ConnectionNumbers


def test_ids_name_input_run_connection_and_position_and_never_repeat() -> None:
    numbers = ConnectionNumbers("apps")
    first, second = numbers.sequence(), numbers.sequence()
    assert re.fullmatch(r"[0-9a-f]{8}", RUN)
    assert first.take(3) == [f"apps:{RUN}-0:0", f"apps:{RUN}-0:1", f"apps:{RUN}-0:2"]
    assert first.one() == f"apps:{RUN}-0:3"
    assert first.one("sdk-id") == "sdk-id"  # an SDK id is used as it is, the position advances
    assert first.one() == f"apps:{RUN}-0:5"
    assert second.take(1) == [f"apps:{RUN}-1:0"]
    assert first.take(0) == [] and first.next == 6
