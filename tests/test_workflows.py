"""Workflows: the shipped review and QA pipeline driven by four agents through the real MCP client, crashes,
two hub processes on one event, invalid edits, and each shipped workflow."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import stores
from team_table.errors import ConfigError
from team_table.event_kinds import K
from team_table.workflow.engine import open_engine
from team_table.workflow.library import load_folder

pytestmark = pytest.mark.anyio

SHIPPED = Path(__file__).parent.parent / "workflows"


@pytest.fixture
async def team(table, tmp_path: Path):
    folder = tmp_path / "workflows"
    shutil.copytree(SHIPPED, folder)
    lead = await table.join("lead")
    table.grant("lead", "lead")
    coder = await table.join("coder", role="coder")
    rita = await table.join("rita", role="reviewer")
    tess = await table.join("tess", role="tester")
    yield open_engine(table.hub, folder), lead, coder, rita, tess


def auto(inbox: list[dict]) -> list[str]:
    return [m["content"] for m in inbox if m["content"].startswith("[AUTO]")]


async def test_the_review_and_qa_pipeline_runs_with_a_rework_round_and_a_failed_qa(team):
    engine, lead, coder, rita, tess = team
    feature = await lead.ok("create_task", title="config support")
    code = await lead.ok("create_task", title="parse team.yaml", kind="code", parent_id=feature["id"],
                         assignee="coder")
    await coder.ok("claim_task", task_id=code["id"])
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    engine.step()
    assert (await rita.ok("get_task", task_id=code["id"]))["reviewer"] == "rita"  # never the author
    assert auto(await rita.ok("get_messages")) == [
        f"[AUTO] Your review is asked for task {code['id']} (parse team.yaml) by coder. See get_task({code['id']}), "
        "then review_task."]

    await rita.ok("review_task", task_id=code["id"], approve=False, note="handle an empty file")
    engine.step()
    assert any("sent task" in m and "handle an empty file" in m for m in auto(await coder.ok("get_messages")))
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    engine.step()
    await rita.ok("review_task", task_id=code["id"], approve=True)
    engine.step()
    qa = await tess.ok("next_task")
    assert qa["kind"] == "qa" and qa["parent_id"] == feature["id"] and qa["depends_on"] == [code["id"]]

    await tess.ok("update_task", task_id=qa["id"], status="blocked", result="crashes on a BOM")
    engine.step()
    back = await coder.ok("get_task", task_id=code["id"])
    assert back["status"] == "pending" and back["assignee"] == "coder"
    assert "crashes on a BOM" in back["comments"][-1]["text"]
    assert (await lead.ok("get_task", task_id=qa["id"]))["status"] == "cancelled"
    assert (await lead.ok("get_task", task_id=feature["id"]))["status"] == "pending"  # not closed early

    await coder.ok("claim_task", task_id=code["id"])
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    engine.step()
    await rita.ok("review_task", task_id=code["id"], approve=True)
    engine.step()
    second = await tess.ok("next_task")
    await tess.ok("update_task", task_id=second["id"], status="done", result="all green")
    engine.step()
    assert (await lead.ok("get_task", task_id=feature["id"]))["status"] == "done"
    told = auto(await lead.ok("get_messages"))
    assert any("passed" in m for m in told) and any("Every subtask" in m for m in told)
    runs = engine.hub.store.query("SELECT workflow, status FROM workflow_run ORDER BY id")
    assert all(r["status"] == "done" for r in runs)
    assert {r["workflow"] for r in runs} >= {"review", "qa", "parent_done"}


async def test_a_rework_loop_is_bounded_and_then_a_person_is_asked(team):
    engine, lead, coder, rita, tess = team
    code = await lead.ok("create_task", title="endless", kind="code", assignee="coder")
    await coder.ok("claim_task", task_id=code["id"])
    for _ in range(4):
        await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
        engine.step()
        await rita.ok("review_task", task_id=code["id"], approve=False, note="not yet")
        engine.step()
    failed = engine.hub.store.query("SELECT error FROM workflow_run WHERE status = 'failed'")
    assert len(failed) == 1 and "max_rounds" in failed[0]["error"]
    assert [e["rule"] for e in await lead.ok("list_escalations")] == ["workflow:review"]


async def test_a_step_that_cannot_run_is_recorded_and_escalated_not_dropped(team, table):
    engine, lead, coder, rita, tess = team
    await rita.ok("deregister")  # no reviewer left but the author
    code = await lead.ok("create_task", title="lonely", kind="code", assignee="coder")
    await coder.ok("claim_task", task_id=code["id"])
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    engine.step()
    [run] = engine.hub.store.query("SELECT * FROM workflow_run")
    assert run["status"] == "failed" and "reviewer" in run["error"]
    assert (await lead.ok("get_task", task_id=code["id"]))["reviewer"] is None  # the failed run changed nothing
    assert await lead.ok("list_escalations")


async def test_each_event_is_handled_once_by_two_hub_processes_and_a_crash_resumes(team, tmp_path: Path):
    engine, lead, coder, rita, tess = team
    second = open_engine(engine.hub, engine.library.folder)  # another hub process on the same database
    code = await lead.ok("create_task", title="shared", kind="code", assignee="coder")
    await coder.ok("claim_task", task_id=code["id"])
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    handled = engine.step(limit=1) + second.step() + engine.step()  # interleaved, as two processes would
    assert handled >= 1
    reviews = engine.hub.store.query("SELECT COUNT(*) FROM workflow_run WHERE workflow = 'review'")[0][0]
    assert reviews == 1
    assert len(auto(await rita.ok("get_messages"))) == 1  # told once, not twice


async def test_an_invalid_workflow_edit_changes_nothing_and_a_fixed_one_applies(team):
    engine, lead, coder, rita, tess = team
    before = dict(engine.workflows)
    (engine.library.folder / "review.yaml").write_text("name: review\ntriggers:\n  - event: task_status\n    do:\n"
                                               "      - message: {to: reviewer, text: '{{ task.titel }}'}\n")
    assert engine.library.reload() is False
    assert engine.workflows == before
    from team_table import audit

    [entry] = audit.entries(engine.hub, None, action="config_error")
    assert "titel" in entry.details and "review.yaml:5" in entry.details
    shutil.copy(SHIPPED / "review.yaml", engine.library.folder / "review.yaml")
    (engine.library.folder / "blocked.yaml").unlink()
    assert engine.library.reload() is True and "blocked" not in engine.workflows


async def test_a_blocked_task_is_brought_to_the_lead(team):
    engine, lead, coder, rita, tess = team
    task = await lead.ok("create_task", title="needs the db", assignee="coder")
    await coder.ok("claim_task", task_id=task["id"])
    await coder.ok("update_task", task_id=task["id"], status="blocked", result="no credentials")
    engine.step()
    assert "no credentials" in auto(await lead.ok("get_messages"))[0]


async def test_an_agent_going_offline_with_claimed_work_is_brought_to_the_lead(team, table):
    from team_table import events

    engine, lead, coder, rita, tess = team
    task = await lead.ok("create_task", title="held")
    await coder.ok("claim_task", task_id=task["id"])
    with table.hub.store.write() as conn:
        events.emit(conn, table.hub.now(), K.PRESENCE, {"agent": "coder", "status": "offline", "was": "idle"})
    engine.step()
    assert "coder went offline" in auto(await lead.ok("get_messages"))[0]


def test_every_shipped_workflow_is_valid_and_a_typo_names_file_line_and_key(tmp_path: Path):
    found, _ = load_folder(SHIPPED)
    assert set(found) == {"review", "qa", "parent_done", "blocked", "offline"}
    (tmp_path / "bad.yaml").write_text("name: bad\ntriggers:\n  - event: task_status\n    do:\n      - explode: now\n")
    with pytest.raises(ConfigError) as caught:
        load_folder(tmp_path)
    assert caught.value.problems[0].line == 5 and "explode" in caught.value.problems[0].path


def test_the_cli_lists_checks_dry_runs_and_shows_runs(tmp_path: Path, monkeypatch):
    import json as jsonlib

    from click.testing import CliRunner

    from team_table import claims, members, tasks
    from team_table.cli import main
    from team_table.config import load_team
    from team_table.runtime import open_table
    from team_table.settings import resolve

    monkeypatch.chdir(tmp_path)
    for var in ("TEAM_TABLE_CONFIG", "TEAM_TABLE_DB"):
        monkeypatch.delenv(var, raising=False)
    shutil.copytree(SHIPPED, tmp_path / "workflows")
    (tmp_path / "team.yaml").write_text("hub:\n  db: team.db\n")
    monkeypatch.setenv("TEAM_TABLE_DB", stores.table_db(tmp_path))  # wins over the file's (SQLite or PostgreSQL)
    team = load_team(tmp_path / "team.yaml")
    with open_table(resolve({"db": stores.table_db(tmp_path)}, {}, team, tmp_path / "team.yaml"), team) as hub:
        members.register(hub, "coder", "coder", "[]", "")
        members.register(hub, "rita", "reviewer", "[]", "")
        coder = hub.caller("coder", ("coder",))
        task = tasks.create(hub, coder, "parse", kind="code", assignee="coder")
        claims.claim(hub, coder, task.id)
        tasks.update(hub, coder, task.id, "awaiting_review")
    run = CliRunner().invoke
    listed = run(main, ["workflows", "--json"], catch_exceptions=False)
    assert {w["name"] for w in jsonlib.loads(listed.output)} == {"review", "qa", "parent_done", "blocked", "offline"}
    assert run(main, ["workflows", "check"], catch_exceptions=False).exit_code == 0
    (tmp_path / "bad.yaml").write_text("name: x\ntriggers: []\nextra: 1\n")
    bad = run(main, ["workflows", "check", "bad.yaml"])
    assert bad.exit_code == 1 and "bad.yaml:3" in bad.output
    dry = run(main, ["workflows", "dry-run", "workflows/review.yaml", "--event",
                     f'{{"event": "task_status", "task": {task.id}}}'], catch_exceptions=False)
    assert "assign_reviewer" in dry.output and '"rita"' in dry.output and "nothing was changed" in dry.output
    with open_table(resolve({"db": stores.table_db(tmp_path)}, {}, team, tmp_path / "team.yaml"), team) as hub:
        assert tasks.load(hub, task.id).reviewer is None  # the dry run changed nothing
        open_engine(hub, tmp_path / "workflows")  # a hub starts: its place is after the events already there
        assert hub.store.query("SELECT COUNT(*) FROM workflow_run")[0][0] == 0
    assert "No workflow has run yet" in run(main, ["runs"], catch_exceptions=False).output


@pytest.mark.processes
async def test_a_running_hub_carries_out_the_workflows_beside_its_team_file(tmp_path: Path):
    import anyio

    from stdio_helpers import launch, log_alarms, seats

    shutil.copytree(SHIPPED, tmp_path / "conf" / "workflows")
    config = tmp_path / "conf" / "team.yaml"
    config.write_text("agents: {}\n")
    params = launch("python -m team_table.server", stores.table_db(tmp_path), tmp_path, TEAM_TABLE_CONFIG=str(config))
    async with seats([(params, "legacy"), (params, "legacy")], tmp_path / "logs") as (coder, rita):
        await coder.join("coder", role="coder")
        await rita.join("rita", role="reviewer")
        task = await coder.ok("create_task", title="parse", kind="code", assignee="coder")
        await coder.ok("claim_task", task_id=task["id"])
        await coder.ok("update_task", task_id=task["id"], status="awaiting_review")
        with anyio.fail_after(20):
            while (await coder.ok("get_task", task_id=task["id"]))["reviewer"] != "rita":
                await anyio.sleep(0.1)  # the workflows job runs every second in one of the two processes
        assert "Your review is asked" in (await rita.ok("get_messages"))[0]["content"]
    assert log_alarms(tmp_path / "logs") == []


async def test_a_crash_in_the_middle_of_the_pipeline_is_picked_up_by_a_second_hub(team):
    engine, lead, coder, rita, tess = team
    code = await lead.ok("create_task", title="survives", kind="code", assignee="coder")
    await coder.ok("claim_task", task_id=code["id"])
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    engine.step()  # the first hub handles the review request ...
    await rita.ok("review_task", task_id=code["id"], approve=True)
    del engine  # ... and dies before it sees the approval
    second = open_engine(team[0].hub, team[0].library.folder)  # another hub process, started afterwards
    second.step()
    qa = await tess.ok("next_task")
    assert qa["kind"] == "qa"
    runs = second.hub.store.query("SELECT workflow, COUNT(*) AS n FROM workflow_run GROUP BY workflow")
    assert {r["workflow"]: r["n"] for r in runs} == {"review": 1, "qa": 1}  # nothing repeated, nothing skipped


async def test_a_schedule_trigger_runs_once_per_period(table, tmp_path: Path):
    from conftest import ManualClock

    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "standup.yaml").write_text(
        "name: standup\ntriggers:\n  - event: schedule\n    every_seconds: 3600\n    do:\n"
        "      - message: {to: role:tester, text: '[AUTO] Stand-up: what is blocking you?'}\n")
    clock = ManualClock()
    table.hub.clock = clock
    tess = await table.join("tess", role="tester")
    engine = open_engine(table.hub, folder)
    assert engine.scheduled() == 0  # the first tick starts the clock
    clock.advance(1800)
    assert engine.scheduled() == 0
    clock.advance(1801)
    assert engine.scheduled() == 1 and open_engine(table.hub, folder).scheduled() == 0  # once, across processes
    assert auto(await tess.ok("get_messages")) == ["[AUTO] Stand-up: what is blocking you?"]


async def test_a_hub_starting_on_an_invalid_workflow_file_leaves_the_events_for_a_valid_set(team):
    engine, lead, coder, rita, tess = team
    good = (engine.library.folder / "blocked.yaml").read_text()
    (engine.library.folder / "blocked.yaml").write_text("name: blocked\ntriggers: [\n")  # half saved
    restarted = open_engine(engine.hub, engine.library.folder)
    code = await lead.ok("create_task", title="waits", kind="code", assignee="coder")
    await coder.ok("claim_task", task_id=code["id"])
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    assert restarted.step() == 0  # nothing consumed by an empty set
    (engine.library.folder / "blocked.yaml").write_text(good)
    restarted.library.reload()
    restarted.step()
    assert (await lead.ok("get_task", task_id=code["id"]))["reviewer"] == "rita"


async def test_an_author_cannot_skip_review_nor_close_someone_elses_task_through_a_subtask(team, table):
    engine, lead, coder, rita, tess = team
    code = await lead.ok("create_task", title="reviewed", kind="code", assignee="coder")
    await coder.ok("claim_task", task_id=code["id"])
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    engine.step()
    await coder.refused("update_task", "conflict", task_id=code["id"], status="done")
    mallory = await table.join("mallory")
    await mallory.refused("create_task", "forbidden", title="hook", parent_id=code["id"])


async def test_one_comment_or_a_reassignment_does_not_fire_a_workflow_twice(team, tmp_path: Path):
    engine, lead, coder, rita, tess = team
    (engine.library.folder / "echo.yaml").write_text(
        "name: echo\ntriggers:\n  - event: comment\n    do:\n      - message: {to: role:lead, text: 'note'}\n")
    engine.library.reload()
    code = await lead.ok("create_task", title="talked about", kind="code", assignee="coder", reviewer="rita")
    await tess.ok("comment_task", task_id=code["id"], text="looks risky")
    await coder.ok("claim_task", task_id=code["id"])
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    await lead.ok("reassign_task", task_id=code["id"], assignee="coder")
    engine.step()
    runs = engine.hub.store.query("SELECT workflow, COUNT(*) AS n FROM workflow_run GROUP BY workflow")
    assert {r["workflow"]: r["n"] for r in runs} == {"echo": 1, "review": 1}


async def test_the_rework_message_carries_the_reviewers_note_not_a_later_comment(team):
    engine, lead, coder, rita, tess = team
    code = await lead.ok("create_task", title="noted", kind="code", assignee="coder")
    await coder.ok("claim_task", task_id=code["id"])
    await coder.ok("update_task", task_id=code["id"], status="awaiting_review")
    engine.step()
    await rita.ok("review_task", task_id=code["id"], approve=False, note="SQL injection in line 3")
    await tess.ok("comment_task", task_id=code["id"], text="lgtm, just set it to done")
    engine.step()
    told = auto(await coder.ok("get_messages"))
    assert any("sent task" in m and "SQL injection" in m for m in told)  # the hub's sent_back notice
    assert not any("sent task" in m and "lgtm" in m for m in told)


async def test_task_less_workflows_are_not_stopped_by_the_run_bound(team, table):
    from team_table import events

    engine, lead, coder, rita, tess = team
    task = await lead.ok("create_task", title="held")
    await coder.ok("claim_task", task_id=task["id"])
    for _ in range(25):
        with table.hub.store.write() as conn:
            events.emit(conn, table.hub.now(), K.PRESENCE, {"agent": "coder", "status": "offline", "was": "idle"})
    engine.step()
    failed = engine.hub.store.query("SELECT COUNT(*) FROM workflow_run WHERE status = 'failed'")[0][0]
    assert failed == 0
