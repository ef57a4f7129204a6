"""wait_for_messages: at once when something is unread, woken by an arrival, timed out cleanly, cancelled without
taking anything, and exactly once when waits and get_messages of one agent race."""

from __future__ import annotations

import time

import anyio
import pytest

from team_table import waiting
from team_table.server.identity import Binding

pytestmark = pytest.mark.anyio


async def test_a_wait_returns_at_once_with_what_is_unread(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await alice.ok("send_message", recipient="bob", content="already here")
    start = time.monotonic()
    answer = await bob.ok("wait_for_messages", timeout_seconds=30)
    assert time.monotonic() - start < 1
    assert answer["timed_out"] is False
    assert [(m["content"], m["read"]) for m in answer["messages"]] == [("already here", True)]
    assert await bob.ok("get_messages") == []  # taken once


@pytest.mark.both_eras
async def test_a_wait_is_woken_by_a_message_from_another_session(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    answers = []

    async def wait() -> None:
        answers.append(await bob.ok("wait_for_messages", timeout_seconds=20))

    async with anyio.create_task_group() as group:
        group.start_soon(wait)
        await anyio.sleep(0.2)  # bob is waiting
        sent_at = time.monotonic()
        await alice.ok("send_message", recipient="bob", content="wake up")
        with anyio.fail_after(5):
            while not answers:
                await anyio.sleep(0.005)
        woken_after = time.monotonic() - sent_at
    assert answers[0]["timed_out"] is False and [m["content"] for m in answers[0]["messages"]] == ["wake up"]
    assert woken_after < 1


async def test_a_broadcast_and_a_workflow_message_wake_a_wait_too(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    async with anyio.create_task_group() as group:
        answers = []
        group.start_soon(lambda: _wait_into(bob, answers))
        await anyio.sleep(0.1)
        await alice.ok("broadcast", content="all hands")
        with anyio.fail_after(5):
            while not answers:
                await anyio.sleep(0.01)
    assert [m["content"] for m in answers[0]["messages"]] == ["all hands"]


async def _wait_into(agent, answers: list, seconds: float = 20) -> None:
    answers.append(await agent.ok("wait_for_messages", timeout_seconds=seconds))


async def test_a_wait_times_out_cleanly_as_a_normal_answer(table):
    bob = await table.join("bob")
    start = time.monotonic()
    reply = await bob.call("wait_for_messages", timeout_seconds=1)
    assert not reply.is_error and reply.data == {"messages": [], "timed_out": True}
    assert 0.9 < time.monotonic() - start < 3


def test_the_timeout_is_clamped_to_one_to_fifty_seconds():
    assert [waiting.clamp(s) for s in (-5, 0, 1, 30, 50, 3600)] == [1, 1, 1, 30, 50, 50]


async def test_a_cancelled_wait_takes_nothing(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    with anyio.move_on_after(0.5):  # the client gives up: the SDK sends notifications/cancelled
        await bob.call("wait_for_messages", timeout_seconds=20)
    await anyio.sleep(0.2)
    await alice.ok("send_message", recipient="bob", content="after the cancel")
    await anyio.sleep(0.2)  # a cancelled wait, had it lived on, would have taken this
    assert [m["content"] for m in await bob.ok("get_messages")] == ["after the cancel"]


async def test_waits_and_get_messages_of_one_agent_racing_get_each_message_exactly_once(table_with):
    async with table_with("limits:\n  rate: {writes: 1000, window_seconds: 60}\n") as table:
        alice, bob = await table.join("alice"), await table.join("bob")
        others = [await table.connect() for _ in range(2)]  # bob's other sessions
        for other in others:
            other.name, other.token = bob.name, bob.token
        got: list[int] = []
        sent: list[int] = []
        stop = anyio.Event()

        async def waiter(agent) -> None:
            while not stop.is_set():
                answer = await agent.ok("wait_for_messages", timeout_seconds=1)
                got.extend(m["id"] for m in answer["messages"])

        async def poller(agent) -> None:
            while not stop.is_set():
                got.extend(m["id"] for m in await agent.ok("get_messages"))
                await anyio.sleep(0.003)

        async with anyio.create_task_group() as group:
            group.start_soon(waiter, others[0])
            group.start_soon(waiter, others[1])
            group.start_soon(poller, bob)
            for n in range(60):
                sent.append((await alice.ok("send_message", recipient="bob", content=f"m{n}"))["id"])
                if n % 7 == 0:
                    await anyio.sleep(0.01)
            with anyio.fail_after(10):
                while len(got) < len(sent):
                    await anyio.sleep(0.01)
            stop.set()
        assert sorted(got) == sorted(sent)  # every one, and none twice


async def test_a_bound_connection_waits_without_name_or_token(table):
    alice = await table.join("alice")
    from team_table import members

    token = members.register(table.hub, "carol", "agent", "[]", "").token
    carol = await table.connect(Binding("carol", token))
    await alice.ok("send_message", recipient="carol", content="for the bound one")
    answer = await carol.ok("wait_for_messages", timeout_seconds=5)
    assert [m["content"] for m in answer["messages"]] == ["for the bound one"]


async def test_a_wait_with_a_bad_token_is_refused_like_any_call(table):
    bob = await table.join("bob")
    await bob.refused("wait_for_messages", "unauthorized", token="wrong")


async def test_a_wait_reports_progress_when_the_client_asked_for_it(table, monkeypatch):
    monkeypatch.setattr(waiting, "PROGRESS_EVERY", 0.2)
    bob = await table.join("bob")
    seen: list[float] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append(value)

    result = await bob.client.call_tool("wait_for_messages", {"agent_name": "bob", "token": bob.token,
                                                              "timeout_seconds": 1}, progress_callback=progress)
    assert not result.is_error
    assert len(seen) >= 3 and seen == sorted(seen)


async def test_the_waits_one_broadcast_wakes_take_it_once_each_in_one_transaction(table):
    lead = await table.join("lead")
    agents = [await table.join(f"agent-{i}") for i in range(12)]
    answers: list = []
    async with anyio.create_task_group() as group:
        for agent in agents:
            group.start_soon(_wait_into, agent, answers)
        with anyio.fail_after(10):
            while table.fanout.streams < len(agents):  # every wait listens
                await anyio.sleep(0.01)
        commits, wake = [], table.hub.store.on_commit
        table.hub.store.on_commit = lambda: (commits.append(1), wake())
        sent = await lead.ok("broadcast", content="all hands")
        with anyio.fail_after(10):
            while len(answers) < len(agents):
                await anyio.sleep(0.01)
        table.hub.store.on_commit = wake
    assert [[m["id"] for m in a["messages"]] for a in answers] == [[sent["id"]]] * len(agents)
    assert len(commits) == 2  # the broadcast, and one transaction (one sync) that took it for all twelve waits
    for agent in agents:
        assert await agent.ok("get_messages") == []
