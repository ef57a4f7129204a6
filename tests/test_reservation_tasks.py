"""Reservations tied to tasks (a claim reserves the paths a task declares; its end frees them) and leases that speak
(renewed while the holder is active; an idle holder told before and at the lapse), driven by a clock the test
moves."""

from __future__ import annotations

import pytest

from team_table import presence, reservation_leases

from conftest import ManualClock

pytestmark = pytest.mark.anyio

QUICK = ("presence:\n  idle_after_seconds: 60\n  offline_after_seconds: 120\n  claim_lease_seconds: 300\n"
         "reservations:\n  warn_before_seconds: 30\n")


async def mine(agent) -> list[str]:
    return [r["pattern"] for r in await agent.ok("list_reservations", agent=agent.name)]


async def test_two_agents_claiming_tasks_with_overlapping_paths_the_second_is_told_who_holds_what(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    api = await alice.ok("create_task", title="rework the api", paths=["src/api/**"])
    router = await alice.ok("create_task", title="fix the router", paths=["src/api/routes.py", "docs/api.md"])
    assert api["paths"] == ["src/api/**"]
    claimed = await alice.ok("claim_task", task_id=api["id"])
    assert claimed["status"] == "in_progress" and "unreserved" not in claimed
    [held] = await alice.ok("list_reservations")
    assert (held["agent"], held["pattern"], held["task_id"], held["exclusive"]) == ("alice", "src/api/**", api["id"],
                                                                                   True)
    refused = await bob.refused("claim_task", "conflict", task_id=router["id"])
    assert [(h["agent"], h["pattern"], h["task_id"]) for h in refused["holders"]] == [("alice", "src/api/**",
                                                                                      api["id"])]
    assert "alice" in refused["error"] and f"Task {router['id']}" in refused["error"]
    assert (await bob.ok("get_task", task_id=router["id"]))["status"] == "pending"  # nothing changed
    assert await mine(bob) == []
    await bob.ok("watch_paths", paths=["src/api/routes.py"])
    await alice.ok("update_task", task_id=api["id"], status="done", result="shipped")
    assert await mine(alice) == [] and await alice.ok("get_messages") == []  # she did it: no message to herself
    [told] = await bob.ok("get_messages")
    assert "src/api/routes.py" in told["content"] and "free" in told["content"]
    await bob.ok("claim_task", task_id=router["id"])
    assert sorted(await mine(bob)) == ["docs/api.md", "src/api/routes.py"]


async def test_with_claims_that_report_the_claim_goes_ahead_and_names_the_paths_it_could_not_reserve(table_with):
    async with table_with("reservations:\n  on_claim_conflict: report\n") as table:
        alice, bob = await table.join("alice"), await table.join("bob")
        await alice.ok("reserve_paths", paths=["src/**"], reason="big refactor")
        task = await bob.ok("create_task", title="t", paths=["src/a.py", "tests/test_a.py"])
        claimed = await bob.ok("claim_task", task_id=task["id"])
        assert claimed["status"] == "in_progress"
        assert [(u["wanted"], u["agent"], u["reason"]) for u in claimed["unreserved"]] == [
            ("src/a.py", "alice", "big refactor")]
        assert await mine(bob) == ["tests/test_a.py"]


@pytest.mark.parametrize("end", ["done", "cancelled", "pending"])
async def test_the_end_of_a_task_frees_its_paths_and_tells_the_holder_when_someone_else_ended_it(table, end):
    lead, alice = await table.join("lead"), await table.join("alice")
    table.grant("lead", "lead")
    task = await lead.ok("create_task", title="t", paths=["lib/**"])
    await alice.ok("claim_task", task_id=task["id"])
    await alice.ok("reserve_paths", paths=["notes/**"])  # not the task's: stays
    await lead.ok("update_task", task_id=task["id"], status=end, reason="reopened" if end == "pending" else "")
    assert await mine(alice) == ["notes/**"]
    [told] = [m for m in await alice.ok("get_messages") if m.get("kind") == "reservation_ended"]
    assert "lib/**" in told["content"] and f"task {task['id']}" in told["content"]


async def test_an_approved_review_and_a_cancellation_free_the_paths(table):
    alice, bob = await table.join("alice"), await table.join("bob", role="reviewer")
    first = await alice.ok("create_task", title="one", paths=["a/**"], reviewer="bob")
    second = await alice.ok("create_task", title="two", paths=["b/**"])
    await alice.ok("claim_task", task_id=first["id"])
    await alice.ok("claim_task", task_id=second["id"])
    await alice.ok("update_task", task_id=first["id"], status="awaiting_review")
    assert sorted(await mine(alice)) == ["a/**", "b/**"]  # under review, still hers
    await bob.ok("review_task", task_id=first["id"], approve=True)
    await alice.ok("cancel_task", task_id=second["id"])
    assert await mine(alice) == []


async def test_a_reassigned_task_hands_its_paths_to_the_new_assignee(table):
    lead, alice, bob = await table.join("lead"), await table.join("alice"), await table.join("bob")
    table.grant("lead", "lead")
    task = await lead.ok("create_task", title="t", paths=["svc/**"])
    await alice.ok("claim_task", task_id=task["id"])
    await lead.ok("reassign_task", task_id=task["id"], assignee="bob")
    assert await mine(alice) == [] and await mine(bob) == ["svc/**"]
    [told] = [m for m in await alice.ok("get_messages") if m.get("kind") == "reservation_ended"]
    assert "svc/**" in told["content"] and "bob" in told["content"]


async def test_next_task_passes_over_a_task_whose_paths_others_hold(table):
    alice, bob = await table.join("alice"), await table.join("bob")
    await alice.ok("reserve_paths", paths=["core/**"])
    blocked = await alice.ok("create_task", title="blocked", paths=["core/x.py"], priority="high")
    free = await alice.ok("create_task", title="free", paths=["web/**"], priority="low")
    taken = await bob.ok("next_task")
    assert taken["id"] == free["id"] and await mine(bob) == ["web/**"]
    assert (await bob.ok("next_task"))["task"] is None
    await alice.ok("release_paths")
    assert (await bob.ok("next_task"))["id"] == blocked["id"]


async def test_a_stale_claim_released_frees_its_paths_and_tells_the_holder(table_with):
    clock = ManualClock()
    async with table_with(QUICK, clock=clock) as table:
        boss, alice = await table.join("boss"), await table.join("alice")
        task = await boss.ok("create_task", title="t", paths=["api/**"])
        await alice.ok("claim_task", task_id=task["id"])
        clock.advance(30)
        await boss.ok("heartbeat")
        clock.advance(400)  # alice: quiet past offline_after + claim_lease (her reservation has most of its hour)
        presence.sweep(table.hub)
        assert (await boss.ok("get_task", task_id=task["id"]))["status"] == "pending"
        assert await boss.ok("list_reservations") == []
        told = [m["content"] for m in await alice.ok("get_messages")]
        assert any("api/**" in text and "back to the board" in text for text in told), told


async def test_an_idle_holder_is_told_before_its_reservation_lapses_and_when_it_does(table_with):
    clock = ManualClock()
    async with table_with(QUICK, clock=clock) as table:
        alice, bob = await table.join("alice"), await table.join("bob")
        await alice.ok("reserve_paths", paths=["src/**"], ttl_seconds=100)
        await bob.ok("watch_paths", paths=["src/x.py"])
        clock.advance(61)
        assert reservation_leases.sweep(table.hub) == {}  # alice idle; 39 s left: not yet warned (within 30 s)
        clock.advance(9)  # 30 s left
        assert reservation_leases.sweep(table.hub) == {"warned": 1}
        assert reservation_leases.sweep(table.hub) == {}  # warned once
        clock.advance(31)
        assert reservation_leases.sweep(table.hub) == {"lapsed": 1}
        warning, lapse = [(m["kind"], m["content"]) for m in await alice.ok("get_messages")]
        assert (warning[0], lapse[0]) == ("reservation_lapsing", "reservation_ended")
        warning, lapse = warning[1], lapse[1]
        assert "src/**" in warning and "lapses" in warning and "30 s" in warning
        assert "src/**" in lapse and "lapsed" in lapse
        [free] = await bob.ok("get_messages")
        assert "src/x.py" in free["content"] and free["kind"] == "path_free"
        assert await bob.ok("list_reservations") == []
        [entry] = table.hub.store.query("SELECT actor, details FROM audit WHERE action = 'reservation_lapsed'")
        assert entry["actor"] == "team-table" and "src/**" in entry["details"]


async def test_an_active_holders_reservation_is_renewed_and_never_lapses(table_with):
    clock = ManualClock()
    async with table_with(QUICK, clock=clock) as table:
        alice = await table.join("alice")
        [first] = (await alice.ok("reserve_paths", paths=["src/**"], ttl_seconds=100))["reserved"]
        for _ in range(25):  # 500 s: five times its ttl, alice at work all along, the hub looking every 20 s
            clock.advance(20)
            await alice.ok("heartbeat")
            reservation_leases.sweep(table.hub)
        [now] = await alice.ok("list_reservations")
        assert now["id"] == first["id"] and now["expires_at"] > first["expires_at"]
        assert await alice.ok("get_messages") == []  # never warned
