"""The jobs, driven by a clock the test moves: auto-reply and its caps, escalation, presence, stale claims, leases."""

from __future__ import annotations

import anyio
import pytest

import stores
from team_table import autoreply, escalations, events, jobs, presence
from team_table.tokens import file_hash

from conftest import ManualClock

pytestmark = pytest.mark.anyio

TOKENS = {name: f"{name}-token-0123456789abcdefghijklmnopqrstu" for name in ("alice", "bob", "carol", "boss")}


def team(alice_policy: str = "{interval_seconds: 30, max_replies: 3}", extra: str = "") -> str:
    def agent(name: str, role: str, more: str = "") -> str:
        return f'  {name}:\n    role: {role}\n    token_hashes: ["{file_hash(TOKENS[name])}"]\n{more}'

    return ("agents:\n" + agent("alice", "coder", f"    auto_reply: {alice_policy}\n")
            + agent("bob", "coder", "    auto_reply: {interval_seconds: 30, max_replies: 3}\n")
            + agent("carol", "tester") + agent("boss", "person") + extra)


@pytest.fixture
async def office(table_with):
    clock = ManualClock()
    async with table_with(team(extra="escalation:\n  patterns:\n    decision: '(?i)should we'\n"),
                          clock=clock) as table:
        seats = {}
        for name, token in TOKENS.items():
            seat = await table.connect()
            seat.name, seat.token = name, token
            seats[name] = seat
        clock.advance(3600)  # everyone has been quiet for an hour: away
        yield table, clock, seats


def poll(table, agent: str = "alice"):
    return autoreply.run(table.hub, agent, table.hub.team.agents[agent].auto_reply)


async def test_an_away_agents_new_messages_are_acknowledged_once_and_stay_unread(office):
    table, clock, s = office
    await s["bob"].ok("send_message", recipient="alice", content="the parser is ready for you")
    await s["bob"].ok("send_message", recipient="alice", content="and the lexer too")
    clock.advance(3600)
    outcome = poll(table)
    assert outcome.replied == {"bob": 2}  # one reply for the burst, not one per message
    assert poll(table).replied == {}  # never twice to the same message
    replies = await s["bob"].ok("get_messages")
    assert len(replies) == 1 and replies[0]["content"].startswith("[AUTO]") and replies[0]["sender"] == "alice"
    inbox = await s["alice"].ok("get_messages")
    assert [m["content"] for m in inbox] == ["the parser is ready for you", "and the lexer too"]


async def test_auto_messages_and_an_agents_own_are_never_answered(office):
    table, clock, s = office
    await s["bob"].ok("send_message", recipient="alice", content="[AUTO] bob is away")
    await s["alice"].ok("send_message", recipient="alice", content="a note to self")
    clock.advance(3600)
    assert poll(table).replied == {}


async def test_two_auto_replying_agents_do_not_answer_each_other_back_and_forth(office):
    table, clock, s = office
    await s["carol"].ok("send_message", recipient="alice", content="ping alice")
    await s["carol"].ok("send_message", recipient="bob", content="ping bob")
    clock.advance(3600)
    for _ in range(5):
        poll(table, "alice")
        poll(table, "bob")
    traffic = table.hub.store.query("SELECT COUNT(*) FROM message WHERE sender IN ('alice', 'bob')")[0][0]
    assert traffic == 2  # one acknowledgement each to carol, and nothing between alice and bob


async def test_a_message_asking_for_a_decision_escalates_and_pauses_auto_replies_until_resolved(office):
    table, clock, s = office
    sent = await s["bob"].ok("send_message", recipient="alice", content="Should we ship on Friday?")
    assert sent["escalated"] == ["decision"]
    await s["carol"].ok("send_message", recipient="alice", content="the tests pass")
    clock.advance(3600)
    notice = await s["bob"].ok("get_messages")
    assert notice[-1]["sender"] == "team-table" and "decision" in notice[-1]["content"]
    alerts = await s["boss"].ok("get_messages")
    assert alerts and alerts[0]["sender"] == "team-table"
    assert any(e.kind == "escalation" for e in events.for_agent(table.hub.store, "boss", 0))
    assert poll(table).skipped.startswith("waiting")  # carol's message waits; it is not lost
    [open_one] = await s["boss"].ok("list_escalations")
    await s["carol"].refused("list_escalations", "forbidden")
    await s["boss"].ok("resolve_escalation", escalation_id=open_one["id"], note="Monday, not Friday")
    assert poll(table).replied == {"carol": 1}
    assert "Monday" in (await s["bob"].ok("get_messages"))[-1]["content"]


