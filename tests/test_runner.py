"""The table runs its team: a network hub starts the agents with `run:` when work waits for them (a scripted agent,
a real MCP client, stands in for a real one), gives each run its own token, and looks after the runs."""

from __future__ import annotations

import itertools
import json
import os
import signal
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
import httpx2
import pytest

from runner_helpers import Lead, agent, alive, connect, gone, reports, signed_in, team_table, team_yaml, watching
from team_table import tokens

from network_helpers import running_hub

pytestmark = [pytest.mark.anyio, pytest.mark.processes]

QUICK = {"backoff_seconds": 0.2, "max_backoff_seconds": 0.5}


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_a_task_reserved_for_an_agent_starts_it_with_its_own_token_and_the_work_in_its_prompt(tmp_path: Path):
    lead, report = Lead.new(), tmp_path / "report.jsonl"
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent(f"report:{report}", "claim_done"), "env": {"GREETING": "hello"}}}})
    async with running_hub(tmp_path, yaml_text, env={"SECRET_OF_THE_HUB": "x"}) as hub, watching(hub) as runs, \
            AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        task = await boss.call("create_task", title="Build it", assignee="builder")
        await runs.until(lambda: runs.task(task["id"])["status"] == "done", what="the run did the task")
        run = await runs.until(lambda: [r for r in runs.of("builder") if r["ended_at"]], what="the run ended")
        assert run[0]["outcome"] == "exited" and run[0]["exit_code"] == 0
        seen = reports(report)[0]
        assert set(seen["env"]) - {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
                                   "SHELL", "TERM"} == {"TEAM_TABLE_AGENT", "TEAM_TABLE_URL", "TEAM_TABLE_TOKEN",
                                                        "GREETING"}
        assert seen["env"]["TEAM_TABLE_AGENT"] == "builder" and seen["env"]["TEAM_TABLE_URL"] == hub.url + "/mcp"
        assert f"task {task['id']} (Build it)" in seen["prompt"]
        token = seen["env"]["TEAM_TABLE_TOKEN"]
        assert token not in hub.log_text()
        for path in tmp_path.rglob("*"):  # the database keeps its hash only; no file holds it
            if path.is_file() and path != report:
                assert token.encode() not in path.read_bytes(), path
        async with httpx2.AsyncClient() as http:  # the run is over: its token is refused (the edge may trust a
            with anyio.fail_after(5):                # token it saw valid for a second more; every call checks it)
                while (await http.post(hub.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                       headers={"Authorization": f"Bearer {token}",
                                                "Accept": "application/json, text/event-stream"})).status_code != 401:
                    await anyio.sleep(0.2)
        states = [e["state"] for e in runs.events("builder") if "state" in e]
        assert states[0] == "starting" and states[-1] == "exited", states
        surfaced = json.loads(runs.of("builder")[0]["surfaced"])  # the task, and the hub's notice of it
        assert surfaced["via"] == "run" and [i["kind"] for i in surfaced["items"]] == ["task", "messages"]
        notice = runs.store.query("SELECT surfaced_via, acted_how FROM delivery WHERE agent = 'builder'")
        assert [(row["surfaced_via"], row["acted_how"]) for row in notice] == [("run", "claim")]


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_a_message_starts_the_agent_and_nothing_starts_an_agent_nothing_waits_for(tmp_path: Path):
    lead = Lead.new()
    yaml_text = team_yaml(lead, {
        "reader": {"role": "coder", "run": {"command": agent("read")}},
        "idler": {"role": "coder", "run": {"command": agent("read")}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("send_message", recipient="reader", content="Please look at the parser")
        done = await runs.until(lambda: [r for r in runs.of("reader") if r["ended_at"]], what="reader ran")
        assert done[0]["outcome"] == "exited" and "read 1 messages" in done[0]["last_line"]
        assert runs.of("idler") == []  # nothing waited for it: never started
        assert len(runs.of("reader")) == 1  # it read its messages: nothing waits, it is not started again


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_a_run_that_fails_is_started_again_after_a_backoff(tmp_path: Path):
    lead, marker = Lead.new(), tmp_path / "failed-once"
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent(f"fail_once:{marker}", "claim_done"), "restart": QUICK}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        task = await boss.call("create_task", title="Build it", assignee="builder")
        await runs.until(lambda: runs.task(task["id"])["status"] == "done", what="the second run did the task")
        first, second = await runs.until(lambda: runs.of("builder") if len(runs.of("builder")) == 2 else None)
        assert first["outcome"] == "failed" and first["exit_code"] == 1 and first["last_line"] == "failing this once"
        states = [e["state"] for e in runs.events("builder") if "state" in e]
        assert [s for s in states if s != "working"][:3] == ["starting", "backing off", "starting"], states


async def test_after_n_failures_in_a_window_the_hub_stops_and_asks_a_person_with_the_last_lines(tmp_path: Path):
    lead = Lead.new()
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent("print:the disk is full", "exit:3"),
        "restart": {**QUICK, "max_failures": 3, "window_seconds": 600}}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        escalation = (await runs.until(lambda: runs.escalations("builder"), what="a person was asked"))[0]
        assert escalation["rule"] == "run_failed" and escalation["status"] == "open"
        assert "failed 3 times" in escalation["reason"] and "the disk is full" in escalation["reason"]
        assert [r["outcome"] for r in runs.of("builder")] == ["failed"] * 3
        assert runs.state("builder")["state"] == "failed"
        alert = await boss.call("get_messages")
        assert any(f"escalation {escalation['id']}" in m["content"] for m in alert)
        await boss.call("resolve_escalation", escalation_id=escalation["id"], note="try again")
        await runs.until(lambda: len(runs.of("builder")) == 4, what="resolving it lets the hub try again")


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_a_run_that_holds_work_and_goes_quiet_is_restarted_as_stalled(tmp_path: Path):
    lead = Lead.new()
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent("quiet"), "stall": {"after_seconds": 1.5, "action": "restart"},
        "restart": {**QUICK, "max_failures": 2}, "grace_seconds": 1}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        first = (await runs.until(lambda: [r for r in runs.of("builder") if r["ended_at"]]))[0]
        assert first["outcome"] == "failed" and first["reason"].startswith("stalled"), first["reason"]
        await runs.until(lambda: len(runs.of("builder")) >= 2, what="the stalled run was started again")


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_a_stalled_run_is_escalated_when_team_yaml_says_so(tmp_path: Path):
    lead = Lead.new()
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent("quiet"), "stall": {"after_seconds": 1, "action": "escalate"}, "grace_seconds": 1}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        escalation = (await runs.until(lambda: runs.escalations("builder")))[0]
        assert escalation["rule"] == "run_stalled" and "stalled" in escalation["reason"]
        assert runs.of("builder")[0]["ended_at"] is None  # asked about, not stopped


