"""What one member's push streams may cost a hub: a reader that stops reading is cut off after 10 s without
progress (not when megabytes of kernel buffer have filled), and a member holds a bounded number of streams."""

from __future__ import annotations

import socket
import time
from contextlib import AsyncExitStack, closing
from typing import Any, cast

import anyio
import httpx2
import pytest

import stores
from store_notes import NOTE
from team_table import events as event_log
from team_table.fanout import MAX_STREAMS
from team_table.server.progress import LINUX, READ_PROGRESS
from team_table.store import open_store

from network_helpers import events, events_request, join_all, running_hub

pytestmark = [pytest.mark.anyio, pytest.mark.processes]


async def open_streams(hub) -> float:
    async with httpx2.AsyncClient() as http:
        text = (await http.get(hub.url + "/metrics")).text
    return next(float(line.split()[-1]) for line in text.splitlines() if line.startswith("team_table_event_streams "))


def notes_for(db_folder, agent: str, count: int) -> None:
    """`count` events for `agent` of about 200 bytes each, committed by another process."""
    store = open_store(stores.table_db(db_folder))
    try:
        with store.write() as tx:
            for n in range(count):
                event_log.emit(tx, "2026-12-01T00:00:00+00:00", NOTE, cast(Any, {"n": n, "pad": "x" * 150}), to=agent)
    finally:
        store.close()


@pytest.mark.one_engine  # the HTTP edge cuts off a reader; the engine only fills its events
@pytest.mark.skipif(not LINUX, reason="progress is read from TCP_INFO (Linux)")
async def test_a_reader_that_stops_reading_is_cut_off_after_ten_seconds_without_progress(tmp_path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        (bob,) = await join_all(stack, hub, "bob")
        # A client that asks for its stream and then never reads: a small receive window fills with the first
        # few kilobytes, and everything after that stays owed on the hub's side.
        url, headers, _ = events_request(hub.url, "bob", bob.token)
        stuck = stack.enter_context(closing(socket.socket()))
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck.connect(("127.0.0.1", hub.port))
        request = f"GET /events/bob HTTP/1.1\r\nHost: 127.0.0.1:{hub.port}\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        stuck.sendall(request.encode())
        with anyio.fail_after(10):
            while await open_streams(hub) < 1:
                await anyio.sleep(0.1)
        for _ in range(4):  # well under what would fill the hub's own buffers and block its writes
            await anyio.to_thread.run_sync(notes_for, tmp_path, "bob", 20)
            await anyio.sleep(0.2)
        written = time.monotonic()
        with anyio.fail_after(READ_PROGRESS + 8):
            while await open_streams(hub) > 0:
                await anyio.sleep(0.5)
        assert time.monotonic() - written > READ_PROGRESS - 2, "cut off before the reader had its 10 s"
        assert "cut off a reader" in hub.log_text()
        async with events(hub.url, "bob", bob.token) as stream:  # the member reconnects as usual
            assert stream.connected.kind == "connected"


@pytest.mark.one_engine  # a bound the HTTP edge keeps in the process, not in the database
async def test_a_member_holds_at_most_a_bounded_number_of_push_streams_per_hub(tmp_path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        bob, carol = await join_all(stack, hub, "bob", "carol")
        held = [await stack.enter_async_context(events(hub.url, "bob", bob.token)) for _ in range(MAX_STREAMS)]
        url, headers, params = events_request(hub.url, "bob", bob.token)
        async with httpx2.AsyncClient() as http:
            refused = await http.get(url, headers=headers, params=params)
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited", refused.text
        async with events(hub.url, "carol", carol.token) as other:  # another member is not held up by it
            assert other.connected.kind == "connected"
        await held[-1].response.aclose()
        with anyio.fail_after(10):  # a closed stream makes room for a new one
            while True:
                async with httpx2.AsyncClient(timeout=httpx2.Timeout(10, read=None)) as http, \
                        http.stream("GET", url, headers=headers, params=params) as again:
                    if again.status_code == 200:
                        break
                    assert again.status_code == 429
                await anyio.sleep(0.2)
