"""The network hub sends what one turn of the event loop writes in one system call (uvicorn writes a response's head
and body apart), and never reorders, loses or resends bytes: through a real asyncio transport on a socket pair, and
through a real hub's HTTP answers."""

from __future__ import annotations

import asyncio
import socket

import pytest

from team_table.server.progress import Watched

pytestmark = [pytest.mark.anyio, pytest.mark.one_engine]  # the HTTP edge: no database involved


class Counted(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport


async def _watched_pair() -> tuple[Watched, socket.socket, list[bytes]]:
    """A Watched over a real socket transport; the bytes each send() of it carried, in order."""
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    transport, protocol = await loop.create_connection(Counted, sock=ours)
    sent: list[bytes] = []
    real_write = transport.write

    def write(data: bytes) -> None:
        sent.append(bytes(data))
        real_write(data)

    transport.write = write  # type: ignore[method-assign]  # counting the writes that reach the transport
    return Watched(transport, loop, "test"), theirs, sent


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


async def test_writes_of_one_turn_reach_the_transport_as_one_in_order():
    watched, theirs, sent = await _watched_pair()
    watched.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    watched.write(b"")
    watched.write(b"{}")
    assert sent == [] and watched.get_write_buffer_size() == 40  # held until the turn ends
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    watched.write(b"next")
    await asyncio.sleep(0.01)
    assert sent[1:] == [b"next"] and _read_all(theirs).endswith(b"{}next")
    watched.close()
    theirs.close()


async def test_close_sends_what_was_written_first_and_abort_drops_it():
    watched, theirs, sent = await _watched_pair()
    watched.write(b"last words")
    watched.close()
    assert sent == [b"last words"]
    await asyncio.sleep(0.01)
    assert _read_all(theirs) == b"last words"
    theirs.close()

    watched, theirs, sent = await _watched_pair()
    watched.write(b"never sent")
    watched.abort()
    await asyncio.sleep(0.01)
    assert sent == [] and _read_all(theirs) == b""
    theirs.close()


async def test_uvicorn_through_the_hubs_protocol_sends_each_answer_in_one_write(monkeypatch):
    """uvicorn serving with the hub's HTTP protocol (TimedH11Protocol): an answer's head and body, written apart,
    leave in one write, and the client reads them whole, on a kept-alive connection, call after call."""
    import httpx2
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from team_table.server.http import TimedH11Protocol

    from support import free_port

    held: list[int] = []
    real_send = Watched._send

    def counted(self: Watched) -> None:
        if self._held:
            held.append(len(self._held))
        real_send(self)

    monkeypatch.setattr(Watched, "_send", counted)

    async def answer(request):
        return JSONResponse({"n": int(request.query_params["n"]), "pad": "x" * 3000})

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/", answer)]), host="127.0.0.1", port=port,
                                           log_config=None, access_log=False, lifespan="off",
                                           http=TimedH11Protocol))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for n in range(5):
                response = await http.get("/", params={"n": n})
                assert response.json() == {"n": n, "pad": "x" * 3000}
        assert held == [2] * 5, held  # each answer: its head and its body, sent together
    finally:
        server.should_exit = True
        await task
