"""The task board (docs/compatibility.md §4 Tasks, §6): create, list, claim, update."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio

TASK_KEYS = {"id", "title", "description", "status", "priority", "creator", "assignee", "result",
             "created_at", "updated_at"}


async def board(agent, **filters) -> dict[int, dict]:
    return {t["id"]: t for t in await agent.ok("list_tasks", **filters)}


async def test_create_task_makes_a_pending_task_with_every_key(table):
    alice = await table.join("alice")
    task = await alice.ok("create_task", title="write the parser", description="in Python", priority="high")
    assert task.keys() >= TASK_KEYS
    assert task["status"] == "pending"
    assert (task["title"], task["description"], task["priority"]) == ("write the parser", "in Python", "high")
    assert task["creator"] == "alice"
    assert task["assignee"] is None and task["result"] is None
    assert task["created_at"] and task["updated_at"]


async def test_priority_defaults_to_medium(table):
    alice = await table.join("alice")
    assert (await alice.ok("create_task", title="t"))["priority"] == "medium"


@pytest.mark.parametrize("args", [
    {"title": "t", "priority": "urgent"},
    {"title": "t", "priority": "HIGH"},
    {"title": ""},
    {"title": "   "},
    {"title": "x" * 201},
    {"title": "t", "description": "d" * 5_001},
    {"title": "t", "assignee": "bad name!"},
])
async def test_a_bad_task_is_refused_and_not_stored(table, args):
    alice = await table.join("alice")
    await alice.refused("create_task", "invalid", **args)
    assert await alice.ok("list_tasks") == []


async def test_a_title_of_two_hundred_characters_is_accepted(table):
    alice = await table.join("alice")
    assert len((await alice.ok("create_task", title="x" * 200))["title"]) == 200


async def test_list_tasks_is_oldest_first(table):
    alice = await table.join("alice")
    for title in ("first", "second", "third"):
        await alice.ok("create_task", title=title)
    assert [t["title"] for t in await alice.ok("list_tasks")] == ["first", "second", "third"]


async def test_list_tasks_filters_by_status_and_assignee(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    claimed = await alice.ok("create_task", title="claimed")
    reserved = await alice.ok("create_task", title="reserved", assignee="carol")
    open_task = await alice.ok("create_task", title="open")
    await bob.ok("claim_task", task_id=claimed["id"])
    assert list(await board(alice, status="in_progress")) == [claimed["id"]]
    assert list(await board(alice, status="pending")) == [reserved["id"], open_task["id"]]
    assert list(await board(alice, assignee="bob")) == [claimed["id"]]
    assert list(await board(alice, assignee="carol")) == [reserved["id"]]
    assert list(await board(alice, status="pending", assignee="carol")) == [reserved["id"]]
    assert await alice.ok("list_tasks", status="done") == []


async def test_an_invalid_status_filter_is_refused(table):
    alice = await table.join("alice")
    await alice.ok("create_task", title="t")
    await alice.refused("list_tasks", "invalid", status="finished")


async def test_claiming_a_pending_task_puts_it_in_progress_for_the_claimer(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    task = await alice.ok("create_task", title="t")
    claimed = await bob.ok("claim_task", task_id=task["id"])
    assert claimed.keys() >= TASK_KEYS
    assert (claimed["status"], claimed["assignee"]) == ("in_progress", "bob")
    assert (await board(alice))[task["id"]]["assignee"] == "bob"


async def test_second_claim_of_a_task_is_refused(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    carol = await table.join("carol")
    task = await alice.ok("create_task", title="t")
    await bob.ok("claim_task", task_id=task["id"])
    await carol.refused("claim_task", "conflict", task_id=task["id"])
    await bob.refused("claim_task", "conflict", task_id=task["id"])
    assert (await board(alice))[task["id"]]["assignee"] == "bob"


async def test_a_done_task_cannot_be_claimed(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    task = await alice.ok("create_task", title="t")
    await alice.ok("update_task", task_id=task["id"], status="done")
    await bob.refused("claim_task", "conflict", task_id=task["id"])


async def test_claiming_a_missing_task_is_refused(table):
    alice = await table.join("alice")
    await alice.refused("claim_task", "not_found", task_id=999)


async def test_a_task_reserved_for_someone_else_cannot_be_claimed(table):
    alice = await table.join("alice")
    await table.join("bob")
    carol = await table.join("carol")
    task = await alice.ok("create_task", title="t", assignee="bob")
    assert task["assignee"] == "bob" and task["status"] == "pending"
    await carol.refused("claim_task", "forbidden", task_id=task["id"])
    await alice.refused("claim_task", "forbidden", task_id=task["id"])
    assert (await board(alice))[task["id"]]["status"] == "pending"


async def test_a_reserved_task_can_be_claimed_by_its_assignee(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    task = await alice.ok("create_task", title="t", assignee="bob")
    claimed = await bob.ok("claim_task", task_id=task["id"])
    assert (claimed["status"], claimed["assignee"]) == ("in_progress", "bob")


@pytest.mark.parametrize("role", ["admin", "lead"])
async def test_a_reserved_task_can_be_claimed_by_an_admin_or_lead(table, role):
    alice = await table.join("alice")
    await table.join("bob")
    boss = await table.join("boss")
    table.grant("boss", role)
    task = await alice.ok("create_task", title="t", assignee="bob")
    claimed = await boss.ok("claim_task", task_id=task["id"])
    assert (claimed["status"], claimed["assignee"]) == ("in_progress", "boss")


@pytest.mark.parametrize("who", ["alice", "bob", "boss"])
async def test_the_creator_the_assignee_and_an_admin_may_update_a_task(table, who):
    agents = {"alice": await table.join("alice"), "bob": await table.join("bob"),
              "boss": await table.join("boss")}
    table.grant("boss", "admin")
    task = await agents["alice"].ok("create_task", title="t")
    await agents["bob"].ok("claim_task", task_id=task["id"])
    updated = await agents[who].ok("update_task", task_id=task["id"], status="blocked")
    assert updated.keys() >= TASK_KEYS
    assert updated["status"] == "blocked"
    assert (await board(agents["alice"]))[task["id"]]["status"] == "blocked"


async def test_a_stranger_may_not_update_a_task(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    carol = await table.join("carol")
    task = await alice.ok("create_task", title="t")
    await bob.ok("claim_task", task_id=task["id"])
    await carol.refused("update_task", "forbidden", task_id=task["id"], status="done", result="mine")
    after = (await board(alice))[task["id"]]
    assert (after["status"], after["result"]) == ("in_progress", None)


async def test_an_invalid_status_is_refused_and_the_task_is_unchanged(table):
    alice = await table.join("alice")
    task = await alice.ok("create_task", title="t")
    await alice.refused("update_task", "invalid", task_id=task["id"], status="finished", result="r")
    assert (await board(alice))[task["id"]] == task


async def test_updating_a_missing_task_is_refused(table):
    alice = await table.join("alice")
    await alice.refused("update_task", "not_found", task_id=999, status="done")


async def test_every_status_can_be_reached_by_legal_moves(table):
    alice = await table.join("alice")
    task = await alice.ok("create_task", title="t")
    for status in ("in_progress", "blocked", "in_progress", "awaiting_review"):
        assert (await alice.ok("update_task", task_id=task["id"], status=status))["status"] == status
    await alice.refused("update_task", "conflict", task_id=task["id"], status="done")  # review_task decides
    for status in ("in_progress", "done"):
        assert (await alice.ok("update_task", task_id=task["id"], status=status))["status"] == status
    other = await alice.ok("create_task", title="u")
    assert (await alice.ok("update_task", task_id=other["id"], status="cancelled"))["status"] == "cancelled"


async def test_a_done_task_goes_back_to_pending_only_when_reopened_with_a_reason(table):
    alice = await table.join("alice")
    task = await alice.ok("create_task", title="t")
    await alice.ok("update_task", task_id=task["id"], status="done")
    await alice.refused("update_task", "conflict", task_id=task["id"], status="blocked")
    await alice.refused("update_task", "invalid", task_id=task["id"], status="pending")
    assert (await board(alice))[task["id"]]["status"] == "done"  # the refusals changed nothing
    reopened = await alice.ok("update_task", task_id=task["id"], status="pending", reason="the fix regressed")
    assert reopened["status"] == "pending"


async def test_a_non_empty_result_is_stored_and_an_empty_one_keeps_it(table):
    alice = await table.join("alice")
    task = await alice.ok("create_task", title="t")
    blocked = await alice.ok("update_task", task_id=task["id"], status="blocked", result="waiting on v2")
    assert blocked["result"] == "waiting on v2"
    await alice.ok("update_task", task_id=task["id"], status="in_progress")
    assert (await board(alice))[task["id"]]["result"] == "waiting on v2"


async def test_an_over_long_result_is_refused(table):
    alice = await table.join("alice")
    task = await alice.ok("create_task", title="t")
    await alice.refused("update_task", "invalid", task_id=task["id"], status="done", result="r" * 5_001)
    assert (await board(alice))[task["id"]] == task
