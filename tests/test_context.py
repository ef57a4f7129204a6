"""Shared context (docs/compatibility.md §4 Shared context, §6): a key-value board; 'owner/...' keys belong to owner."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.anyio


async def test_share_context_returns_the_entry(table):
    alice = await table.join("alice")
    entry = await alice.ok("share_context", key="schema", value="v1")
    assert {"key", "value", "set_by", "updated_at"} <= entry.keys()
    assert (entry["key"], entry["value"], entry["set_by"]) == ("schema", "v1", "alice")
    assert entry["updated_at"]


async def test_a_key_is_read_back_by_another_member(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    shared = await alice.ok("share_context", key="schema", value="v1")
    assert await bob.ok("get_shared_context", key="schema") == shared


async def test_without_a_key_every_entry_comes_back_sorted_by_key(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    for key in ("zeta", "alpha", "mid"):
        await alice.ok("share_context", key=key, value=key.upper())
    entries = await bob.ok("get_shared_context")
    assert isinstance(entries, list)
    assert [(e["key"], e["value"]) for e in entries] == [("alpha", "ALPHA"), ("mid", "MID"), ("zeta", "ZETA")]


async def test_an_empty_board_is_an_empty_array(table):
    alice = await table.join("alice")
    assert await alice.ok("get_shared_context") == []


async def test_any_member_may_overwrite_a_plain_key(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    await alice.ok("share_context", key="status", value="red")
    await bob.ok("share_context", key="status", value="green")
    entry = await alice.ok("get_shared_context", key="status")
    assert (entry["value"], entry["set_by"]) == ("green", "bob")
    assert len(await alice.ok("get_shared_context")) == 1


async def test_an_owners_key_is_refused_to_others_even_before_the_owner_registers(table):
    bob = await table.join("bob")
    await bob.refused("share_context", "forbidden", key="carol/notes", value="squatted")
    await bob.refused("get_shared_context", "not_found", key="carol/notes")


async def test_an_owners_key_is_writable_by_the_owner_once_registered(table):
    bob = await table.join("bob")
    carol = await table.join("carol")
    entry = await carol.ok("share_context", key="carol/notes", value="mine")
    assert entry["set_by"] == "carol"
    await bob.refused("share_context", "forbidden", key="carol/notes", value="overwritten")
    assert (await bob.ok("get_shared_context", key="carol/notes"))["value"] == "mine"


@pytest.mark.parametrize("role", ["admin", "lead"])
async def test_an_admin_or_lead_may_write_anyones_key(table, role):
    boss = await table.join("boss")
    table.grant("boss", role)
    entry = await boss.ok("share_context", key="carol/notes", value="set by the boss")
    assert entry["set_by"] == "boss"


async def test_a_member_may_write_under_its_own_name(table):
    bob = await table.join("bob")
    assert (await bob.ok("share_context", key="bob/plan", value="p"))["key"] == "bob/plan"


async def test_a_missing_key_is_not_found(table):
    alice = await table.join("alice")
    await alice.refused("get_shared_context", "not_found", key="nothing-here")


@pytest.mark.parametrize("key, value", [
    ("", "v"),
    ("   ", "v"),
    ("k" * 129, "v"),
    ("big", "v" * 50_001),
])
async def test_a_blank_or_over_long_key_or_value_is_refused_and_not_stored(table, key, value):
    alice = await table.join("alice")
    await alice.refused("share_context", "invalid", key=key, value=value)
    assert await alice.ok("get_shared_context") == []


async def test_the_largest_key_and_value_are_accepted(table):
    alice = await table.join("alice")
    await alice.ok("share_context", key="k" * 128, value="v" * 50_000)
    assert len((await alice.ok("get_shared_context", key="k" * 128))["value"]) == 50_000
