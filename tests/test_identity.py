"""An identity bound to the connection: name and token may be left out, and must match when given."""

from __future__ import annotations

import pytest

from team_table.server.identity import Binding

pytestmark = [pytest.mark.anyio, pytest.mark.both_eras]


async def test_a_bound_connection_calls_tools_without_name_or_token(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    bound = await table.connect(Binding(agent="alice", token=alice.token))
    sent = (await bound.raw("send_message", recipient="bob", content="from a bound client")).data
    assert sent["sender"] == "alice"
    assert [m["content"] for m in await bob.ok("get_messages")] == ["from a bound client"]


async def test_a_bound_connection_refuses_another_name(table):
    alice = await table.join("alice")
    await table.join("bob")
    bound = await table.connect(Binding(agent="alice", token=alice.token))
    reply = await bound.raw("send_message", sender="bob", recipient="alice", content="spoofed")
    assert reply.is_error and reply.code == "unauthorized"


async def test_a_binding_with_a_wrong_token_is_refused(table):
    await table.join("alice")
    bound = await table.connect(Binding(agent="alice", token="not-the-token"))
    reply = await bound.raw("heartbeat")
    assert reply.is_error and reply.code == "unauthorized"


async def test_the_instructions_tell_a_bound_agent_who_it_is(table):
    alice = await table.join("alice")
    bound = await table.connect(Binding(agent="alice", token=alice.token))
    assert "You are alice" in bound.client.instructions
    assert "register" in alice.client.instructions  # an unbound agent is told to register first
