"""Connections bound to an agent: a compact tool list fitted to its roles (changed when they change), and Claude
Code channel notifications for what concerns the agent; unbound connections keep the full 0.2.1 surface and get
no pushes."""

from __future__ import annotations

import json

import anyio
import pytest

from team_table import members, tokens
from team_table.server.identity import Binding
from team_table.server.tools import IDENTITY

pytestmark = pytest.mark.anyio


def declared(name: str, role: str) -> tuple[str, str]:
    token = tokens.mint()
    return token, f"  {name}:\n    role: {role}\n    token_hashes: [\"{tokens.file_hash(token)}\"]\n"


async def listed(agent) -> dict:
    return {tool.name: tool for tool in (await agent.client.list_tools()).tools}


def size(tools: dict) -> int:
    return len(json.dumps([tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools.values()],
                          separators=(",", ":")).encode())


async def test_a_bound_coder_lists_what_its_role_permits_without_identity_and_in_under_10_kb(table_with):
    coder_token, coder = declared("alice", "coder")
    lead_token, lead = declared("boss", "lead")
    async with table_with(f"agents:\n{coder}{lead}") as table:
        unbound = await listed(await table.connect())
        alice = await listed(await table.connect(Binding("alice", coder_token)))
        boss = await listed(await table.connect(Binding("boss", lead_token)))
    assert "register" in unbound and "sender" in unbound["send_message"].input_schema["properties"]
    assert set(alice) < set(unbound) and "register" not in alice
    for hidden in ("purge_messages", "review_task", "list_escalations", "resolve_escalation"):
        assert hidden not in alice, hidden
    for kept in ("send_message", "get_messages", "wait_for_messages", "catch_up", "next_task", "update_task",
                 "cancel_task", "reassign_task", "get_thread", "share_context"):
        assert kept in alice, kept
    for tool in alice.values():
        properties = tool.input_schema["properties"]
        assert "token" not in properties and IDENTITY.get(tool.name, "agent_name") not in properties, tool.name
        assert all("title" not in spec for spec in properties.values())
    assert "agent_name" in alice["get_audit_log"].input_schema["properties"]  # a filter there, not the caller
    assert {"purge_messages", "review_task", "resolve_escalation"} <= set(boss)
    assert size(alice) <= 10.5 * 1024, size(alice)  # 8.2 KB before the four path reservation tools (9.8 KB), ask
    assert size(unbound) > size(alice)


async def test_a_hidden_tool_called_anyway_is_refused_by_the_permission_it_lacks(table_with):
    coder_token, coder = declared("alice", "coder")
    async with table_with(f"agents:\n{coder}") as table:
        alice = await table.connect(Binding("alice", coder_token))
        reply = await alice.raw("purge_messages", before_date="2020-01-01")
        assert reply.is_error and reply.code == "forbidden"


async def test_a_grant_tells_a_bound_connection_its_tool_list_changed(table):
    token = members.register(table.hub, "carol", "agent", "[]", "").token
    carol = await table.connect(Binding("carol", token))
    assert "review_task" not in await listed(carol)
    await carol.ok("heartbeat")  # the connection is set up and listening
    members.grant(table.hub, "carol", "lead")
    assert await carol.next_push() == "tools/list_changed"
    assert "review_task" in await listed(carol)


async def test_a_reload_that_changes_a_bound_agents_role_tells_it(table_with, tmp_path):
    from team_table.reload import Reloader

    token, agent = declared("rita", "coder")
    path = tmp_path / "team.yaml"
    path.write_text(f"agents:\n{agent}")
    async with table_with(path.read_text()) as table:
        rita = await table.connect(Binding("rita", token))
        await rita.ok("heartbeat")
        reloader = Reloader(table.hub, path)
        path.write_text(f"agents:\n{agent.replace('role: coder', 'role: reviewer')}")
        await anyio.to_thread.run_sync(reloader.reload)
        assert await rita.next_push() == "tools/list_changed"
        assert "review_task" in await listed(rita)


