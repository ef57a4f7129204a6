"""Members and identity (docs/compatibility.md §3, §4, §6): register, re-register, roles, deregister, heartbeat,
tokens."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.anyio

URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


async def names_at_the_table(agent, include_inactive: bool = False) -> dict[str, dict]:
    return {m["name"]: m for m in await agent.ok("list_members", include_inactive=include_inactive)}


async def test_register_returns_the_member_and_a_long_url_safe_token(table):
    agent = await table.connect()
    data = await agent.ok("register", name="alice")
    assert {"name", "role", "capabilities", "status", "token"} <= data.keys()
    assert data["name"] == "alice"
    assert data["role"] == "agent"
    assert data["capabilities"] == []
    assert data["status"] == "active"
    assert URL_SAFE.fullmatch(data["token"]) and len(data["token"]) >= 43


async def test_every_registration_gets_a_different_token(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    assert alice.token != bob.token


async def test_capabilities_are_parsed_from_a_json_array(table):
    agent = await table.connect()
    data = await agent.ok("register", name="alice", role="coder", capabilities='["python", "review"]')
    assert data["role"] == "coder"
    assert data["capabilities"] == ["python", "review"]
    alice = await table.join("bob")
    assert (await names_at_the_table(alice))["alice"]["capabilities"] == ["python", "review"]


@pytest.mark.parametrize("name", ["", "-alice", "alice-", "al/ice", "a" * 65, "ålice", "bob!"])
async def test_a_bad_name_is_refused(table, name):
    agent = await table.connect()
    await agent.refused("register", "invalid", name=name)


@pytest.mark.parametrize("name", ["a", "alice smith", "A.b_c-9", "x" * 64])
async def test_a_valid_name_is_accepted_as_given(table, name):
    agent = await table.connect()
    assert (await agent.ok("register", name=name))["name"] == name


@pytest.mark.parametrize("capabilities", [
    "not json", '{"python": true}', "[1, 2]", '[""]', json.dumps(["x" * 65]), json.dumps(["c"] * 21),
])
async def test_bad_capabilities_are_refused(table, capabilities):
    agent = await table.connect()
    await agent.refused("register", "invalid", name="alice", capabilities=capabilities)
    bob = await table.join("bob")
    assert "alice" not in await names_at_the_table(bob, include_inactive=True)


async def test_twenty_capabilities_are_allowed(table):
    agent = await table.connect()
    data = await agent.ok("register", name="alice", capabilities=json.dumps([f"c{i}" for i in range(20)]))
    assert len(data["capabilities"]) == 20


async def test_an_unknown_role_is_refused(table):
    agent = await table.connect()
    await agent.refused("register", "invalid", name="alice", role="wizard")


async def test_re_registering_an_active_name_without_its_token_is_refused(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    stranger = await table.connect()
    await stranger.refused("register", "unauthorized", name="alice")
    await stranger.refused("register", "unauthorized", name="alice", token="not-the-token")
    await stranger.refused("register", "unauthorized", name="alice", token=bob.token)
    await alice.ok("heartbeat")


async def test_re_registering_with_the_token_issues_a_new_one_and_revokes_the_old(table):
    alice = await table.join("alice")
    old = alice.token
    data = await alice.ok("register", name="alice", token=old)
    assert data["token"] != old
    await alice.refused("heartbeat", "unauthorized", token=old)
    await alice.refused("register", "unauthorized", name="alice", token=old)
    await alice.ok("heartbeat", token=data["token"])


@pytest.mark.parametrize("role", ["admin", "lead"])
async def test_a_privileged_role_cannot_be_self_assigned(table, role):
    agent = await table.connect()
    await agent.refused("register", "forbidden", name="alice", role=role)
    bob = await table.join("bob")
    assert "alice" not in await names_at_the_table(bob, include_inactive=True)


@pytest.mark.parametrize("role", ["admin", "lead"])
async def test_a_name_in_team_table_admins_may_take_a_privileged_role(table_with, role):
    async with table_with(env={"TEAM_TABLE_ADMINS": "boss"}) as table:
        boss = await table.connect()
        assert (await boss.ok("register", name="boss", role=role))["role"] == role
        other = await table.connect()
        await other.refused("register", "forbidden", name="alice", role=role)


async def test_an_active_member_cannot_raise_its_own_role_by_re_registering(table):
    alice = await table.join("alice")
    await alice.refused("register", "forbidden", name="alice", role="admin", token=alice.token)
    await alice.ok("heartbeat")
    assert (await names_at_the_table(alice))["alice"]["role"] == "agent"


async def test_a_granted_privileged_role_survives_re_registering_with_a_lesser_role(table):
    alice = await table.join("alice")
    table.grant("alice", "lead")
    data = await alice.ok("register", name="alice", role="coder", token=alice.token)
    assert data["role"] == "lead"
    alice.token = data["token"]
    assert (await names_at_the_table(alice))["alice"]["role"] == "lead"


async def test_deregister_revokes_the_token_and_hides_the_member(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    assert await alice.ok("deregister") == {"status": "deregistered", "name": "alice"}
    await alice.refused("heartbeat", "unauthorized")
    await alice.refused("list_members", "unauthorized")
    assert "alice" not in await names_at_the_table(bob)
    everyone = await names_at_the_table(bob, include_inactive=True)
    assert everyone["alice"]["status"] == "inactive"


async def test_a_deregistered_name_can_register_again(table):
    alice = await table.join("alice")
    await alice.ok("deregister")
    again = await table.connect()
    data = await again.ok("register", name="alice", role="tester")
    assert data["status"] == "active" and data["role"] == "tester"
    await alice.refused("heartbeat", "unauthorized")
    again.name, again.token = "alice", data["token"]
    await again.ok("heartbeat")
    assert (await names_at_the_table(again))["alice"]["status"] == "active"


async def test_heartbeat_answers_ok_and_moves_last_heartbeat(table):
    alice = await table.join("alice")
    before = (await names_at_the_table(alice))["alice"]["last_heartbeat"]
    assert await alice.ok("heartbeat") == {"status": "ok", "name": "alice"}
    after = (await names_at_the_table(alice))["alice"]["last_heartbeat"]
    assert after >= before


async def test_list_members_shows_each_member_with_its_fields(table):
    alice = await table.join("alice", role="coder")
    await table.join("bob", role="reviewer")
    members = await alice.ok("list_members")
    assert isinstance(members, list)
    by_name = {m["name"]: m for m in members}
    assert set(by_name) == {"alice", "bob"}
    for member in members:
        assert {"name", "role", "capabilities", "status", "registered_at", "last_heartbeat"} <= member.keys()
        assert "token" not in member
    assert by_name["bob"]["role"] == "reviewer"


async def test_every_authentication_failure_gives_the_same_refusal(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    carol = await table.join("carol")
    await carol.ok("deregister")
    attempts = [
        {"name": "alice", "token": "wrong"},
        {"name": "alice", "token": ""},
        {"name": "alice", "token": bob.token},
        {"name": "nobody", "token": alice.token},
        {"name": "carol", "token": carol.token},
        {"name": "bad name!", "token": alice.token},
    ]
    texts = set()
    for args in attempts:
        refusal = await alice.refused("heartbeat", "unauthorized", **args)
        texts.add(refusal["error"])
    assert len(texts) == 1


async def test_without_required_tokens_token_checks_are_skipped(table_with):
    async with table_with(env={"TEAM_TABLE_REQUIRE_TOKENS": "false"}) as table:
        alice = await table.join("alice")
        await table.join("bob")
        assert (await alice.ok("heartbeat", token=""))["name"] == "alice"
        await alice.ok("heartbeat", token="anything")
        sent = await alice.ok("send_message", token="", recipient="bob", content="hi")
        assert sent["sender"] == "alice"


async def test_without_required_tokens_unknown_names_are_still_refused(table_with):
    async with table_with(env={"TEAM_TABLE_REQUIRE_TOKENS": "false"}) as table:
        alice = await table.join("alice")
        await alice.refused("heartbeat", "unauthorized", name="nobody", token="")
        await alice.refused("send_message", "unauthorized", sender="nobody", recipient="alice", content="hi")
        await alice.ok("deregister")
        await alice.refused("heartbeat", "unauthorized", token="")
