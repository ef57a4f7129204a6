"""The claude, codex and gemini presets with the real clients (Claude Code, Codex, Gemini CLI), offline: the hub starts
them when a task waits, they reach the hub with the run's token through the MCP config the preset gives them, a
scripted model (tests/model_stub.py) has them call next_task and update_task, and the next run resumes the same
session."""

from __future__ import annotations

import json
import os
import re
import uuid
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from runner_helpers import Lead, connect, team_yaml, watching
from team_table.store import open_store

from model_stub import Call, ModelStub
from network_helpers import running_hub
from real_clients import ClaudeHome, CodexHome, GeminiHome, client

# The clients the hub starts see its tools, not its engine (test_runner drives the supervisor on both): one pass.
pytestmark = [pytest.mark.anyio, pytest.mark.clients, pytest.mark.one_engine, pytest.mark.processes]

# What Claude Code's throwaway home needs in its environment (ClaudeHome.env), without the rest of the machine's.
CLAUDE_VARIABLES = ("ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC",
                    "DISABLE_AUTOUPDATER", "IS_SANDBOX", "CLAUDE_CODE_GB_DISK_CACHE_WHEN_TELEMETRY_OFF",
                    "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL")
PRESETS = {
    "claude": (ClaudeHome, "mcp__team-table__", CLAUDE_VARIABLES),
    "codex": (CodexHome, "mcp__team_table__", ()),
    "gemini": (GeminiHome, "mcp_team-table_", ("GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY")),
}


def script(model: ModelStub, tool: str, task_id: int, said: str) -> None:
    model.script([Call(tool + "next_task"),
                  Call(tool + "update_task", task_id=task_id, status="done", result=f"did {task_id}"), said])


@pytest.mark.parametrize("preset", sorted(PRESETS))
async def test_a_preset_client_does_a_waiting_task_through_the_hub_and_resumes_its_session_next_run(
        tmp_path: Path, preset: str):
    home_of, tool, variables = PRESETS[preset]
    lead = Lead.new()
    with ModelStub() as model:
        home = home_of(tmp_path / "client-home", model)
        env = {name: value for name, value in home.env().items() if name in (*variables, "HOME")}
        env["PATH"] = f"{client(preset).parent}{os.pathsep}{os.environ['PATH']}"
        yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
            "preset": preset, "env": env, "grace_seconds": 3, "max_seconds": 120}}})
        async with running_hub(tmp_path / "hub", yaml_text) as hub, watching(hub) as runs, \
                AsyncExitStack() as stack:
            boss = await connect(stack, hub, lead.token)
            script(model, tool, 1, "All done.")
            await boss.call("create_task", title="Build it", assignee="builder")
            await runs.until(lambda: runs.task(1)["status"] == "done", within=120, what="the client did task 1")
            first = (await runs.until(lambda: [r for r in runs.of("builder") if r["ended_at"]], within=60))[0]
            assert first["outcome"] == "exited", dict(first)
            session = runs.state("builder")["session_id"]
            assert session and runs.state("builder")["session_client"] == preset and first["session_id"] == session
            asked = [r for r in model.requests if r.conversational]
            assert "task 1 (Build it)" in asked[0].text  # the prompt said what waited

            script(model, tool, 2, "Second done.")
            await boss.call("create_task", title="Build more", assignee="builder")
            await runs.until(lambda: runs.task(2)["status"] == "done", within=120, what="the client did task 2")
            second = (await runs.until(lambda: [r for r in runs.of("builder")[1:] if r["ended_at"]], within=60))[0]
            assert second["outcome"] == "exited" and second["session_id"] == session
            resumed = [r for r in model.requests if r.conversational][len(asked):]
            assert resumed and "All done." in resumed[0].text  # the first run's conversation carried over

            written = {path.name: path.read_text()
                       for path in (hub.files.folder / ".team-table" / "runs" / "builder").glob("*.json")}
            for text in written.values():  # a token in a file would be a literal bearer value, never a reference
                assert not re.search(r"Bearer (?!\$\{TEAM_TABLE_TOKEN\})", text), text
            if preset == "claude":  # codex takes its bearer variable on the command line, writing no MCP file
                assert "${TEAM_TABLE_TOKEN}" in written["claude-mcp.json"]
            if preset == "gemini":  # the agent's own Gemini home: the client home's settings and the hub's server
                runs_folder = hub.files.folder / ".team-table" / "runs" / "builder"
                settings = (runs_folder / "gemini-home" / ".gemini" / "settings.json").read_text()
                assert not re.search(r"Bearer (?!\$\{TEAM_TABLE_TOKEN\})", settings), settings
                assert json.loads(settings)["security"] == {"auth": {"selectedType": "gemini-api-key"}}
                assert "mcpServers" not in json.loads((home.root / ".gemini" / "settings.json").read_text())


