"""The stdio wire, read and written by the event loop itself.

The SDK's stdio transport reads stdin through a worker thread per line; for a hub answering one
agent it costs more CPU than the tool call. When stdin and stdout are pipes or sockets (as when an
MCP client spawns the hub), this module serves them with asyncio pipe transports instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

MAX_LINE = 64 * 1024 * 1024  # one JSON-RPC message per line; tool arguments are far smaller


# Whether to answer a `server/discover` "method not found", given its params (see server/app.py: declines_discover).
Screen = Callable[[Mapping[str, Any]], bool]


class _Lines:
    """`async for line in stdin`, as the SDK's stdio transport reads it.

    The first request decides a stdio connection's protocol era for the SDK, so a `server/discover` to decline is
    answered here, before the SDK sees it: the client's `initialize` that follows is then the first request, and
    the connection serves the 2025-11-25 handshake (the one that carries channel notes)."""

    def __init__(self, reader: asyncio.StreamReader, out: _Out, screen: Screen | None = None) -> None:
        self._reader = reader
        self._out, self._screen = out, screen

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        while True:
            line = await self._reader.readline()
            if not line:
                raise StopAsyncIteration
            text = line.decode("utf-8", errors="replace")
            if self._screen is None or not text.strip():
                return text
            declined = _declined(self._screen, text)
            if declined is None:
                self._screen = None  # the era is decided by this request: nothing more to screen
                return text
            await self._out.write(declined)
            await self._out.flush()


def _declined(screen: Screen, text: str) -> str | None:
    """The "method not found" answer to this line, when it is a `server/discover` the screen declines."""
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("method") != "server/discover" or "id" not in message:
        return None
    if not screen(message.get("params") or {}):
        return None
    return json.dumps({"jsonrpc": "2.0", "id": message["id"], "error": {
        "code": -32601, "message": "Method not found", "data": "server/discover"}}) + "\n"


class _Out:
    """`await stdout.write(text)` and `await stdout.flush()`, as the SDK's stdio transport writes."""

    def __init__(self, writer: asyncio.StreamWriter, on_first: Callable[[], None] | None = None) -> None:
        self._writer = writer
        self._on_first = on_first

    async def write(self, text: str) -> None:
        self._writer.write(text.encode("utf-8"))

    async def flush(self) -> None:
        await self._writer.drain()
        if self._on_first is not None:
            self._on_first, first = None, self._on_first
            first()


def _is_pipe(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def spawned_on_pipes() -> bool:
    """stdin and stdout are pipes or sockets: how an MCP client starts a stdio server."""
    return _is_pipe(0) and _is_pipe(1)


@asynccontextmanager
async def _pipes(on_first: Callable[[], None] | None, screen: Screen | None) -> AsyncIterator[tuple[_Lines, _Out]]:
    """Serve the wire from private copies of fd 0 and 1; meanwhile fd 0 reads nothing and fd 1 goes to stderr,
    so stray output from anything in the process cannot corrupt the wire."""
    loop = asyncio.get_running_loop()
    wire_in, wire_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(2, 1)
    os.close(null)
    reader = asyncio.StreamReader(limit=MAX_LINE)
    read_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(wire_in, "rb", buffering=0))
    write_transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(wire_out, "wb", buffering=0))
    writer = asyncio.StreamWriter(write_transport, protocol, None, loop)
    out = _Out(writer, on_first)
    try:
        yield _Lines(reader, out, screen), out
    finally:
        read_transport.close()
        write_transport.close()


async def serve(server: Server[Any], on_first_answer: Callable[[], None] | None = None,
                screen: Screen | None = None) -> None:
    """Run `server` on this process's stdin and stdout until the client closes stdin; `on_first_answer` is called
    once the first message has been written to the client; `screen` says which `server/discover` to decline."""
    if not spawned_on_pipes():  # a terminal or a file: the SDK's own transport handles those
        if on_first_answer is not None:
            on_first_answer()
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
        return
    async with _pipes(on_first_answer, screen) as (lines, out), \
            stdio_server(stdin=lines, stdout=out) as (read_stream, write_stream):  # pyright: ignore[reportArgumentType]
        # (the SDK annotates anyio.AsyncFile[str] but only iterates stdin and awaits stdout.write and .flush)
        await server.run(read_stream, write_stream, server.create_initialization_options())
