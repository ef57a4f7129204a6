"""Receipts: every delivery walks queued → pushed (which way) → surfaced (how) → read → acted (how), recorded as it
happens and shown by message_status and get_thread; and the waker: one wake per delivery, by the best way the
agent has, a pointer and never a body, bounded per minute, nothing when nothing waits."""

from __future__ import annotations

import anyio
import pytest

from team_table import receipts
from team_table.delivery_policy import Way
from team_table.wake.waker import Route

pytestmark = pytest.mark.anyio

FAST = "delivery:\n  wakes_per_minute: 600\n"


class Way_:
    """A way to wake one agent that keeps what it was handed (and can be made to fail)."""

    def __init__(self, way: Way, fail: bool = False) -> None:
        self.way, self.fail, self.told, self.arrived = way, fail, [], anyio.Event()

    async def deliver(self, text: str) -> None:
        if self.fail:
            raise ConnectionRefusedError("the session's socket refuses")
        self.told.append(text)
        self.arrived.set()

    def route(self) -> Route:
        return Route(self.way, self.deliver)

    async def next(self, within: float = 5) -> str:
        with anyio.fail_after(within):
            await self.arrived.wait()
        self.arrived = anyio.Event()
        return self.told[-1]


async def quiet(way: Way_, seconds: float = 0.6) -> None:
    """Nothing more is handed to `way` for a while."""
    count = len(way.told)
    await anyio.sleep(seconds)
    assert len(way.told) == count, way.told[count:]


async def test_a_message_walks_every_receipt_state_and_its_sender_can_see_each(table_with):
    async with table_with(FAST) as table:
        alice, bob = await table.join("alice"), await table.join("bob")
        monitor = Way_(Way.MONITOR)
        table.waker.add("bob", monitor.route())
        sent = await alice.ok("send_message", recipient="bob", content="the schema is ready; can you look?")
        [queued] = await alice.ok("message_status", message_ids=[sent["id"]])
        assert queued["readers"][0]["state"] in ("queued", "pushed")

        assert await monitor.next() == (f"team-table: alice wrote to you (message {sent['id']}). "
                                        "Read it with get_messages.")
        [pushed] = await alice.ok("message_status", message_ids=[sent["id"]])
        assert (pushed["readers"][0]["state"], pushed["readers"][0]["pushed_via"]) == ("pushed", "monitor")

        await anyio.to_thread.run_sync(receipts.shown, table.hub, "bob", [sent["id"]], receipts.Shown.HOOK)
        [surfaced] = await alice.ok("message_status", message_ids=[sent["id"]])
        assert (surfaced["readers"][0]["state"], surfaced["readers"][0]["surfaced_via"]) == ("surfaced", "hook")

        await bob.ok("get_messages")
        [read] = await alice.ok("message_status", message_ids=[sent["id"]])
        assert read["readers"][0]["state"] == "read" and read["counts"]["read"] == 1

        await bob.ok("send_message", recipient="alice", content="looking now", reply_to=sent["id"])
        [acted] = await alice.ok("message_status", message_ids=[sent["id"]])
        reader = acted["readers"][0]
        assert (reader["state"], reader["acted_how"]) == ("acted", "reply")
        times = [reader[f"{state}_at"] for state in ("queued", "pushed", "surfaced", "read", "acted")]
        assert times == sorted(times) and None not in times

        thread = await alice.ok("get_thread", message_id=sent["id"])
        assert [m["receipts"] for m in thread] == [{"bob": "acted"}, {"alice": "queued"}]  # not read by her yet


async def test_message_status_shows_a_sender_every_reader_and_a_reader_only_itself(table_with):
    async with table_with(FAST) as table:
        alice, bob, carol = await table.join("alice"), await table.join("bob"), await table.join("carol")
        told = await alice.ok("broadcast", content="stand-up in five")
        await bob.ok("get_messages")
        [mine] = await alice.ok("message_status", message_ids=[told["id"]])
        assert {r["agent"]: r["state"] for r in mine["readers"]} == {"bob": "read", "carol": "queued"}
        assert mine["counts"] == {"queued": 1, "pushed": 0, "surfaced": 0, "read": 1, "acted": 0}
        [theirs] = await carol.ok("message_status", message_ids=[told["id"]])
        assert [r["agent"] for r in theirs["readers"]] == ["carol"]
        private = await alice.ok("send_message", recipient="bob", content="between us")
        await carol.refused("message_status", "not_found", message_ids=[private["id"]])
        await carol.refused("message_status", "invalid", message_ids=list(range(1, 102)))