async def test_a_coder_on_claude_and_a_reviewer_on_codex_see_a_reviewed_task_through_without_a_terminal(
        tmp_path: Path):
    lead = Lead.new()
    with ModelStub() as model:
        claude, codex = ClaudeHome(tmp_path / "claude-home", model), CodexHome(tmp_path / "codex-home", model)
        path = f"{client('claude').parent}{os.pathsep}{client('codex').parent}{os.pathsep}{os.environ['PATH']}"
        coder_env = {name: value for name, value in claude.env().items() if name in (*CLAUDE_VARIABLES, "HOME")}
        agents = {"coder": {"role": "coder", "run": {"preset": "claude", "env": {**coder_env, "PATH": path},
                                                     "grace_seconds": 3}},
                  "reviewer": {"role": "reviewer", "run": {"preset": "codex",
                                                           "env": {"HOME": str(codex.root), "PATH": path},
                                                           "grace_seconds": 3}}}
        model.script([Call("mcp__team-table__next_task"),
                      Call("mcp__team-table__update_task", task_id=1, status="awaiting_review", result="built"),
                      "Ready for review.",
                      Call("mcp__team_table__review_task", task_id=1, approve=True, note="looks right"),
                      "Approved."])
        async with running_hub(tmp_path / "hub", team_yaml(lead, agents)) as hub, watching(hub) as runs, \
                AsyncExitStack() as stack:
            boss = await connect(stack, hub, lead.token)
            await boss.call("create_task", title="Build it", assignee="coder", reviewer="reviewer")
            await runs.until(lambda: runs.task(1)["status"] == "done", within=180, what="built, reviewed, done")
            coder, reviewer = runs.of("coder"), runs.of("reviewer")
            assert coder[0]["started_at"] < reviewer[0]["started_at"]  # the review started the reviewer
            assert json.loads(reviewer[0]["surfaced"])["items"][0]["kind"] == "review"
            await runs.until(lambda: all(r["ended_at"] for r in runs.of("coder") + runs.of("reviewer")))
            assert {r["outcome"] for r in runs.of("coder") + runs.of("reviewer")} == {"exited"}


@pytest.mark.parametrize("preset", ["claude", "gemini"])
async def test_a_session_that_cannot_be_resumed_is_dropped_and_the_next_run_starts_a_new_one(tmp_path: Path,
                                                                                          preset: str):
    home_of, tool, variables = PRESETS[preset]
    lead = Lead.new()
    with ModelStub() as model:
        home = home_of(tmp_path / "client-home", model)
        env = {name: value for name, value in home.env().items() if name in (*variables, "HOME")}
        env["PATH"] = f"{client(preset).parent}{os.pathsep}{os.environ['PATH']}"
        yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
            "preset": preset, "env": env, "grace_seconds": 3, "restart": {"backoff_seconds": 0.2}}}})
        async with running_hub(tmp_path / "hub", yaml_text) as hub, watching(hub) as runs, \
                AsyncExitStack() as stack:
            lost = str(uuid.uuid4())  # a session this client never had (its home was wiped, say)
            with open_store(hub.files.db).write() as conn:
                conn.execute("INSERT INTO agent_state (agent, state, since, session_client, session_id)"
                             " VALUES ('builder', 'exited', '2026-01-01T00:00:00+00:00', ?, ?)", (preset, lost))
            boss = await connect(stack, hub, lead.token)
            script(model, tool, 1, "All done.")
            await boss.call("create_task", title="Build it", assignee="builder")
            await runs.until(lambda: runs.task(1)["status"] == "done", within=120, what="the second run did it")
            first = runs.of("builder")[0]
            assert first["outcome"] == "failed" and first["session_id"] is None
            await runs.until(lambda: runs.state("builder")["session_id"] not in (None, lost), within=60)


def claude_env(home: ClaudeHome) -> dict[str, str]:
    env = {name: value for name, value in home.env().items() if name in (*CLAUDE_VARIABLES, "HOME")}
    env["PATH"] = f"{client('claude').parent}{os.pathsep}{os.environ['PATH']}"
    return env


@pytest.mark.parametrize("answer", ["allow", "silence"])
async def test_a_run_asks_the_people_before_a_tool_it_may_not_use_and_gets_their_answer_or_the_default(
        tmp_path: Path, answer: str):
    """Claude Code run by the hub wants a shell command: the question is on Needs you (a lead answers it here with
    the tool a person's button calls); allowed, the command runs; unanswered, the default (deny) applies."""
    lead = Lead.new()
    marker = tmp_path / "ran"
    with ModelStub() as model:
        home = ClaudeHome(tmp_path / "client-home", model)
        yaml_text = team_yaml(lead, {"builder": {"role": "coder", "run": {
            "preset": "claude", "env": claude_env(home), "grace_seconds": 3,
            "permissions": {"timeout_seconds": 6 if answer == "silence" else 120}}}})
        async with running_hub(tmp_path / "hub", yaml_text) as hub, watching(hub) as runs, \
                AsyncExitStack() as stack:
            boss = await connect(stack, hub, lead.token)
            model.script([Call("Bash", command=f"touch {marker}", description="mark that it ran"),
                          Call("mcp__team-table__update_task", task_id=1, status="done", result="tried"), "Done."])
            await boss.call("create_task", title="Mark it", assignee="builder")
            asked = await runs.until(lambda: [q for q in boss_questions(runs) if q["kind"] == "permission"],
                                     within=120, what="the permission prompt reached the people")
            details = json.loads(asked[0]["details"])
            assert (details["agent"], details["tool"]) == ("builder", "Bash") and str(marker) in details["description"]
            if answer == "allow":
                await boss.call("answer_question", question_id=asked[0]["id"], answer="allow")
            await runs.until(lambda: runs.task(1)["status"] == "done", within=120, what="the run went on")
            assert marker.exists() == (answer == "allow")
            closed = boss_questions(runs)[0]
            assert closed["status"] == ("answered" if answer == "allow" else "defaulted")


def boss_questions(runs) -> list:
    return [dict(r) for r in runs.store.query("SELECT * FROM question ORDER BY id")]
