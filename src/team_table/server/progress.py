"""Readers that stop reading are cut off: a connection with bytes owed to its client, none of which the client took
for READ_PROGRESS seconds, is closed.

A push stream writes a few bytes at a time: far less than the kernel's send buffer (autotuned up to megabytes),
so a client that stops reading is never seen by a write that blocks; it would hold its socket, and the buffers,
for minutes. So each write starts a watch: a second later, and each second while anything is still owed (in the
transport's buffer, or in the kernel's send queue unacknowledged), the connection must have made progress: the
client acknowledged more bytes (TCP_INFO), or took everything. A connection with nothing owed costs no timer.
Linux only (TCP_INFO, SIOCOUTQ); elsewhere only a write that blocks is timed (the stream's send timeout).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import sys
from typing import Any

log = logging.getLogger("team_table.hub")

READ_PROGRESS = 10.0  # seconds a client may owe us bytes without taking any
CHECK_EVERY = 1.0
_BYTES_ACKED = 120  # offset of tcpi_bytes_acked (a u64, Linux 4.2+) in struct tcp_info
_TCP_INFO_SIZE = 256
LINUX = sys.platform.startswith("linux")


def _owed(sock: Any) -> int:
    """Bytes in the kernel's send queue: not yet sent, or sent and not acknowledged."""
    import fcntl
    import termios

    buf = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


def _acked(sock: Any) -> int | None:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_SIZE)
    if len(info) < _BYTES_ACKED + 8:
        return None
    return struct.unpack_from("Q", info, _BYTES_ACKED)[0]


class Watched:
    """A transport whose writes start a progress watch (everything else goes to the transport itself)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop, client: str,
                 limit: float = READ_PROGRESS) -> None:
        self._transport, self._loop, self._client, self._limit = transport, loop, client, limit
        self._sock = transport.get_extra_info("socket")
        self._timer: asyncio.TimerHandle | None = None
        self._since = 0.0
        self._acked: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        self._transport.write(data)
        if self._timer is None and self._sock is not None and LINUX:
            self._since, self._acked = self._loop.time(), self._progress()
            self._timer = self._loop.call_later(CHECK_EVERY, self._check)

    def close(self) -> None:
        self._stop()
        self._transport.close()

    def abort(self) -> None:
        self._stop()
        self._transport.abort()

    def _stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _progress(self) -> int | None:
        try:
            return _acked(self._sock)
        except OSError:
            return None

    def _check(self) -> None:
        self._timer = None
        if self._transport.is_closing():
            return
        try:
            owed = self._transport.get_write_buffer_size() + _owed(self._sock)
        except OSError:
            return
        if owed == 0:
            return  # the client took everything: the next write watches again
        acked, now = self._progress(), self._loop.time()
        if acked is None or acked != self._acked:
            self._acked, self._since = acked, now
        elif now - self._since >= self._limit:
            log.info("cut off a reader at %s: %d bytes owed, none taken for %.0f s", self._client, owed, self._limit)
            self._transport.abort()
            return
        self._timer = self._loop.call_later(CHECK_EVERY, self._check)
