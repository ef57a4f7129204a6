"""Questions with answers through the real MCP client: an agent asks, a person answers, the answer arrives in the
question's thread and wakes the asker's wait; a deadline applies the default and says so; a permission request
is a question its relay waits on."""

from __future__ import annotations

import anyio
import pytest

from team_table import questions
from team_table.server.tools import inline

from conftest import ManualClock

pytestmark = pytest.mark.anyio


async def seated(table):
    alice, boss = await table.join("alice", role="coder"), await table.join("boss")
    table.grant("boss", "person")
    return alice, boss


async def test_a_question_answered_by_a_person_wakes_the_askers_wait_in_its_thread(table):
    alice, boss = await seated(table)
    asked = await alice.ok("ask", question="Drop the legacy table today?", kind="approve", timeout_seconds=600,
                           default="deny")
    assert asked["status"] == "open" and asked["asked"] == ["boss"] and asked["options"] == ["approve", "deny"]
    [told] = await boss.ok("get_messages")
    assert told["id"] == asked["message_id"] and "[QUESTION" in told["content"] and "approve / deny" in told["content"]
    woke = {}

    async def wait() -> None:
        woke.update(await alice.ok("wait_for_messages", timeout_seconds=45))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(wait)
        await anyio.wait_all_tasks_blocked()  # the wait is waiting
        answered = await boss.ok("answer_question", question_id=asked["id"], answer="approve")
    assert answered["status"] == "answered" and answered["answered_by"] == "boss"
    [answer] = woke["messages"]
    assert answer["sender"] == "boss" and answer["content"].endswith("boss: approve")
    assert answer["thread_id"] == asked["message_id"] and not woke["timed_out"]
    again = await boss.refused("answer_question", "conflict", question_id=asked["id"], answer="deny")
    assert "approve" in again["error"]


async def test_questions_are_checked_before_anything_is_asked(table):
    alice, boss = await seated(table)
    await alice.refused("ask", "invalid", question="Which?", kind="choice", options=["only one"])
    await alice.refused("ask", "invalid", question="Which?", kind="choice", options=["a", "b"], default="c",
                        timeout_seconds=60)
    await alice.refused("ask", "invalid", question="Ship?", kind="yes_no", default="no")  # a default needs a deadline
    await alice.refused("ask", "invalid", question="Ship?", kind="maybe")
    await alice.refused("ask", "forbidden", question="Use Bash?", kind="permission")  # the hub asks those
    await alice.refused("ask", "not_found", question="Ship?", to="alice")  # alice may not answer questions
    assert await boss.ok("get_messages") == []
    asked = await alice.ok("ask", question="Which database?", kind="choice", options=["sqlite", "postgres"],
                           to="boss")
    await alice.refused("answer_question", "forbidden", question_id=asked["id"], answer="sqlite")
    await boss.refused("answer_question", "invalid", question_id=asked["id"], answer="mysql")
    assert (await boss.ok("answer_question", question_id=asked["id"], answer="postgres"))["answer"] == "postgres"


async def test_a_deadline_applies_the_default_and_says_so_or_the_question_lapses(table_with):
    clock = ManualClock()
    async with table_with(clock=clock) as table:
        alice, boss = await seated(table)
        with_default = await alice.ok("ask", question="Deploy?", kind="yes_no", timeout_seconds=60, default="no")
        without = await alice.ok("ask", question="Name it?", kind="text", timeout_seconds=120)
        assert questions.expire_due(table.hub) == []
        clock.advance(61)
        assert questions.expire_due(table.hub) == [with_default["id"]]
        [said] = await alice.ok("get_messages")
        assert "default 'no' applies" in said["content"] and said["thread_id"] == with_default["message_id"]
        clock.advance(60)
        assert questions.expire_due(table.hub) == [without["id"]]
        [lapsed] = await alice.ok("get_messages")
        assert "[NO ANSWER" in lapsed["content"]
        closed = {q.id: q for q in questions.listing(table.hub, table.hub.operator(), "closed")}
        assert closed[with_default["id"]].status == "defaulted" and closed[with_default["id"]].answer == "no"
        assert closed[without["id"]].status == "lapsed" and closed[without["id"]].answer is None
        await boss.refused("answer_question", "conflict", question_id=with_default["id"], answer="yes")


async def test_a_permission_request_is_a_question_its_relay_waits_on(table):
    alice, boss = await seated(table)
    hub = table.hub
    asked = questions.ask_permission(hub, "alice", "Bash", "rm -rf build/", "rm -rf build/", timeout_seconds=300)
    assert asked.kind == "permission" and asked.options == ["allow", "deny"] and asked.default_answer == "deny"
    relayed = {}

    async def relay() -> None:
        relayed["q"] = await questions.wait_for_answer(hub, table.fanout, inline, asked.id, 45)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(relay)
        await anyio.wait_all_tasks_blocked()
        await boss.ok("answer_question", question_id=asked.id, answer="allow")
    assert relayed["q"].status == "answered" and relayed["q"].answer == "allow"
    [back] = await alice.ok("get_messages")  # the agent hears it in the thread too
    assert back["content"].endswith("boss: allow") and back["thread_id"] == asked.message_id