@pytest.mark.one_engine  # a timer on the process; runs recorded on PostgreSQL: the tests above
async def test_a_run_is_stopped_at_its_wall_time(tmp_path: Path):
    lead = Lead.new()
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent("hang"), "max_seconds": 1, "grace_seconds": 1, "restart": {**QUICK, "max_failures": 1}}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        run = (await runs.until(lambda: [r for r in runs.of("builder") if r["ended_at"]]))[0]
        assert run["outcome"] == "failed" and "max_seconds" in run["reason"]


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_stopping_the_hub_stops_its_runs_gracefully_then_with_sigkill(tmp_path: Path):
    lead, report = Lead.new(), tmp_path / "report.jsonl"
    yaml_text = team_yaml(lead, {
        "polite": {"role": "coder", "run": {"command": agent(f"report:{report}", "hang"), "grace_seconds": 5}},
        "stubborn": {"role": "coder", "run": {"command": agent("ignore_term", f"report:{report}", "hang"),
                                              "grace_seconds": 1}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        for name in ("polite", "stubborn"):
            await boss.call("create_task", title=f"Work for {name}", assignee=name)
        await runs.until(lambda: len(reports(report)) == 2, what="both runs started")
        pids = [seen["pid"] for seen in reports(report)]
        await stack.aclose()
        took = await hub.stop()
        assert took < 1 + 3 + 5, took  # the stubborn one's grace, then SIGKILL
        hub.assert_clean_exit()
        assert not any(alive(pid) for pid in pids)
        ended = {row["agent"]: row for name in ("polite", "stubborn") for row in runs.of(name)}
        assert {row["outcome"] for row in ended.values()} == {"stopped"}
        assert ended["stubborn"]["exit_code"] == 128 + 9 and ended["polite"]["exit_code"] == 128 + 15


@pytest.mark.one_engine  # what the operating system does with the processes of a killed hub
async def test_a_sigkilled_hub_leaves_no_process_of_its_runs(tmp_path: Path):
    lead, report = Lead.new(), tmp_path / "report.jsonl"
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent("spawn", f"report:{report}", "ignore_term", "hang"), "grace_seconds": 1}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        seen = (await runs.until(lambda: reports(report)))[0]
        run = runs.of("builder")[0]
        child = int(next(line for line in (tmp_path / ".team-table/runs/builder/run-1.log").read_text().splitlines()
                         if line.startswith("child ")).split()[1])
        family = [run["pid"], seen["pid"], child]
        assert all(alive(pid) for pid in family)
        await stack.aclose()
        hub.kill()
        await hub.process.wait()
        await gone(family, within=10)


async def test_a_hub_started_again_ends_what_an_earlier_hub_left_and_runs_the_agent_afresh(tmp_path: Path):
    lead, report = Lead.new(), tmp_path / "report.jsonl"
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent(f"report:{report}", "quiet"), "grace_seconds": 1}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        seen = (await runs.until(lambda: reports(report)))[0]
        keeper = (await runs.until(lambda: [r for r in runs.of("builder") if r["pgid"]]))[0]["pid"]
        await stack.aclose()
        # The machine took the hub and the run's keeper at once (the keeper frozen first, so it cannot react):
        # the agent's own process is left, as no keeper or hub is there to end it.
        os.kill(keeper, signal.SIGSTOP)
        hub.kill()
        await hub.process.wait()
        os.kill(keeper, signal.SIGKILL)
        await gone([keeper])
        assert alive(seen["pid"])
    async with running_hub(tmp_path, None) as hub, watching(hub) as runs:
        await gone([seen["pid"]], within=20)
        first = (await runs.until(lambda: [r for r in runs.of("builder") if r["outcome"] == "left"]))[0]
        assert first["id"] == 1 and "went away" in first["reason"]
        await runs.until(lambda: len(reports(report)) == 2, what="the agent ran again: its task still waits")
        old_token = seen["env"]["TEAM_TABLE_TOKEN"]
        assert old_token != reports(report)[1]["env"]["TEAM_TABLE_TOKEN"]
        revoked = runs.store.query("SELECT revoked_at FROM token WHERE hash = ?", (tokens.digest(old_token),))
        assert revoked[0]["revoked_at"] is not None


async def test_runs_are_capped_for_the_whole_team(tmp_path: Path):
    lead = Lead.new()
    yaml_text = team_yaml(lead, {name: {"role": "coder", "run": {"command": agent("claim_done")}}
                                 for name in ("ann", "ben", "cid")}, runner={"max_running": 1})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        for name in ("ann", "ben", "cid"):
            await boss.call("create_task", title=f"Work for {name}", assignee=name)
        every = await runs.until(lambda: rows if (rows := [r for n in ("ann", "ben", "cid") for r in runs.of(n)])
                                 and len(rows) == 3 and all(r["ended_at"] for r in rows) else None)
        spans = sorted((r["started_at"], r["ended_at"]) for r in every)
        assert all(earlier[1] <= later[0] for earlier, later in itertools.pairwise(spans)), spans


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_adding_changing_and_removing_run_in_team_yaml_applies_live(tmp_path: Path):
    lead, report = Lead.new(), tmp_path / "report.jsonl"
    without = team_yaml(lead, {"builder": {"role": "coder"}})
    async with running_hub(tmp_path, without) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        hub.files.config.write_text(team_yaml(lead, {"builder": {"role": "coder", "run": {
            "command": agent(f"report:{report}", "hang"), "grace_seconds": 1}}}))
        await runs.until(lambda: reports(report), what="adding run: starts the agent its work waited for")
        hub.files.config.write_text(team_yaml(lead, {"builder": {"role": "coder", "run": {
            "command": agent(f"report:{report}", "print:changed", "hang"), "grace_seconds": 1}}}))
        first = (await runs.until(lambda: [r for r in runs.of("builder") if r["ended_at"]]))[0]
        assert first["outcome"] == "stopped" and "changed" in first["reason"]
        await runs.until(lambda: len(reports(report)) == 2, what="started again with the new command")
        hub.files.config.write_text(without)
        second = (await runs.until(lambda: [r for r in runs.of("builder")[1:] if r["ended_at"]]))[0]
        assert second["outcome"] == "stopped" and "removed" in second["reason"]
        assert not any(alive(seen["pid"]) for seen in reports(report))


@pytest.mark.postgres_only
async def test_two_replicas_run_an_agent_once_and_the_other_takes_over_when_that_replica_dies(tmp_path: Path):
    lead, report = Lead.new(), tmp_path / "report.jsonl"
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent(f"report:{report}", "quiet"), "grace_seconds": 1}}})
    shared = tmp_path / "replica-0"
    async with running_hub(shared, yaml_text) as first, \
            running_hub(tmp_path / "replica-1", yaml_text, db_folder=shared) as second, \
            watching(first) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, first, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        seen = (await runs.until(lambda: reports(report)))[0]
        # Both replicas heard of the task; one started the agent, the other found it run by the first.
        await runs.until(lambda: all("builder" in hub.log_text() for hub in (first, second)))
        assert len(runs.of("builder")) == 1 and len(reports(report)) == 1
        owner = runs.store.query("SELECT owner FROM agent_lease WHERE agent = 'builder'")[0]["owner"]
        running, other = (first, second) if f":{first.process.pid}:" in owner else (second, first)
        assert f":{running.process.pid}:" in owner
        await stack.aclose()
        running.kill()
        await running.process.wait()
        await gone([seen["pid"]])  # the dead replica's keeper ended the agent
        await runs.until(lambda: len(reports(report)) == 2, within=45, what="the other replica took the agent over")
        first_run, second_run = runs.of("builder")[:2]
        assert first_run["outcome"] == "left" and second_run["owner"].split(":")[1] == str(other.process.pid)
        revoked = runs.store.query("SELECT revoked_at FROM token WHERE hash = ?", (first_run["token_hash"],))
        assert revoked[0]["revoked_at"] is not None


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_an_always_agent_runs_without_work_and_a_manual_one_when_a_person_asks(tmp_path: Path):
    lead, report = Lead.new(), tmp_path / "report.jsonl"
    yaml_text = team_yaml(lead, {
        "watcher": {"role": "coder", "run": {"command": agent(f"report:{report}", "hang"), "start": "always",
                                             "grace_seconds": 1}},
        "helper": {"role": "coder", "run": {"command": agent(f"report:{report}", "hang"), "start": "manual",
                                            "grace_seconds": 1}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs:
        await runs.until(lambda: runs.of("watcher"), what="an always agent starts with nothing waiting")
        assert runs.of("helper") == []
        listed = await team_table(hub, "agents")
        assert "watcher" in listed and "helper" in listed and "not started yet" in listed
        await team_table(hub, "agents", "start", "helper")
        await runs.until(lambda: runs.of("helper"), what="started when a person asked")
        await runs.until(lambda: runs.state("helper")["state"] == "working" or runs.state("helper")["state"] == "idle")
        await team_table(hub, "agents", "stop", "helper")
        stopped = (await runs.until(lambda: [r for r in runs.of("helper") if r["ended_at"]]))[0]
        assert stopped["outcome"] == "stopped" and "asked" in stopped["reason"]
        assert len(runs.of("helper")) == 1  # a manual agent is not started again on its own
        listed = await team_table(hub, "agents", "--json")
        assert {row["agent"]: row["state"] for row in json.loads(listed)}["watcher"] in ("idle", "working")


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_the_team_page_shows_who_the_hub_runs_what_for_and_their_last_line(tmp_path: Path):
    lead = Lead.new()
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {"command": agent("hang"), "grace_seconds": 1}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        await runs.until(lambda: (run := runs.of("builder")) and run[0]["last_line"] == "still here")
        async with signed_in(hub.url, lead.token) as dashboard:
            page = (await dashboard.get("/ui/team")).text
        row = page[page.index('id="run-builder"'):]
        row = row[:row.index("</tr>")]
        assert "Run by the hub" in page and "1 running" in page
        assert "task 1 (Build it)" in row and "still here" in row and "working" in row


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_an_agent_backing_off_is_let_go_when_its_work_is_gone(tmp_path: Path):
    lead = Lead.new()
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
        "command": agent("exit:1"), "next_task": True, "restart": {"backoff_seconds": 1.5, "max_failures": 5}}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        task = await boss.call("create_task", title="Anyone", kind="code")  # free: builder fits it
        await runs.until(lambda: runs.state("builder") and runs.state("builder")["state"] == "backing off")
        assert runs.store.query("SELECT 1 FROM agent_lease WHERE agent = 'builder'")  # kept through the backoff
        await boss.call("cancel_task", task_id=task["id"])  # nothing waits for builder any more
        await runs.until(lambda: not runs.store.query("SELECT 1 FROM agent_lease WHERE agent = 'builder'"),
                         what="the lease is let go once the backoff is over")
        assert len(runs.of("builder")) == 1 and runs.state("builder")["state"] == "failed"


@pytest.mark.one_engine  # the supervisor's own behaviour; on PostgreSQL: the cap, the restart and replicas below
async def test_a_run_a_person_stops_starts_again_only_for_new_work(tmp_path: Path):
    lead = Lead.new()
    yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {"command": agent("hang"), "grace_seconds": 1}},
                                 "other": {"role": "coder", "run": {"command": agent("claim_done")}}})
    async with running_hub(tmp_path, yaml_text) as hub, watching(hub) as runs, AsyncExitStack() as stack:
        boss = await connect(stack, hub, lead.token)
        await boss.call("create_task", title="Build it", assignee="builder")
        await runs.until(lambda: runs.of("builder"))
        await team_table(hub, "agents", "stop", "builder")
        stopped = (await runs.until(lambda: [r for r in runs.of("builder") if r["ended_at"]]))[0]
        assert stopped["outcome"] == "stopped"
        await boss.call("create_task", title="Something else", assignee="other")
        await runs.until(lambda: runs.of("other"), what="the hub looked at every agent again")
        assert len(runs.of("builder")) == 1  # the task it was stopped on still waits: not started for it again
        await boss.call("send_message", recipient="builder", content="Please go on now")
        await runs.until(lambda: len(runs.of("builder")) == 2, what="new work starts it again")