async def test_a_bound_connection_is_woken_by_one_channel_note_pointing_at_each_new_delivery(table_with):
    yaml = "delivery:\n  wakes_per_minute: 600\nescalation:\n  patterns:\n    decide: '(?i)should we'\n"
    async with table_with(yaml) as table:
        lead, bob = await table.join("lead"), await table.join("bob", role="reviewer")
        table.grant("lead", "lead")
        token = members.register(table.hub, "carol", "coder", "[]", "").token
        carol = await table.connect(Binding("carol", token))
        await carol.ok("heartbeat")
        plain = await table.connect()  # an unbound connection: never pushed to
        plain.name, plain.token = "carol", token

        sent = await bob.ok("send_message", recipient="carol", content="x" * 300)
        note = await carol.next_push()
        assert note.meta == {"kind": "wake"}
        assert note.content == f"team-table: bob wrote to you (message {sent['id']}). Read it with get_messages."

        told = await lead.ok("broadcast", content="stand-up in 5")
        assert f"lead wrote to everyone (message {told['id']})" in (await carol.next_push()).content

        task = await lead.ok("create_task", title="parse", assignee="carol", reviewer="bob")
        assert f"task {task['id']} assigned to you" in (await carol.next_push()).content

        await carol.ok("claim_task", task_id=task["id"])
        await carol.ok("update_task", task_id=task["id"], status="awaiting_review")
        await bob.ok("review_task", task_id=task["id"], approve=False, note="handle empty input")
        back = await carol.next_push()
        assert f"task {task['id']} came back from review" in back.content and "empty input" not in back.content

        asked = await lead.ok("create_task", title="look at mine", assignee="bob", reviewer="carol")
        await bob.ok("claim_task", task_id=asked["id"])
        await bob.ok("update_task", task_id=asked["id"], status="awaiting_review")
        assert f"task {asked['id']} needs your review" in (await carol.next_push()).content

        question = await carol.ok("send_message", recipient="bob", content="should we ship?")
        assert question["escalated"] == ["decide"]
        assert "the hub wrote to you" in (await carol.next_push()).content  # a person was asked
        [escalation] = await lead.ok("list_escalations")
        await lead.ok("resolve_escalation", escalation_id=escalation["id"], note="ship it")
        assert "the hub wrote to you" in (await carol.next_push()).content  # and decided

        assert plain.pushed == []
        [status] = await bob.ok("message_status", message_ids=[sent["id"]])
        readers = [(r["agent"], r["state"], r["pushed_via"]) for r in status["readers"]]
        assert readers == [("carol", "acted", "channel")]  # her question to bob answered him
        inbox = await carol.ok("get_messages")  # pushes marked nothing read
        assert sent["id"] in [m["id"] for m in inbox]
        with anyio.move_on_after(0.5):
            await carol.next_push()
            raise AssertionError("one wake per delivery: nothing more")


@pytest.mark.both_eras
async def test_the_handshake_of_a_bound_connection_declares_channels_and_a_changing_tool_list(table, era):
    token = members.register(table.hub, "carol", "agent", "[]", "").token
    bound = (await table.connect(Binding("carol", token))).client.server_capabilities
    unbound = (await table.connect()).client.server_capabilities
    assert bound.tools.list_changed is True and not unbound.experimental
    assert "claude/channel/permission" not in (bound.experimental or {})
    # The channel is offered only where Claude Code takes it: the 2025-11-25 handshake (never in the 2026 era).
    assert bound.experimental == ({"claude/channel": {}} if era == "legacy" else None)


async def test_a_binding_with_a_wrong_token_gets_no_pushes(table):
    members.register(table.hub, "carol", "agent", "[]", "")
    alice = await table.join("alice")
    impostor = await table.connect(Binding("carol", "not-her-token"))
    await impostor.raw("heartbeat")
    await alice.ok("send_message", recipient="carol", content="private")
    await anyio.sleep(0.3)
    assert impostor.pushed == []




async def test_register_on_a_bound_connection_is_refused_and_never_answers_with_its_token(table):
    token = members.register(table.hub, "carol", "agent", "[]", "").token
    bound = await table.connect(Binding("carol", token))
    for args in ({}, {"name": "carol"}, {"name": "someone-else"}):
        reply = await bound.raw("register", **args)
        assert reply.is_error and reply.data["code"] == "forbidden", reply.data
        assert token not in str(reply.data)
    assert (await bound.raw("heartbeat")).is_error is False  # the binding still works: nothing was revoked
