"""Path reservations through the tools: all or nothing, conflicts that name their holders, shared and exclusive,
release, the list, watching a path free, leads breaking one, bad input refused with nothing changed."""

from __future__ import annotations

import hashlib

import anyio
import pytest

from team_table.store.postgres_schema import TABLES

pytestmark = pytest.mark.anyio


def digest(hub) -> str:
    """Every row of every table, hashed: a refusal must leave it as it was."""
    found = hashlib.sha256()
    for table, _ in TABLES:
        for row in hub.store.query(f"SELECT * FROM {table} ORDER BY 1"):
            found.update(repr(tuple(row)).encode())
    return found.hexdigest()


async def test_an_exclusive_reservation_refuses_an_overlapping_one_of_another_agent_naming_the_holder(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    task = await alice.ok("create_task", title="refactor the api")
    held = await alice.ok("reserve_paths", paths=["src/api/**"], reason="refactor", task_id=task["id"])
    [mine] = held["reserved"]
    assert (mine["agent"], mine["pattern"], mine["exclusive"], mine["task_id"]) == ("alice", "src/api/**", True,
                                                                                   task["id"])
    refused = await bob.refused("reserve_paths", "conflict", paths=["src/api/routes.py"])
    [holder] = refused["holders"]
    assert holder == {"wanted": "src/api/routes.py", "agent": "alice", "pattern": "src/api/**", "exclusive": True,
                      "task_id": task["id"], "expires_at": mine["expires_at"], "reason": "refactor"}
    assert "alice" in refused["error"] and "src/api/**" in refused["error"] and f"task {task['id']}" in refused["error"]
    assert (await bob.ok("reserve_paths", paths=["docs/**"]))["reserved"][0]["pattern"] == "docs/**"


async def test_a_request_is_all_or_nothing(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await alice.ok("reserve_paths", paths=["src/**"])
    before = digest(table.hub)
    await bob.refused("reserve_paths", "conflict", paths=["docs/**", "README.md", "src/a.py"])
    assert digest(table.hub) == before
    assert [r["agent"] for r in await bob.ok("list_reservations")] == ["alice"]


async def test_shared_reservations_coexist_and_collide_only_with_exclusive_ones(table):
    alice, bob, carol = await table.join("alice"), await table.join("bob"), await table.join("carol")
    await alice.ok("reserve_paths", paths=["proto/**"], exclusive=False)
    await bob.ok("reserve_paths", paths=["proto/api.proto"], exclusive=False)
    refused = await carol.refused("reserve_paths", "conflict", paths=["proto/api.proto"])
    assert {h["agent"] for h in refused["holders"]} == {"alice", "bob"}
    await alice.ok("release_paths")
    await bob.ok("release_paths")
    await carol.ok("reserve_paths", paths=["proto/**"])
    await alice.refused("reserve_paths", "conflict", paths=["proto/x.proto"], exclusive=False)


async def test_an_agent_never_collides_with_itself_and_reserving_again_renews(table_with):
    from conftest import ManualClock

    clock = ManualClock()
    async with table_with(clock=clock) as table:
        alice = await table.join("alice")
        first = (await alice.ok("reserve_paths", paths=["src/**"], ttl_seconds=60))["reserved"][0]
        await alice.ok("reserve_paths", paths=["src/api/**"])
        clock.advance(30)
        again = (await alice.ok("reserve_paths", paths=["src/**"], ttl_seconds=60))["reserved"][0]
        assert again["id"] == first["id"] and again["expires_at"] > first["expires_at"]
        assert len(await alice.ok("list_reservations", agent="alice")) == 2


async def test_release_gives_back_the_patterns_named_or_all_of_the_callers_own(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await alice.ok("reserve_paths", paths=["a/**", "b/**", "c/**"])
    await bob.ok("reserve_paths", paths=["d/**"])
    assert await alice.ok("release_paths", paths=["a/**", "d/**"]) == {"released": ["a/**"], "not_held": ["d/**"]}
    assert sorted((await alice.ok("release_paths"))["released"]) == ["b/**", "c/**"]
    assert [r["pattern"] for r in await alice.ok("list_reservations")] == ["d/**"]


async def test_the_list_filters_by_agent_and_by_the_paths_a_pattern_overlaps(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await alice.ok("reserve_paths", paths=["src/api/**", "docs/api.md"])
    await bob.ok("reserve_paths", paths=["tests/**"])
    assert [r["pattern"] for r in await bob.ok("list_reservations", path="src/api/routes.py")] == ["src/api/**"]
    assert [r["pattern"] for r in await bob.ok("list_reservations", path="docs/*.md")] == ["docs/api.md"]
    assert len(await bob.ok("list_reservations", path="**/*.md")) == 3  # src/api/x.md, docs/api.md, tests/x.md
    assert await bob.ok("list_reservations", path="*.md") == []  # at the root
    assert [r["pattern"] for r in await bob.ok("list_reservations", agent="bob")] == ["tests/**"]
    assert await bob.ok("list_reservations", path="lib/**") == []


@pytest.mark.parametrize(("args", "why"), [
    ({"paths": ["/etc/passwd"]}, "absolute"), ({"paths": ["../outside"]}, ".."), ({"paths": ["src/../../x"]}, ".."),
    ({"paths": [""]}, "empty"), ({"paths": ["   "]}, "empty"), ({"paths": ["x" * 513]}, "long"),
    ({"paths": [f"f{n}" for n in range(51)]}, "50"), ({"paths": []}, "at least one"), ({"paths": "src/**"}, "list"),
    ({"paths": ["a\x00b"]}, "control"), ({"paths": ["src/**"], "ttl_seconds": 0}, "ttl"),
    ({"paths": ["src/**"], "ttl_seconds": 86_401}, "ttl_seconds"), ({"paths": ["src/**"], "ttl_seconds": 1.5}, "ttl"),
    ({"paths": ["a[b"]}, "closed"), ({"paths": ["src/**"], "reason": "r" * 501}, "reason"),
])
async def test_bad_input_is_refused_invalid_and_changes_nothing(table, args, why):
    alice = await table.join("alice")
    before = digest(table.hub)
    refused = await alice.refused("reserve_paths", "invalid", **args)
    assert why.lower() in refused["error"].lower()
    assert digest(table.hub) == before


async def test_the_ttl_bound_is_team_yamls_and_a_task_must_exist_and_be_open(table_with):
    async with table_with("reservations:\n  max_ttl_seconds: 7200\n") as table:
        alice = await table.join("alice")
        await alice.refused("reserve_paths", "invalid", paths=["x"], ttl_seconds=7201)
        await alice.ok("reserve_paths", paths=["x"], ttl_seconds=7200)
        await alice.refused("reserve_paths", "not_found", paths=["y"], task_id=99)
        task = await alice.ok("create_task", title="t")
        await alice.ok("update_task", task_id=task["id"], status="cancelled")
        await alice.refused("reserve_paths", "conflict", paths=["y"], task_id=task["id"])


async def test_a_refused_agent_watching_a_path_is_told_when_it_frees_and_a_wait_returns_it(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await alice.ok("reserve_paths", paths=["src/**", "lib/**"])
    watched = await bob.ok("watch_paths", paths=["src/api/**", "docs/**"])
    assert [w["pattern"] for w in watched["watching"]] == ["src/api/**"] and watched["free"] == ["docs/**"]
    assert watched["watching"][0]["held_by"][0]["agent"] == "alice"
    await alice.ok("release_paths", paths=["lib/**"])  # not what bob waits for
    assert await bob.ok("get_messages") == []
    async with anyio.create_task_group() as tasks:
        got = []

        async def wait() -> None:
            got.append(await bob.ok("wait_for_messages", timeout_seconds=10))

        tasks.start_soon(wait)
        await alice.ok("release_paths", paths=["src/**"])
    [note] = got[0]["messages"]
    assert note["sender"] == "team-table" and "src/api/**" in note["content"] and "free" in note["content"]
    await bob.ok("reserve_paths", paths=["src/api/**"])
    await alice.ok("reserve_paths", paths=["src/x/**"])
    await alice.ok("release_paths")
    assert await bob.ok("get_messages") == []  # a watch is told once


async def test_a_lead_breaks_a_reservation_audited_and_the_holder_told_others_may_not(table):
    alice, bob, boss = await table.join("alice"), await table.join("bob"), await table.join("boss")
    table.grant("boss", "lead")
    [held] = (await alice.ok("reserve_paths", paths=["src/**"]))["reserved"]
    await bob.refused("break_reservation", "forbidden", reservation_id=held["id"], reason="mine now")
    await boss.refused("break_reservation", "invalid", reservation_id=held["id"], reason=" ")
    broken = await boss.ok("break_reservation", reservation_id=held["id"], reason="alice is away, bob needs it")
    assert broken["pattern"] == "src/**"
    [told] = await alice.ok("get_messages")
    assert "boss" in told["content"] and "bob needs it" in told["content"]
    [entry] = await boss.ok("get_audit_log", action="break_reservation")
    assert entry["agent_name"] == "boss" and entry["target_id"] == str(held["id"])
    await boss.refused("break_reservation", "not_found", reservation_id=held["id"], reason="again")
    await bob.ok("reserve_paths", paths=["src/**"])


async def test_catch_up_mentions_the_callers_reservations_and_the_conflicts_in_its_way(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await alice.ok("reserve_paths", paths=["src/**"])
    task = await bob.ok("create_task", title="fix the router", paths=["src/api/routes.py"], assignee="bob")
    await bob.ok("reserve_paths", paths=["docs/**"])
    await bob.ok("watch_paths", paths=["src/lib/**"])
    summary = await bob.ok("catch_up")
    assert any("docs/**" in line for line in summary["reservations"])
    conflicts = " | ".join(summary["conflicts"])
    assert "src/lib/**" in conflicts and "alice" in conflicts
    assert f"#{task['id']}" in conflicts and "src/api/routes.py" in conflicts
    quiet = await (await table.join("carol")).ok("catch_up")
    assert "reservations" not in quiet and "conflicts" not in quiet


async def test_a_member_who_leaves_the_table_frees_what_it_held_and_its_watchers_are_told(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await bob.ok("reserve_paths", paths=["lib/**"])
    await alice.ok("reserve_paths", paths=["src/**"])
    await alice.ok("watch_paths", paths=["lib/x.py"])
    await bob.ok("watch_paths", paths=["src/a.py"])
    await alice.ok("deregister")
    assert [r["pattern"] for r in await bob.ok("list_reservations")] == ["lib/**"]
    assert table.hub.store.query("SELECT COUNT(*) FROM reservation_watch WHERE agent = 'alice'")[0][0] == 0
    [told] = await bob.ok("get_messages")
    assert "src/a.py" in told["content"] and "free" in told["content"]