async def test_a_claim_acts_on_the_notice_that_gave_the_task(table_with):
    async with table_with(FAST) as table:
        lead, coder = await table.join("lead"), await table.join("coder", role="coder")
        task = await lead.ok("create_task", title="parse", assignee="coder")
        [notice] = await coder.ok("get_messages")
        assert notice["kind"] == "task_assigned" and notice["sender"] == "team-table"
        await coder.ok("claim_task", task_id=task["id"])
        [status] = await coder.ok("message_status", message_ids=[notice["id"]])
        assert (status["readers"][0]["state"], status["readers"][0]["acted_how"]) == ("acted", "claim")


async def test_each_delivery_is_told_once_and_by_the_best_way_alone(table_with):
    async with table_with(FAST) as table:
        alice, _bob = await table.join("alice"), await table.join("bob")
        stream, monitor, socket = Way_(Way.STREAM), Way_(Way.MONITOR), Way_(Way.SOCKET)
        for way in (stream, monitor, socket):
            table.waker.add("bob", way.route())
        ids = [(await alice.ok("send_message", recipient="bob", content=f"part {n}"))["id"] for n in range(3)]
        with anyio.fail_after(5):
            while not all(f"message {i}" in " ".join(socket.told) for i in ids):
                await socket.next()
        await quiet(socket)
        told = " ".join(socket.told)
        assert all(told.count(f"(message {i})") == 1 for i in ids) and "part" not in told  # pointers, once each
        assert len(socket.told) <= len(ids)  # a burst shares wakes: never more wakes than deliveries
        assert monitor.told == [] and stream.told == []


async def test_a_way_that_refuses_is_recorded_and_the_next_way_tells_the_agent(table_with):
    async with table_with(FAST) as table:
        alice, _bob = await table.join("alice"), await table.join("bob")
        gone, hook = Way_(Way.SOCKET, fail=True), Way_(Way.HOOK)
        table.waker.add("bob", gone.route())
        table.waker.add("bob", hook.route())
        sent = await alice.ok("send_message", recipient="bob", content="hello")  # the sender hears of nothing
        assert "warning" not in sent
        assert f"message {sent['id']}" in await hook.next()
        with anyio.fail_after(5):  # the wake is recorded once it went out
            while len(wakes := table.hub.store.query("SELECT via, ok, detail FROM wake ORDER BY id")) < 2:
                await anyio.sleep(0.05)
        assert [(w["via"], bool(w["ok"])) for w in wakes] == [("socket", False), ("hook", True)]
        assert "refuses" in wakes[0]["detail"]


async def test_nothing_wakes_when_nothing_waits_and_a_wait_in_progress_takes_what_comes(table_with):
    async with table_with(FAST) as table:
        alice, bob = await table.join("alice"), await table.join("bob")
        monitor = Way_(Way.MONITOR)
        table.waker.add("bob", monitor.route())
        await quiet(monitor)  # connected with nothing waiting: nothing at all
        assert table.hub.store.query("SELECT COUNT(*) FROM wake")[0][0] == 0
        async with anyio.create_task_group() as tasks:
            waited = {}

            async def wait() -> None:
                waited.update(await bob.ok("wait_for_messages", timeout_seconds=10))

            tasks.start_soon(wait)
            await anyio.sleep(0.3)
            sent = await alice.ok("send_message", recipient="bob", content="while you wait")
        assert [m["id"] for m in waited["messages"]] == [sent["id"]]
        await quiet(monitor)
        [status] = await alice.ok("message_status", message_ids=[sent["id"]])
        assert (status["readers"][0]["pushed_via"], status["readers"][0]["surfaced_via"]) == ("wait", "wait")


async def test_wakes_are_bounded_per_minute_and_what_comes_meanwhile_is_told_together(table_with):
    async with table_with("delivery:\n  wakes_per_minute: 2\n") as table:
        alice, _bob = await table.join("alice"), await table.join("bob")
        monitor = Way_(Way.MONITOR)
        table.waker.add("bob", monitor.route())
        for n in range(2):
            sent = await alice.ok("send_message", recipient="bob", content=f"one of two ({n})")
            assert f"message {sent['id']}" in await monitor.next()
        held = [(await alice.ok("send_message", recipient="bob", content=f"held {n}"))["id"] for n in range(3)]
        await quiet(monitor, 1.5)  # past the bound: nothing this minute
        with table.hub.store.write() as conn:  # the minute passes: its wakes age past the window
            conn.execute("UPDATE wake SET at = '2000-01-01T00:00:00+00:00'")
        together = await monitor.next()
        assert all(f"message {i}" in together for i in held)