async def test_the_reply_cap_escalates_instead_of_replying(office):
    table, clock, s = office
    for n in range(4):
        for sender in ("bob", "carol"):
            await s[sender].ok("send_message", recipient="alice", content=f"update {n}")
        clock.advance(31)
        poll(table)
    rows = escalations.listing(table.hub, table.hub.operator(), "")
    assert [r.rule for r in rows] == [autoreply.REPLY_CAP]
    replies_sent = table.hub.store.query("SELECT COUNT(*) FROM message WHERE sender = 'alice'")[0][0]
    assert replies_sent == 3  # the cap (3 per away period), then a person is asked instead


async def test_auto_replies_pause_while_the_agent_is_itself_active(office):
    table, clock, s = office
    await s["bob"].ok("send_message", recipient="alice", content="are you there")
    await s["alice"].ok("heartbeat")
    assert poll(table).skipped == "the agent is active"
    clock.advance(3600)
    assert poll(table).replied == {"bob": 1}


async def test_presence_moves_from_active_to_idle_to_offline_and_is_pushed(office):
    table, clock, s = office
    await s["carol"].ok("list_tasks")  # any call counts as activity, without a write of its own
    presence.sweep(table.hub)
    listed = {m["name"]: m for m in await s["carol"].ok("list_members")}
    assert listed["carol"]["presence"] == "active" and listed["bob"]["presence"] == "offline"
    assert {m["status"] for m in listed.values()} == {"active"}  # status keeps its 0.2.1 meaning: at the table
    clock.advance(301)
    assert presence.sweep(table.hub)["carol"] == "idle"
    clock.advance(600)
    assert presence.sweep(table.hub)["carol"] == "offline"
    kinds = [(e.data["agent"], e.data["status"]) for e in events.for_agent(table.hub.store, "bob", 0)
             if e.kind == "presence"]
    assert ("carol", "idle") in kinds and ("carol", "offline") in kinds


async def test_a_claim_held_by_an_agent_offline_past_the_lease_goes_back_to_the_board(office):
    table, clock, s = office
    reserved = await s["carol"].ok("create_task", title="reserved for bob", assignee="bob")
    free = await s["carol"].ok("create_task", title="for anyone")
    await s["bob"].ok("claim_task", task_id=reserved["id"])
    await s["bob"].ok("claim_task", task_id=free["id"])
    presence.sweep(table.hub)
    clock.advance(900 + 1800 - 60)
    presence.sweep(table.hub)
    assert {t["status"] for t in await s["carol"].ok("list_tasks")} == {"in_progress"}  # not yet
    clock.advance(120)
    presence.sweep(table.hub)
    board = {t["id"]: t for t in await s["carol"].ok("list_tasks")}
    assert board[free["id"]]["status"] == "pending" and board[free["id"]]["assignee"] is None
    assert board[reserved["id"]]["status"] == "pending" and board[reserved["id"]]["assignee"] == "bob"
    told = await s["carol"].ok("get_messages")
    assert len(told) == 2 and all(m["sender"] == "team-table" for m in told)
    from team_table import audit

    assert len(audit.entries(table.hub, None, action="release_claim")) == 2
    assert any(e.kind == "task_updated" and e.data.get("released_from") == "bob"
               for e in events.for_agent(table.hub.store, "carol", 0))


async def test_a_deregistered_agents_claims_are_released(office):
    table, clock, s = office
    task = await s["carol"].ok("create_task", title="short-lived")
    await s["bob"].ok("claim_task", task_id=task["id"])
    await s["bob"].ok("deregister")
    assert (await s["carol"].ok("list_tasks"))[0]["status"] == "pending"


async def test_a_job_lease_is_held_by_one_process_and_taken_over_when_it_lapses(office):
    table, clock, _ = office
    assert jobs.take_lease(table.hub, "heartbeat", "process-a", 30)
    assert not jobs.take_lease(table.hub, "heartbeat", "process-b", 30)
    assert jobs.take_lease(table.hub, "heartbeat", "process-a", 30)  # the holder renews
    clock.advance(31)  # process-a died: its lease lapses
    assert jobs.take_lease(table.hub, "heartbeat", "process-b", 30)
    assert not jobs.take_lease(table.hub, "heartbeat", "process-a", 30)


