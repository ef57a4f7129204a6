"""Agents declared in team.yaml: tokens work from the first call, roles come from the file."""

from __future__ import annotations

import pytest

from team_table.tokens import file_hash

pytestmark = pytest.mark.anyio

LEAD_TOKEN = "lead-token-0123456789-abcdefghijklmnop"
CODER_TOKEN = "coder-token-0123456789-abcdefghijklmno"
TEAM = f"""
agents:
  boss:
    role: lead
    token_hashes: ["{file_hash(LEAD_TOKEN)}", "{file_hash('rotated-' + LEAD_TOKEN)}"]
  alice:
    role: coder
    capabilities: [python]
    token_hashes: ["{file_hash(CODER_TOKEN)}"]
  bob:
    role: reviewer
"""


async def test_a_declared_agents_token_works_from_the_first_call_without_register(table_with):
    async with table_with(TEAM) as table:
        boss = await table.connect()
        boss.name, boss.token = "boss", LEAD_TOKEN
        members = await boss.ok("list_members")
        assert {m["name"]: m["role"] for m in members} == {"boss": "lead", "alice": "coder"}
        await boss.ok("purge_messages", before_date="2000-01-01")  # the lead role is really held


async def test_either_of_two_declared_hashes_works_so_a_token_can_be_rotated(table_with):
    async with table_with(TEAM) as table:
        boss = await table.connect()
        boss.name, boss.token = "boss", "rotated-" + LEAD_TOKEN
        await boss.ok("heartbeat")


async def test_registering_a_declared_name_needs_its_token(table_with):
    async with table_with(TEAM) as table:
        intruder = await table.connect()
        reply = await intruder.raw("register", name="alice", role="coder")
        assert reply.is_error and reply.code == "unauthorized"
        reply = await intruder.raw("register", name="alice", token="wrong")
        assert reply.is_error and reply.code == "unauthorized"
        reply = await intruder.raw("register", name="alice", token=CODER_TOKEN)
        assert not reply.is_error
        assert reply.data["token"] == CODER_TOKEN


async def test_a_declared_role_is_granted_by_the_file_not_by_the_agent(table_with):
    async with table_with(TEAM) as table:
        alice = await table.connect()
        data = (await alice.raw("register", name="alice", role="tester", token=CODER_TOKEN)).data
        assert data["role"] == "coder"
        bob = await table.join("bob", role="agent")  # declared without a token: joins with register
        assert (await bob.ok("list_members"))[-1]["role"] == "reviewer"
        reply = await bob.call("purge_messages", before_date="2000-01-01")
        assert reply.code == "forbidden"


async def test_a_revoked_declared_token_stops_working(table_with):
    from team_table import revocations

    async with table_with(TEAM) as table:
        alice = await table.connect()
        alice.name, alice.token = "alice", CODER_TOKEN
        await alice.ok("heartbeat")
        assert revocations.revoke(table.hub, "alice") == 1
        await alice.refused("heartbeat", "unauthorized")


async def test_without_a_team_file_anyone_may_register_as_in_0_2_1(table):
    agent = await table.join("newcomer", role="coder")
    assert (await agent.ok("list_members"))[0]["role"] == "coder"
