"""The audit log (docs/compatibility.md §4 Audit): every change recorded; admins read all, members read their own."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

pytestmark = pytest.mark.anyio

ENTRY_KEYS = {"id", "timestamp", "agent_name", "action", "target_type", "target_id", "details"}


async def busy_table(table):
    """alice, bob and an admin, after a round of every kind of change; returns (alice, bob, boss)."""
    alice = await table.join("alice")
    bob = await table.join("bob")
    boss = await table.join("boss")
    table.grant("boss", "admin")
    direct = await alice.ok("send_message", recipient="bob", content="hi")
    shout = await alice.ok("broadcast", content="all")
    await bob.ok("archive_message", message_id=direct["id"])
    await bob.ok("delete_message", message_id=shout["id"])
    await boss.ok("clear_inbox")
    task = await alice.ok("create_task", title="t")
    await bob.ok("claim_task", task_id=task["id"])
    await bob.ok("update_task", task_id=task["id"], status="done", result="r")
    await alice.ok("share_context", key="k", value="v")
    await boss.ok("purge_messages", before_date="2000-01-01")
    return alice, bob, boss


def facts(entries) -> set[tuple]:
    return {(e["agent_name"], e["action"], e["target_type"], e["target_id"]) for e in entries}


async def test_every_change_is_recorded_with_actor_action_and_target(table):
    alice, _, boss = await busy_table(table)
    await alice.ok("deregister")
    log = await boss.ok("get_audit_log", limit=200)
    task_id = str((await boss.ok("list_tasks"))[0]["id"])
    assert {
        ("alice", "register", "member", "alice"),
        ("bob", "register", "member", "bob"),
        ("operator", "grant_role", "member", "boss"),
        ("bob", "claim_task", "task", task_id),
        ("bob", "update_task", "task", task_id),
        ("alice", "create_task", "task", task_id),
        ("alice", "share_context", "context", "k"),
        ("alice", "deregister", "member", "alice"),
    } <= facts(log)
    actions = {e["action"] for e in log}
    assert {"send_message", "broadcast", "archive_message", "delete_message", "clear_inbox",
            "purge_messages"} <= actions
    for entry in log:
        assert entry.keys() >= ENTRY_KEYS
        assert datetime.fromisoformat(entry["timestamp"]).utcoffset() == timedelta(0)


async def test_a_refused_change_is_not_recorded(table):
    alice = await table.join("alice")
    await alice.refused("send_message", "invalid", recipient="bob", content="")
    await alice.refused("claim_task", "not_found", task_id=42)
    assert {e["action"] for e in await alice.ok("get_audit_log")} == {"register"}


async def test_an_admin_reads_everyones_entries(table):
    *_, boss = await busy_table(table)
    actors = {e["agent_name"] for e in await boss.ok("get_audit_log", limit=200)}
    assert {"alice", "bob", "boss", "operator"} <= actors
    assert {e["agent_name"] for e in await boss.ok("get_audit_log", agent_name="alice")} == {"alice"}


async def test_a_lead_reads_everyones_entries(table):
    alice = await table.join("alice")
    lead = await table.join("lead")
    table.grant("lead", "lead")
    await alice.ok("create_task", title="t")
    log = await lead.ok("get_audit_log")
    assert ("alice", "create_task") in {(e["agent_name"], e["action"]) for e in log}


async def test_a_plain_member_reads_only_entries_about_itself(table):
    _, bob, _ = await busy_table(table)
    log = await bob.ok("get_audit_log", limit=200)
    assert log
    for entry in log:
        assert entry["agent_name"] == "bob" or (entry["target_type"], entry["target_id"]) == ("member", "bob")
    assert ("bob", "register", "member", "bob") in facts(log)
    assert not {"create_task", "share_context", "purge_messages", "broadcast"} & {e["action"] for e in log}
    assert await bob.ok("get_audit_log", agent_name="bob", limit=200) == [
        e for e in log if e["agent_name"] == "bob"]


async def test_a_plain_member_asking_for_another_agents_entries_is_refused(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    await alice.ok("create_task", title="t")
    await bob.refused("get_audit_log", "forbidden", agent_name="alice")


async def test_the_log_filters_by_action(table):
    *_, boss = await busy_table(table)
    log = await boss.ok("get_audit_log", action="claim_task")
    assert [(e["agent_name"], e["action"]) for e in log] == [("bob", "claim_task")]
    assert await boss.ok("get_audit_log", action="no_such_action") == []


async def test_the_log_filters_by_agent_and_action_together(table):
    *_, boss = await busy_table(table)
    log = await boss.ok("get_audit_log", agent_name="alice", action="register")
    assert facts(log) == {("alice", "register", "member", "alice")}


async def test_the_log_filters_by_since(table):
    *_, boss = await busy_table(table)
    full = await boss.ok("get_audit_log", limit=200)
    middle = full[len(full) // 2]["timestamp"]
    recent = await boss.ok("get_audit_log", since=middle, limit=200)
    assert recent == [e for e in full if e["timestamp"] >= middle]
    assert len(recent) < len(full)
    assert await boss.ok("get_audit_log", since="2999-01-01") == []
    assert await boss.ok("get_audit_log", since="2000-01-01", limit=200) == full


@pytest.mark.parametrize("since", ["yesterday", "2026-13-01", "01/02/2026"])
async def test_a_bad_since_is_refused(table, since):
    alice = await table.join("alice")
    await alice.refused("get_audit_log", "invalid", since=since)


@pytest.mark.parametrize("limit", [0, -1, 201, 1000])
async def test_a_limit_outside_one_to_two_hundred_is_refused(table, limit):
    alice = await table.join("alice")
    await alice.refused("get_audit_log", "invalid", limit=limit)


async def test_the_limit_keeps_the_newest_entries(table):
    *_, boss = await busy_table(table)
    full = await boss.ok("get_audit_log", limit=200)
    assert await boss.ok("get_audit_log", limit=3) == full[:3]
    assert await boss.ok("get_audit_log", limit=1) == full[:1]
    assert len(await boss.ok("get_audit_log", limit=200)) == len(full)


async def test_the_log_is_newest_first(table):
    alice, _, boss = await busy_table(table)
    await alice.ok("share_context", key="last", value="word")
    log = await boss.ok("get_audit_log", limit=200)
    ids = [e["id"] for e in log]
    assert ids == sorted(ids, reverse=True)
    assert [e["timestamp"] for e in log] == sorted((e["timestamp"] for e in log), reverse=True)
    assert (log[0]["action"], log[0]["target_id"]) == ("share_context", "last")
    assert log[-1]["action"] == "register"
