"""ingest/stamps.py: the timestamp texts, column-wise, are the per-entry strftime texts exactly."""

from __future__ import annotations

import datetime
import time

from hypothesis import given
from hypothesis import strategies as st

from logflux_agent.ingest.stamps import format_timestamp, second_texts, stamps_of

_SDK_SECONDS = st.integers(0, 2**37 + 10) | st.integers(1_796_000_000, 1_796_000_100)
_SDK_SECONDS |= st.integers(2**37, 2**42)  # past where a float second times 10**6 is exact
_ANY = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12)


def reference(ts: float) -> str:
    """RFC 3339 with microseconds by datetime (not the code under test)."""
    sec, us = divmod(round(ts * 1_000_000), 1_000_000)
    try:
        moment = datetime.datetime.fromtimestamp(sec, datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return f"1970-01-01T00:00:00.{us:06d}Z"
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{us:06d}Z"


def entry(ts: float) -> tuple[str, float, int, str, dict[str, str]]:
    return ("m", ts, 7, "src", {})


@given(st.lists(_SDK_SECONDS.map(float) | _ANY, min_size=1, max_size=60))  # floats, as entries hold
def test_every_distinct_timestamp_gets_the_text_of_format_timestamp(stamps: list[float]) -> None:
    texts = stamps_of([entry(ts) for ts in stamps])
    assert texts == {ts: format_timestamp(ts) for ts in stamps}
    for ts in stamps:
        if 0 <= ts < 253_402_300_800:  # years 1970-9999: what datetime can check
            assert texts[ts] == reference(ts)


@given(st.sets(st.integers(-(2**40), 2**40) | st.integers(1_796_000_000, 1_796_200_000)))
def test_second_texts_are_strftime_texts(seconds: set[int]) -> None:
    def strftime(sec: int) -> str:
        try:
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        except (OverflowError, OSError, ValueError):
            return "1970-01-01T00:00:00"

    assert second_texts(seconds) == {sec: strftime(sec) for sec in seconds}


def test_a_socket_batch_of_whole_seconds_across_midnight_and_new_year() -> None:
    new_year = 1_798_761_600  # 2027-01-01T00:00:00Z
    stamps = [float(new_year + d) for d in range(-70, 70)][::-1]
    texts = stamps_of([entry(ts) for ts in stamps])
    assert texts[new_year - 1.0] == "2026-12-31T23:59:59.000000Z"
    assert texts[new_year + 61.0] == "2027-01-01T00:01:01.000000Z"
    assert texts == {ts: reference(ts) for ts in stamps}
