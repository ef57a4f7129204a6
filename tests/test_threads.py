"""Threads (reply_to, get_thread, the hub's one thread per task) and catch_up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import stores
from team_table import messages
from team_table.workflow.engine import open_engine

pytestmark = pytest.mark.anyio


async def test_a_reply_joins_the_thread_of_the_message_it_answers(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    first = await alice.ok("send_message", recipient="bob", content="can you look at the parser?")
    assert (first["thread_id"], first["reply_to"]) == (None, None)
    reply = await bob.ok("send_message", recipient="alice", content="yes, after lunch", reply_to=first["id"])
    assert (reply["thread_id"], reply["reply_to"]) == (first["id"], first["id"])
    again = await alice.ok("send_message", recipient="bob", content="thanks", reply_to=reply["id"])
    assert (again["thread_id"], again["reply_to"]) == (first["id"], reply["id"])  # the first message's id
    items = await bob.ok("get_messages")
    assert [(m["content"], m["thread_id"], m["reply_to"]) for m in items] == [  # once answered, the first carries it
        ("can you look at the parser?", first["id"], None), ("thanks", first["id"], reply["id"])]


async def test_get_thread_shows_what_the_caller_sent_or_received_oldest_first_and_marks_nothing_read(table):
    alice, bob, carol = await table.join("alice"), await table.join("bob"), await table.join("carol")
    first = await alice.ok("send_message", recipient="bob", content="one")
    second = await bob.ok("send_message", recipient="alice", content="two", reply_to=first["id"])
    aside = await alice.ok("send_message", recipient="carol", content="for carol only", reply_to=second["id"])
    thread = await bob.ok("get_thread", message_id=second["id"])
    assert [m["content"] for m in thread] == ["one", "two"]  # not carol's
    assert [m["content"] for m in await carol.ok("get_thread", message_id=aside["id"])] == ["for carol only"]
    assert [m["content"] for m in await bob.ok("get_messages")] == ["one"]  # get_thread marked nothing read
    await carol.refused("get_thread", "not_found", message_id=first["id"])  # not hers to see


async def test_a_reply_to_a_message_one_cannot_see_is_refused(table):
    alice, mallory = await table.join("alice"), await table.join("mallory")
    await table.join("bob")
    private = await alice.ok("send_message", recipient="bob", content="between us")
    await mallory.refused("send_message", "not_found", recipient="bob", content="me too", reply_to=private["id"])
    await mallory.refused("send_message", "not_found", recipient="bob", content="me too", reply_to=999)


async def test_the_hubs_workflow_messages_about_a_task_share_one_thread(table, tmp_path: Path):
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "tell.yaml").write_text(
        "name: tell\ntriggers:\n  - event: task_status\n    do:\n"
        "      - message: {to: creator, text: 'task {{ task.id }} is {{ task.status }}'}\n")
    engine = open_engine(table.hub, folder)
    lead, coder = await table.join("lead"), await table.join("coder", role="coder")
    task = await lead.ok("create_task", title="parse", assignee="coder")
    await coder.ok("claim_task", task_id=task["id"])
    engine.step()
    await coder.ok("update_task", task_id=task["id"], status="blocked")
    engine.step()
    told = await lead.ok("get_messages")  # the thread began with the hub telling coder of the task
    thread = (await coder.ok("get_messages"))[0]["thread_id"]
    assert len(told) == 2 and told[0]["thread_id"] == told[1]["thread_id"] == thread is not None
    assert [m["content"] for m in await lead.ok("get_thread", message_id=told[1]["id"])] == [
        f"[AUTO] task {task['id']} is in_progress", f"[AUTO] task {task['id']} is blocked"]


async def test_catch_up_gives_headers_not_bodies_and_what_changed_since_the_last_one(table_with):
    async with table_with("limits:\n  rate: {writes: 1000, window_seconds: 60}\n") as table:
        me, bob, carol, lead = (await table.join("me"), await table.join("bob", role="reviewer"),
                                await table.join("carol"), await table.join("lead"))
        long = "a long report " * 40
        first = await bob.ok("send_message", recipient="me", content=long)
        for n in range(11):
            await bob.ok("send_message", recipient="me", content=f"follow-up {n} {long}", reply_to=first["id"])
        for n in range(8):
            await carol.ok("send_message", recipient="me", content=f"carol {n}: a question about the schema")
        for n in range(10):
            task = await lead.ok("create_task", title=f"task number {n} with a fairly long title to cut",
                                 assignee="me")
        await me.ok("claim_task", task_id=task["id"])
        review = await lead.ok("create_task", title="review this", reviewer="me", assignee="carol")
        await carol.ok("claim_task", task_id=review["id"])
        await carol.ok("update_task", task_id=review["id"], status="awaiting_review")
        answer = await me.ok("catch_up")
        size = len(json.dumps(answer, separators=(",", ":")).encode())
        assert size < 1024, size
        assert answer["unread"] == 31 and answer["notices"] == 11  # the hub told of 10 tasks and 1 review
        assert len(answer["threads"]) == 4 and answer["more_threads"] == {"carol": 5}
        bobs = next(t for t in answer["threads"] if t.startswith(f"#{first['id']} "))
        assert bobs.startswith(f"#{first['id']} bob (12): follow-up 10") and len(bobs) < 100
        assert len(answer["tasks"]) == 10 and answer["review"] == [f"#{review['id']}: review this"]
        assert "bob" in answer["active"] and "me" not in answer["active"]
        assert len(await me.ok("get_messages")) == 31  # catch_up marked nothing read
        second = await me.ok("catch_up")
        assert second["unread"] == 0 and second["changed"] == []  # since the last catch_up
        assert second["since"] > answer["since"]


def test_the_thread_of_a_message_is_its_first_messages_id(tmp_path: Path):
    from team_table.config import EMPTY_TEAM
    from team_table.runtime import open_table
    from team_table.settings import resolve

    with open_table(resolve({"db": stores.table_db(tmp_path)}, {}, EMPTY_TEAM, None), EMPTY_TEAM) as hub:
        from team_table import members

        members.register(hub, "a", "agent", "[]", "")
        members.register(hub, "b", "agent", "[]", "")
        a, b = hub.caller("a", ("agent",)), hub.caller("b", ("agent",))
        root = messages.send(hub, a, "b", "root")
        reply = messages.send(hub, b, "a", "re", reply_to=root.id)
        deeper = messages.send(hub, a, "b", "re re", reply_to=reply.id)
        assert root.thread_id is None and reply.thread_id == deeper.thread_id == root.id
