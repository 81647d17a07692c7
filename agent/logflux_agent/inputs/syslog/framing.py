"""Syslog over a stream (TCP): RFC 6587 framing, byte stream → messages. Pure, no I/O.

Two framings exist and senders do not announce which they use:

- *octet counting* (RFC 6587 §3.4.1; RFC 5425 uses it too): ``MSG-LEN SP SYSLOG-MSG``;
- *non-transparent* framing (§3.4.2): each message ends with LF (a NUL trailer is accepted
  too; one CR before the LF is dropped).

``auto`` decides per message: a syslog message starts with ``<``, so a frame that starts with a
digit is octet-counted. A message longer than ``max_bytes`` is cut to ``max_bytes`` (counted in
``long``), the rest of it discarded up to its end, so memory per connection stays about
``max_bytes``. A count that is not a number is a framing error: the bytes up to the next LF
become a message of their own (shipped as text, counted in ``bad_frames``) and framing
resynchronises there.
"""

from __future__ import annotations

from typing import Literal

Framing = Literal["auto", "lf", "octet_counting"]
_MAX_LEN_DIGITS = 9


class StreamFramer:
    """Incremental RFC 6587 framer. ``feed`` returns the complete messages (bytes)."""

    __slots__ = ("_buf", "_discard", "_framing", "_max", "bad_frames", "long")

    def __init__(self, framing: Framing = "auto", max_bytes: int = 65_536) -> None:
        self._framing = framing
        self._max = max_bytes
        self._buf = bytearray()
        # Bytes still to skip of an over-long octet-counted message; -1: skip up to the next LF.
        self._discard = 0
        self.long = 0
        self.bad_frames = 0

    @property
    def pending(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        buf = self._buf
        at = 0
        n = len(buf)
        while at < n:
            if self._discard:
                at = self._skip(buf, at)
                continue
            first = buf[at]
            if self._framing != "lf" and 0x30 <= first <= 0x39:
                used = self._counted(buf, at, out)
                if used < 0:
                    break  # the rest of the frame has not arrived
                at = used
                continue
            if self._framing == "octet_counting" and first not in (0x0A, 0x0D, 0x20, 0x00):
                used = self._resync(buf, at, out)
            else:
                used = self._lf(buf, at, out)
            if used < 0:
                break
            at = used
        del buf[:at]
        return out

    def flush(self) -> list[bytes]:
        """The held partial message (the connection ended)."""
        rest = bytes(self._buf[: self._max]).rstrip(b"\r\n\0")
        self._buf.clear()
        self._discard = 0
        return [rest] if rest.strip() else []

    def _skip(self, buf: bytearray, at: int) -> int:
        if self._discard < 0:
            nl = buf.find(b"\n", at)
            if nl < 0:
                return len(buf)
            self._discard = 0
            return nl + 1
        take = min(self._discard, len(buf) - at)
        self._discard -= take
        return at + take

    def _counted(self, buf: bytearray, at: int, out: list[bytes]) -> int:
        space = buf.find(b" ", at, at + _MAX_LEN_DIGITS + 1)
        if space < 0:
            if len(buf) - at > _MAX_LEN_DIGITS:
                return self._resync(buf, at, out)
            return -1
        digits = bytes(buf[at:space])
        if not digits.isdigit():
            return self._resync(buf, at, out)
        length = int(digits)
        start = space + 1
        if length > self._max:
            if len(buf) - start < self._max:
                return -1
            out.append(bytes(buf[start : start + self._max]))
            self.long += 1
            self._discard = length - self._max
            return start + self._max
        if len(buf) - start < length:
            return -1
        out.append(bytes(buf[start : start + length]).rstrip(b"\r\n\0"))
        return start + length

    def _lf(self, buf: bytearray, at: int, out: list[bytes]) -> int:
        end = buf.find(b"\n", at)
        nul = buf.find(b"\0", at, end if end >= 0 else len(buf))
        if nul >= 0:
            end = nul
        if end < 0:
            if len(buf) - at > self._max:
                out.append(bytes(buf[at : at + self._max]))
                self.long += 1
                self._discard = -1
                return len(buf)
            return -1
        msg = bytes(buf[at:end]).rstrip(b"\r")
        if len(msg) > self._max:
            msg = msg[: self._max]
            self.long += 1
        if msg.strip():
            out.append(msg)
        return end + 1

    def _resync(self, buf: bytearray, at: int, out: list[bytes]) -> int:
        self.bad_frames += 1
        end = buf.find(b"\n", at)
        if end < 0:
            if len(buf) - at > self._max:
                out.append(bytes(buf[at : at + self._max]))
                self._discard = -1
                return len(buf)
            self.bad_frames -= 1  # decided once the line is complete
            return -1
        msg = bytes(buf[at:end]).rstrip(b"\r")[: self._max]
        if msg.strip():
            out.append(msg)
        return end + 1