async def test_a_deliverys_own_sender_is_never_woken_by_it(table_with):
    async with table_with(FAST) as table:
        alice, _bob = await table.join("alice"), await table.join("bob")
        monitor = Way_(Way.MONITOR)
        table.waker.add("alice", monitor.route())
        await alice.ok("send_message", recipient="bob", content="from alice")
        await alice.ok("broadcast", content="to everyone else")
        await quiet(monitor)


async def test_an_unanswered_message_is_rewoken_then_its_sender_told_then_a_person_asked(table_with):
    from team_table import overdue

    from conftest import ManualClock

    clock = ManualClock()
    yaml = (FAST + "  overdue:\n    every_seconds: 120\nagents:\n  boss:\n    role: person\n"
            "    token_hashes: ['sha256:" + "0" * 64 + "']\n")
    async with table_with(yaml, clock=clock) as table:
        alice, _bob = await table.join("alice"), await table.join("bob")
        monitor, socket = Way_(Way.MONITOR), Way_(Way.SOCKET)
        table.waker.add("bob", socket.route())
        table.waker.add("bob", monitor.route())
        sent = await alice.ok("send_message", recipient="bob", content="which schema?", answer_within_seconds=600)
        assert f"message {sent['id']}" in await socket.next(within=15)  # the first wake: the best way
        sweep = lambda: overdue.sweep(table.hub)  # noqa: E731 - the hub's job, run by hand at a chosen time

        clock.advance(599)
        assert await anyio.to_thread.run_sync(sweep) == 0  # not due yet
        clock.advance(2)
        assert await anyio.to_thread.run_sync(sweep) == 1  # due: woken again, through the next way
        assert "alice is waiting for your answer to message" in await monitor.next(within=15)
        assert len(socket.told) == 1

        clock.advance(121)
        assert await anyio.to_thread.run_sync(sweep) == 1  # then the sender is told
        told = await alice.ok("get_messages")
        assert [(m["sender"], m["kind"]) for m in told] == [("team-table", "overdue")]
        assert "bob has not answered message" in told[0]["content"] and told[0]["thread_id"] == sent["id"]

        clock.advance(121)
        assert await anyio.to_thread.run_sync(sweep) == 1  # then a person is asked
        [escalation] = table.hub.store.query("SELECT rule, agent, sender, reason FROM escalation")
        assert (escalation["rule"], escalation["agent"], escalation["sender"]) == ("overdue", "bob", "alice")
        clock.advance(121)
        assert await anyio.to_thread.run_sync(sweep) == 0  # three steps, then no more
        steps = table.hub.store.query("SELECT details FROM audit WHERE action = 'overdue' ORDER BY id")
        assert [s for s in ("rewake", "tell_sender", "escalate") if any(s in d["details"] for d in steps)] == [
            "rewake", "tell_sender", "escalate"]
        [status] = await alice.ok("message_status", message_ids=[sent["id"]])
        assert status["readers"][0]["overdue_steps"] == 3


async def test_an_answer_in_time_stops_the_reminders(table_with):
    from team_table import overdue

    from conftest import ManualClock

    clock = ManualClock()
    async with table_with("delivery:\n  answer_within: {task_assigned: 300}\n", clock=clock) as table:
        lead, coder = await table.join("lead"), await table.join("coder", role="coder")
        task = await lead.ok("create_task", title="parse", assignee="coder")  # the notice is due in 300 s
        await coder.ok("claim_task", task_id=task["id"])  # acting on the task answers the notice
        clock.advance(301)
        assert await anyio.to_thread.run_sync(overdue.sweep, table.hub) == 0
        assert not await anyio.to_thread.run_sync(overdue.any_due, table.hub)


async def test_answer_within_out_of_bounds_is_refused_and_nothing_is_sent(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await alice.refused("send_message", "invalid", recipient="bob", content="x", answer_within_seconds=0)
    await alice.refused("send_message", "invalid", recipient="bob", content="x", answer_within_seconds=10**9)
    assert await bob.ok("get_messages") == []
