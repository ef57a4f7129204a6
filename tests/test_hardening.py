"""Cases found in review: several processes' activity, roles one cannot give oneself, edits made while no hub
ran, revocation reaching open streams, and tasks handed back."""

from __future__ import annotations

from pathlib import Path

import pytest

import stores
from team_table import claims, events, members, presence, revocations
from team_table.config import load_team
from team_table.fanout import Fanout
from team_table.reload import Reloader
from team_table.runtime import open_table
from team_table.settings import resolve

from conftest import ManualClock

pytestmark = pytest.mark.anyio


def hub_on(db: Path | str, team, clock=None):
    return open_table(resolve({"db": str(db)}, {}, team, None), team, clock=clock)


async def test_an_agent_working_through_another_process_stays_active_and_keeps_its_claim(tmp_path: Path):
    from team_table.config import EMPTY_TEAM

    clock = ManualClock()
    db = stores.table_db(tmp_path)
    with hub_on(db, EMPTY_TEAM, clock) as holder, hub_on(db, EMPTY_TEAM, clock) as other:
        token = members.register(other, "alice", "coder", "[]", "").token
        alice = members.authenticate(other, "alice", token)
        from team_table import tasks

        task = tasks.create(other, alice, "long job")
        claims.claim(other, alice, task.id)
        for _ in range(50):  # fifty minutes of calls through the process that does not hold the lease
            clock.advance(60)
            members.authenticate(other, "alice", token)
            presence.flush(other)  # each process writes down its own activity
            presence.sweep(holder)
        listed = {m.name: m for m in members.listing(holder)}
        assert listed["alice"].presence == "active"
        assert tasks.listing(holder)[0].status == "in_progress"


async def test_removing_an_agent_while_no_hub_runs_takes_effect_when_one_starts(tmp_path: Path):
    path = tmp_path / "team.yaml"
    path.write_text("agents:\n  bob:\n    role: reviewer\n")
    db = stores.table_db(tmp_path)
    with hub_on(db, load_team(path)) as hub:
        Reloader(hub, path).record_start()
        token = members.register(hub, "bob", "reviewer", "[]", "").token
    path.write_text("agents: {}\n")  # edited while the hub is down
    with hub_on(db, load_team(path)) as hub:
        Reloader(hub, path).record_start()
        Reloader(hub, path).record_start()  # a second process starting: recorded once
        from team_table import audit
        from team_table.errors import Unauthorized

        with pytest.raises(Unauthorized):
            members.authenticate(hub, "bob", token)
        assert len(audit.entries(hub, None, action="config_reloaded")) == 1


async def test_a_revoked_agents_open_streams_close_even_when_another_process_revokes(tmp_path: Path):
    from team_table.config import EMPTY_TEAM

    db = stores.table_db(tmp_path)
    with hub_on(db, EMPTY_TEAM) as network, hub_on(db, EMPTY_TEAM) as cli:
        members.register(network, "carol", "agent", "[]", "")
        fanout = Fanout(network.store)
        stream = fanout.subscribe("carol")
        revocations.revoke(cli, "carol")  # `team-table revoke carol`, from another process
        await fanout.pump()
        assert stream.closed and "revoked" in stream.closed
        assert [e.kind for e in events.for_agent(network.store, "carol", 0)][-1] == "revoked"


async def test_a_revoked_name_stays_out_until_a_person_lets_it_back_then_may_register_again(table):
    alice = await table.join("alice")
    revocations.revoke(table.hub, "alice")
    await alice.refused("heartbeat", "unauthorized")
    again = await table.connect()
    assert (await again.raw("register", name="alice")).code == "forbidden"  # revoke keeps it out (issue 19)
    revocations.readmit(table.hub, "alice")
    assert not (await again.raw("register", name="alice")).is_error


async def test_a_member_cannot_give_itself_a_role_that_permits_more_than_its_own_work(table_with):
    yaml = "roles:\n  ops:\n    inherits: [agent]\n    permissions: [read_audit]\n"
    async with table_with(yaml) as table:
        agent = await table.connect()
        for role in ("person", "ops", "lead"):
            reply = await agent.raw("register", name="mallory", role=role)
            assert reply.is_error and reply.code == "forbidden", role
        assert not (await agent.raw("register", name="rita", role="reviewer")).is_error


async def test_a_claimed_task_handed_back_to_pending_is_free_for_others_again(table):
    alice = await table.join("alice")
    bob = await table.join("bob")
    free = await alice.ok("create_task", title="free")
    mine = await alice.ok("create_task", title="reserved", assignee="alice")
    for task in (free, mine):
        await alice.ok("claim_task", task_id=task["id"])
        await alice.ok("update_task", task_id=task["id"], status="pending")
    assert (await bob.ok("claim_task", task_id=free["id"]))["assignee"] == "bob"
    await bob.refused("claim_task", "forbidden", task_id=mine["id"])  # still reserved for alice


async def test_with_tokens_off_an_active_name_may_register_again(table_with):
    async with table_with(env={"TEAM_TABLE_REQUIRE_TOKENS": "false"}) as table:
        await table.join("alice")
        again = await table.connect()
        assert not (await again.raw("register", name="alice")).is_error
