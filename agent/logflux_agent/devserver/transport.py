"""Reading request bodies within a limit (slowly, when asked) and dropping connections.

A body over the limit is still read to its end (and thrown away as it arrives, so memory stays
bounded) so that the client reliably receives the 413 instead of a broken pipe. Dropping is a
clean close (FIN, "no answer") or a reset (RST: SO_LINGER 0) for the fault kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

from aiohttp import web

_RESET_READ_BYTES = 4096


class Dropped(Exception):
    """The connection is gone (closed by the client or by a fault); answer nothing."""


async def read_body(
    request: web.Request,
    limit: int,
    slow_read: int = 0,
) -> tuple[bytes | None, int]:
    """(body, size): the body is None when it was over ``limit`` (0 = no limit)."""
    content = request.content
    length = request.content_length
    try:
        if not slow_read and length is not None and (not limit or length <= limit):
            return (await content.readexactly(length) if length else b""), length
        buf = bytearray()
        total = 0
        over = False
        while True:
            chunk = await (content.read(slow_read) if slow_read else content.readany())
            if not chunk:
                break
            total += len(chunk)
            if not over:
                if limit and total > limit:
                    over = True
                    buf = bytearray()
                else:
                    buf += chunk
            if slow_read:
                await asyncio.sleep(len(chunk) / slow_read)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise Dropped from exc
    return (None if over else bytes(buf)), total


async def drop_connection(request: web.Request, *, reset: bool) -> None:
    """Close without answering; ``reset`` sends RST after reading a little of the body."""
    transport = request.transport
    if transport is None:
        raise Dropped
    if reset:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await request.content.read(_RESET_READ_BYTES)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    raise Dropped
