"""`team-table hook claude-code EVENT`, run as Claude Code runs it: its JSON on stdin, the answer on stdout, exit 0
whatever happens, silent when nothing waits, and a Stop that never keeps an agent working forever."""

from __future__ import annotations

import json
import subprocess
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

import stores
from team_table import members, messages, tasks
from team_table.config import EMPTY_TEAM
from team_table.runtime import open_table
from team_table.settings import resolve

from network_helpers import join_all, running_hub
from stdio_helpers import TEAM_TABLE, hub_env
from support import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.processes]


def hook(event: str, home: Path, *args: str, stdin: dict | None = None, env: dict | None = None):
    done = subprocess.run([TEAM_TABLE, "hook", "claude-code", event, *args], input=json.dumps(stdin or {}),
                          capture_output=True, text=True, timeout=30, env=hub_env(home, **(env or {})))
    return done.returncode, (json.loads(done.stdout) if done.stdout.strip() else None), done.stderr


@pytest.fixture
def table_file(tmp_path: Path) -> str:
    """A table where bob wrote alice twice, carol once, and a task waits for alice's review."""
    db = stores.table_db(tmp_path)
    with open_table(resolve({"db": str(db)}, {}, EMPTY_TEAM, None), EMPTY_TEAM) as hub:
        for name in ("alice", "bob", "carol", "dave"):
            members.register(hub, name, "reviewer", "[]", "")
        bob, carol, dave = (hub.caller(n, ("reviewer",)) for n in ("bob", "carol", "dave"))
        messages.send(hub, bob, "alice", "one")
        messages.send(hub, bob, "alice", "two")
        messages.send(hub, carol, "alice", "three")
        task = tasks.create(hub, dave, "a change", reviewer="alice")
        from team_table import claims

        claims.claim(hub, dave, task.id)
        tasks.update(hub, dave, task.id, "awaiting_review")
    return db


@pytest.mark.parametrize("event", ["SessionStart", "UserPromptSubmit"])
def test_the_start_and_prompt_hooks_add_what_waits_as_context(tmp_path, table_file, event):
    code, answer, stderr = hook(event, tmp_path, "--agent", "alice", "--db", str(table_file),
                                stdin={"session_id": "s1", "hook_event_name": event})
    assert code == 0 and stderr == ""
    context = answer["hookSpecificOutput"]
    assert context["hookEventName"] == event
    assert "2 unread from bob, 1 from carol; task 1 waits for your review" in context["additionalContext"]


def test_the_stop_hook_keeps_the_agent_working_a_bounded_number_of_times(tmp_path, table_file):
    args = ("--agent", "alice", "--db", str(table_file), "--max-blocks", "2")
    first = hook("Stop", tmp_path, *args, stdin={"session_id": "s1", "stop_hook_active": False})
    assert first[1]["decision"] == "block" and "2 unread from bob" in first[1]["reason"]
    second = hook("Stop", tmp_path, *args, stdin={"session_id": "s1", "stop_hook_active": True})
    assert second[1]["decision"] == "block"
    third = hook("Stop", tmp_path, *args, stdin={"session_id": "s1", "stop_hook_active": True})
    assert third[:2] == (0, None)  # twice in a row is the most: the agent may stop now
    again = hook("Stop", tmp_path, *args, stdin={"session_id": "s1", "stop_hook_active": False})
    assert again[1]["decision"] == "block"  # a new turn starts the count afresh


def test_the_hooks_are_silent_when_nothing_waits(tmp_path, table_file):
    for event in ("SessionStart", "UserPromptSubmit", "Stop"):
        assert hook(event, tmp_path, "--agent", "dave", "--db", str(table_file)) == (0, None, "")


@pytest.mark.one_engine  # no hub and no database to reach: the same run on either engine
@pytest.mark.parametrize("where", [["--url", "http://127.0.0.1:{port}"], ["--db", "{missing}"], []])
def test_a_hook_exits_0_silently_when_the_hub_is_down_or_unknown(tmp_path, where):
    args = [w.format(port=free_port(), missing=tmp_path / "nope.db") for w in where]
    for event in ("SessionStart", "Stop"):
        assert hook(event, tmp_path, "--agent", "alice", *args, stdin={"session_id": "x"}) == (0, None, "")
    assert hook("Stop", tmp_path, "--db", str(tmp_path / "nope.db")) == (0, None, "")  # no agent at all


async def test_a_hook_asks_a_network_hub_with_the_agents_token(tmp_path: Path):
    async with running_hub(tmp_path, "") as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        await bob.ok("send_message", recipient="alice", content="over http")
        code, answer, _ = hook("SessionStart", tmp_path, "--agent", "alice", "--url", hub.url,
                               env={"TEAM_TABLE_TOKEN_ALICE": alice.token})
        assert code == 0 and "1 unread from bob" in answer["hookSpecificOutput"]["additionalContext"]
        assert hook("SessionStart", tmp_path, "--agent", "alice", "--url", hub.url,
                    env={"TEAM_TABLE_TOKEN_ALICE": "wrong"}) == (0, None, "")


def test_the_hooks_connect_prints_run_as_printed(tmp_path, table_file):
    printed = subprocess.run([TEAM_TABLE, "connect", "claude-code", "alice", "--print", "--db", str(table_file)],
                             capture_output=True, text=True, timeout=30, env=hub_env(tmp_path), cwd=tmp_path,
                             check=True).stdout
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "{")
    end = next(i for i in range(start, len(lines)) if lines[i] == "    }")
    settings = json.loads("\n".join(lines[start:end + 1]))
    assert set(settings["hooks"]) == {"SessionStart", "Stop"}  # over stdio: no wait hooks, the socket wakes it
    assert "claude --dangerously-load-development-channels server:team-table" in printed
    stop = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
    for client in ("claude-code", "codex"):  # Codex reads the same answer
        done = subprocess.run(stop.replace("claude-code", client), shell=True, input='{"session_id": "p"}',
                              capture_output=True, text=True, timeout=30, env=hub_env(tmp_path))
        assert done.returncode == 0 and json.loads(done.stdout)["decision"] == "block"