async def test_a_template_that_fails_at_run_time_falls_back_to_the_built_in_text(table_with, caplog):
    clock = ManualClock()
    policy = "{template: '{{ agent }} back in {{ 60 // (count - 1) }} min'}"
    async with table_with(team(alice_policy=policy), clock=clock) as table:
        bob = await table.connect()
        bob.name, bob.token = "bob", TOKENS["bob"]
        clock.advance(3600)
        await bob.ok("send_message", recipient="alice", content="one message: count - 1 is zero")
        clock.advance(3600)
        assert poll(table).replied == {"bob": 1}
        [reply] = await bob.ok("get_messages")
        assert reply["content"].startswith("[AUTO] alice is away")
        assert "built-in text" in caplog.text


async def test_the_jobs_of_the_config_are_built_and_rebuilt_on_reload(office):
    table, _, _ = office
    runner = jobs.Jobs(table.hub)
    runner.start()
    try:
        assert {name: job.gap for name, job in runner.loop.jobs.items()} == {
            "heartbeat": 15.0, "activity": 5.0, "overdue": 5.0, "reservations": 5.0, "questions": 1.0,
            "auto-reply:alice": 30.0, "auto-reply:bob": 30.0}
        from conftest import team_from

        table.hub.team = team_from(team(alice_policy="{interval_seconds: 5}").replace(
            "    auto_reply: {interval_seconds: 30, max_replies: 3}\n", ""))
        runner.rebuild()
        assert {name: job.gap for name, job in runner.loop.jobs.items()} == {
            "heartbeat": 15.0, "activity": 5.0, "overdue": 5.0, "reservations": 5.0, "questions": 1.0,
            "auto-reply:alice": 5.0}
    finally:
        await runner.stop()


async def test_once_the_hub_stops_its_jobs_no_look_is_started_and_no_error_is_logged(office, caplog):
    """A change heard, or a job falling due, in the very turn the hub stops must start nothing."""
    import asyncio

    from team_table.jobs_loop import Job

    table, _, _ = office
    runner = jobs.Jobs(table.hub)
    runner.start()
    looked: list[str] = []
    first = anyio.Event()

    async def look() -> None:
        looked.append("looked")
        first.set()

    with caplog.at_level("ERROR"):
        await runner.loop.stop()  # the loop of the config's jobs, replaced by one that records its looks
        runner.loop.stopping = False
        runner.loop.start()
        runner.loop.set_jobs([Job("recorded", 1.0, look, due=None)])
        with anyio.fail_after(10):
            await first.wait()  # its first look, at once
        looked.clear()
        stopping = asyncio.ensure_future(runner.stop())
        runner.loop.committed()
        runner.loop.poke("recorded")
        await stopping
    assert looked == []
    assert not [r for r in caplog.records if r.levelname == "ERROR"], [r.getMessage() for r in caplog.records]


def test_check_refuses_a_template_with_a_typo(tmp_path):
    from team_table.config import parse_team
    from team_table.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_team("agents:\n  a:\n    auto_reply:\n      template: '{{ agnet }} is away'\n", "team.yaml")
    assert "agnet" in str(caught.value) and caught.value.problems[0].line == 4


def test_a_person_cannot_be_given_an_auto_reply():
    from team_table.config import parse_team
    from team_table.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        parse_team("agents:\n  pat:\n    role: person\n    auto_reply: {}\n", "team.yaml")
    assert "person" in str(caught.value)


@pytest.mark.processes
async def test_team_table_poll_answers_from_a_terminal_with_timestamped_lines(tmp_path):
    import os
    import subprocess
    import sys

    from team_table import members, messages
    from team_table.config import EMPTY_TEAM
    from team_table.runtime import open_table
    from team_table.settings import resolve

    db = stores.table_db(tmp_path)
    with open_table(resolve({"db": str(db)}, {}, EMPTY_TEAM, None), EMPTY_TEAM) as hub:
        members.register(hub, "alice", "coder", "[]", "")
        members.register(hub, "bob", "coder", "[]", "")
        bob = hub.caller("bob", ("coder",))
        messages.send(hub, bob, "alice", "the build is green")
        messages.send(hub, bob, "alice", "which option do you want, A or B?")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAM_TABLE_")}
    script = str(__import__("pathlib").Path(sys.executable).parent / "team-table")
    with subprocess.Popen([script, "poll", "alice", "--interval", "0.2", "--db", str(db)], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        lines = []
        with anyio.fail_after(20):
            while not any("ESCALATION" in line for line in lines):
                line = await anyio.to_thread.run_sync(proc.stdout.readline)
                assert line, "poll ended early:\n" + "".join(lines)
                lines.append(line)
        proc.terminate()
    assert any("replied to bob (1 message)" in line for line in lines)
    assert all(line[0] == "[" and line[9] == "]" for line in lines)  # [HH:MM:SS] ...
