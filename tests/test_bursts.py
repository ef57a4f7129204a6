"""Bursts of events meant for everyone (a presence sweep after hundreds of agents arrive or leave): they must not
close the streams that carry them, end waits that do not read them, or flood every reader."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import pytest

import stores
from team_table import events as event_log
from team_table.event_kinds import K
from team_table.store import open_store

from network_helpers import events, join_all, running_hub

pytestmark = [pytest.mark.anyio, pytest.mark.processes]

BURST = 1100  # a presence sweep of 1,100 members: past a stream's buffer (256) and a read batch (1000)


def sweep(db_folder: Path, count: int) -> None:
    """`count` presence changes for everyone, committed at once by another process (as a sweep writes them)."""
    store = open_store(stores.table_db(db_folder))
    try:
        with store.write() as tx:
            for n in range(count):
                event_log.emit(tx, "2026-12-01T00:00:00+00:00", K.PRESENCE,
                               {"agent": f"arrival-{n}", "status": "active", "was": "offline"})
    finally:
        store.close()


async def test_a_presence_burst_neither_closes_streams_nor_ends_waits_and_what_follows_arrives(tmp_path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice, bob, carol = await join_all(stack, hub, "alice", "bob", "carol")
        async with events(hub.url, "bob", bob.token) as stream, anyio.create_task_group() as tasks:
            waited: dict = {}

            async def wait() -> None:
                began = anyio.current_time()
                waited["answer"] = await alice.ok("wait_for_messages", timeout_seconds=30)
                waited["after"] = anyio.current_time() - began

            tasks.start_soon(wait)
            await anyio.sleep(1.0)  # the wait is listening
            await anyio.to_thread.run_sync(sweep, tmp_path, BURST)
            await anyio.sleep(1.5)  # the hub has read the burst and handed it out
            assert "answer" not in waited, f"a wait ended by events it does not read: {waited}"
            to_alice = await carol.ok("send_message", recipient="alice", content="only this ends your wait")
            to_bob = await carol.ok("send_message", recipient="bob", content="and this reaches your stream")
            presence = 0
            with anyio.fail_after(15):
                while (pushed := await stream.next(within=15)).kind != "message":
                    assert pushed.kind == "presence", pushed  # not `closed`: the stream is still open
                    presence += 1
            assert pushed.data["id"] == to_bob["id"]
        assert [m["id"] for m in waited["answer"]["messages"]] == [to_alice["id"]], waited
        assert waited["answer"]["timed_out"] is False
        assert presence < 100, f"{presence} presence events flooded one stream"
