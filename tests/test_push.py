"""Push over the network (docs/compatibility.md §5): GET /events/{agent} on a real hub, and the fan-out's bounded
buffers."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import pytest

import stores
from team_table import events as event_log
from team_table.config import EMPTY_TEAM
from team_table.event_kinds import K
from team_table.fanout import Fanout
from team_table.runtime import open_table
from team_table.settings import resolve

from network_helpers import events, events_request, join_all, kinds, mcp_client, message_ids, running_hub
from stdio_helpers import Seat

pytestmark = pytest.mark.anyio

NO_RATE_LIMIT = "limits:\n  rate:\n    writes: 100000\n    window_seconds: 60\n"


@pytest.mark.processes
async def test_a_message_is_pushed_to_the_recipients_streams_with_an_event_id(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        # The token as a Bearer header, and as ?token= for clients that cannot set headers.
        async with events(hub.url, "bob", bob.token) as by_header, \
                events(hub.url, "bob", bob.token, via="query") as by_query:
            sent = await alice.ok("send_message", recipient="bob", content="the build is green")
            pushed = [await by_header.next(within=5), await by_query.next(within=5)]
    for event, stream in zip(pushed, (by_header, by_query), strict=True):
        assert event.kind == "message"
        assert {"id", "sender", "recipient"} <= event.data.keys()
        assert (event.data["id"], event.data["sender"], event.data["recipient"]) == (sent["id"], "alice", "bob")
        assert event.id.isdigit() and int(event.id) > int(stream.connected.id)


@pytest.mark.processes
async def test_a_broadcast_reaches_every_other_stream_and_not_the_senders(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice, bob, carol = await join_all(stack, hub, "alice", "bob", "carol")
        streams = {agent.name: await stack.enter_async_context(events(hub.url, agent.name, agent.token))
                   for agent in (alice, bob, carol)}
        sent = await alice.ok("broadcast", content="standup in five")
        for name in ("bob", "carol"):
            pushed = await streams[name].next()
            assert (pushed.kind, pushed.data["id"], pushed.data["sender"]) == ("broadcast", sent["id"], "alice")
        # Events arrive in order: had the broadcast reached alice, it would come before this marker.
        marker = await bob.ok("send_message", recipient="alice", content="marker")
        first = await streams["alice"].next()
        assert (first.kind, first.data["id"]) == ("message", marker["id"])


@pytest.mark.processes
async def test_task_assignments_and_updates_are_pushed_to_those_concerned(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice, bob, carol = await join_all(stack, hub, "alice", "bob", "carol")
        streams = {agent.name: await stack.enter_async_context(events(hub.url, agent.name, agent.token))
                   for agent in (alice, bob, carol)}
        reserved = await alice.ok("create_task", title="review the schema", assignee="bob")
        open_task = await alice.ok("create_task", title="write the changelog")
        await bob.ok("claim_task", task_id=open_task["id"])
        await bob.ok("update_task", task_id=open_task["id"], status="done", result="written")
        await alice.ok("send_message", recipient="bob", content="marker")

        to_bob = await streams["bob"].take(4)  # the reserved task, and the hub's notice telling him of it
        assert kinds(to_bob) == ["task_assigned", "message", "task_assigned", "message"]  # not his own updates
        assert message_ids([to_bob[0], to_bob[2]]) == [reserved["id"], open_task["id"]]
        assert to_bob[0].data["assignee"] == "bob"
        assert (to_bob[1].data["sender"], to_bob[1].data["kind"]) == ("team-table", "task_assigned")
        to_carol = await streams["carol"].take(3)  # the reserved task is not announced to her
        assert kinds(to_carol) == ["task_assigned", "task_updated", "task_updated"]
        assert message_ids(to_carol) == [open_task["id"]] * 3
        to_alice = await streams["alice"].take(2)  # the creator hears of progress, not of her own creations
        assert kinds(to_alice) == ["task_updated", "task_updated"]
        assert [(e.data["id"], e.data["status"]) for e in to_alice] == [(open_task["id"], "in_progress"),
                                                                       (open_task["id"], "done")]


@pytest.mark.one_engine  # the fan-out among one process's streams; events reaching it from either engine: above
@pytest.mark.processes
async def test_several_streams_of_one_agent_all_receive_and_closing_one_leaves_the_others(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        exits = [AsyncExitStack() for _ in range(3)]
        async with exits[0], exits[1], exits[2]:
            older, middle, newer = [await e.enter_async_context(events(hub.url, "bob", bob.token)) for e in exits]
            sent = await alice.ok("send_message", recipient="bob", content="to all three")
            for stream in (older, middle, newer):
                assert (await stream.next()).data["id"] == sent["id"]
            await exits[0].aclose()  # the oldest goes: the two others still hear
            sent = await alice.ok("send_message", recipient="bob", content="to the two left")
            for stream in (middle, newer):
                assert (await stream.next()).data["id"] == sent["id"]
            await exits[2].aclose()  # then the newest: the one left still hears
            sent = await alice.ok("send_message", recipient="bob", content="to the one left")
            assert (await middle.next()).data["id"] == sent["id"]


@pytest.mark.processes
async def test_a_stream_reconnecting_with_last_event_id_gets_exactly_what_it_missed(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice, bob, _carol = await join_all(stack, hub, "alice", "bob", "carol")
        async with events(hub.url, "bob", bob.token) as stream:
            await alice.ok("send_message", recipient="bob", content="before the drop")
            seen = await stream.next()
        missed = [await alice.ok("send_message", recipient="bob", content="while away"),
                  await alice.ok("broadcast", content="to all, while bob is away"),
                  await alice.ok("create_task", title="for bob", assignee="bob")]
        await alice.ok("send_message", recipient="carol", content="not for bob")
        async with events(hub.url, "bob", bob.token, last_event_id=seen.id) as stream:
            assert stream.connected.data["resumed_after"] == int(seen.id)
            replayed = await stream.take(4)
            live = await alice.ok("send_message", recipient="bob", content="back online")
            after = await stream.next()
        assert kinds(replayed) == ["message", "broadcast", "task_assigned", "message"]  # the last: the hub's notice
        assert message_ids(replayed[:3]) == [m["id"] for m in missed]
        # Nothing twice: the first event after the replay is the new one, and ids only grow.
        assert (after.kind, after.data["id"]) == ("message", live["id"])
        ids = [int(e.id) for e in [seen, *replayed, after]]
        assert ids == sorted(set(ids))

        # The id may also come as ?last_event_id= (for clients that cannot set the header).
        missed = await alice.ok("send_message", recipient="bob", content="away again")
        async with events(hub.url, "bob", bob.token, last_event_id=after.id, resume_via="query") as stream:
            assert message_ids([await stream.next()]) == [missed["id"]]
            live = await alice.ok("send_message", recipient="bob", content="back again")
            assert message_ids([await stream.next()]) == [live["id"]]


@pytest.mark.processes
async def test_replay_by_last_event_id_works_across_a_hub_restart_on_the_same_database(tmp_path: Path):
    folder = tmp_path / "hub"
    async with running_hub(folder) as first:
        async with AsyncExitStack() as stack:
            alice, bob = await join_all(stack, first, "alice", "bob")
            async with events(first.url, "bob", bob.token) as stream:
                await alice.ok("send_message", recipient="bob", content="before the restart")
                seen = await stream.next()
            before_stop = await alice.ok("send_message", recipient="bob", content="sent while bob is away")
        await first.stop()
        async with running_hub(folder, None) as second:
            async with mcp_client(second.url, "http-2026") as client:
                again = Seat(client, second.log).as_agent("alice", alice.token)
                after_restart = await again.ok("send_message", recipient="bob", content="after the restart")
            async with events(second.url, "bob", bob.token, last_event_id=seen.id) as stream:
                replayed = await stream.take(2)
    assert message_ids(replayed) == [before_stop["id"], after_restart["id"]]
    assert int(replayed[0].id) > int(seen.id)


@pytest.mark.processes
async def test_a_bad_name_or_token_gets_403_and_no_stream(tmp_path: Path):
    async with running_hub(tmp_path) as hub, AsyncExitStack() as stack:
        alice, bob, carol = await join_all(stack, hub, "alice", "bob", "carol")
        await bob.ok("deregister")
        tries = {
            "a wrong token": events_request(hub.url, "alice", "not-a-token", via="query"),
            "no token": events_request(hub.url, "alice", "", via="query"),
            "another agent's token": events_request(hub.url, "alice", bob.token, via="query"),
            "an unknown name": events_request(hub.url, "nobody", alice.token, via="query"),
            "a deregistered agent": events_request(hub.url, "bob", bob.token, via="query"),
            "another agent's bearer": events_request(hub.url, "bob", alice.token),
        }
        async with httpx2.AsyncClient() as http:
            for what, (url, headers, params) in tries.items():
                with anyio.fail_after(5):  # a stream would never end: the bound says none was opened
                    refused = await http.get(url, headers=headers, params=params)
                assert refused.status_code == 403, what
                assert refused.headers["content-type"].startswith("application/json"), what
                assert refused.json()["code"] == "forbidden", what
            # An invalid bearer token gets the same 403 (docs/compatibility.md §5), not the 401 of the MCP routes.
            url, headers, params = events_request(hub.url, "alice", "not-a-token")
            assert (await http.get(url, headers=headers)).status_code == 403
        async with events(hub.url, "alice", alice.token) as stream:  # the refusals broke nothing
            sent = await carol.ok("send_message", recipient="alice", content="still there?")
            assert (await stream.next()).data["id"] == sent["id"]


@pytest.mark.one_engine  # the fan-out's buffers, in the process, whatever the engine
@pytest.mark.processes
async def test_a_reader_that_does_not_read_does_not_hold_up_other_streams(tmp_path: Path):
    count = 60
    async with running_hub(tmp_path, NO_RATE_LIMIT) as hub, AsyncExitStack() as stack:
        alice, bob, carol = await join_all(stack, hub, "alice", "bob", "carol")
        async with events(hub.url, "bob", bob.token) as idle, events(hub.url, "carol", carol.token) as busy:
            sent = [await alice.ok("broadcast", content=f"update {n}") for n in range(count)]
            # (Who is here may change meanwhile: the members' own arrivals reach the streams when they will.)
            quiet = ("heartbeat", "presence")
            assert message_ids(await busy.take(count, within=15, skip=quiet)) == [m["id"] for m in sent]
            # The idle reader lost nothing meanwhile: it reads everything once it gets round to it.
            assert message_ids(await idle.take(count, within=15, skip=quiet)) == [m["id"] for m in sent]


async def test_a_stream_that_falls_behind_is_closed_with_overflow_while_others_keep_receiving(tmp_path: Path):
    settings = resolve({"db": stores.table_db(tmp_path)}, {}, EMPTY_TEAM, None)
    with open_table(settings, EMPTY_TEAM) as hub:
        fanout = Fanout(hub.store, buffer=4)
        slow, fast, other = fanout.subscribe("bob"), fanout.subscribe("bob"), fanout.subscribe("carol")
        received: dict[str, list] = {"fast": [], "other": []}
        for n in range(10):
            with hub.store.write() as conn:
                event_log.emit(conn, hub.now(), K.BROADCAST, {"id": n, "sender": "alice"}, exclude="alice")
            await fanout.pump()
            for key, sub in (("fast", fast), ("other", other)):
                while not sub.queue.empty():
                    received[key].append(sub.queue.get_nowait())
        held = []
        while not slow.queue.empty():
            held.append(slow.queue.get_nowait())

        assert slow.closed is not None and slow.closed.startswith("overflow")
        assert [e.data["id"] for e in held[:-1]] == [0, 1, 2, 3] and held[-1] is None  # then the close notice
        for key in ("fast", "other"):
            assert [e.data["id"] for e in received[key]] == list(range(10)), key
        assert fast.closed is None and other.closed is None
        # The closed stream resumes from its last event id: the log still holds what it missed.
        rest = event_log.for_agent(hub.store, "bob", held[-2].id)
        assert [e.data["id"] for e in rest] == list(range(4, 10))
