"""Today's Claude Code, connected by `team-table connect` and left idle, starts working within 2 s of another
agent's message, by each way the hub has (its plugin's monitor, an asyncRewake hook, a channel note, and over stdio
the session's own socket); a message walks every receipt state; a late answer is woken again, then escalated.
Codex and Gemini CLI, connected the same way, are told what waits by their hooks."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest

from answers import found
from team_table import tokens

from model_stub import Call, ModelStub, when
from network_helpers import NetHub, join_all, running_hub
from real_clients import ClaudeHome, CodexHome, GeminiHome, interactive, run_print
from stdio_helpers import TEAM_TABLE, Seat, hub_env

pytestmark = [pytest.mark.anyio, pytest.mark.clients, pytest.mark.processes]
WAKE_WITHIN = 2.0  # seconds from bob's send to the model's next request, the bound


@pytest.fixture(autouse=True)
def _once(engine: str) -> None:
    if engine != "sqlite":
        pytest.skip("a test of a client, not of the store: it runs in the SQLite pass only")


@pytest.fixture
def model() -> Iterator[ModelStub]:
    with ModelStub() as stub:
        yield stub


def declared(name: str, role: str = "coder") -> tuple[str, str]:
    token = tokens.mint()
    return token, f"  {name}:\n    role: {role}\n    token_hashes: [\"{tokens.file_hash(token)}\"]\n"


@asynccontextmanager
async def table(tmp_path: Path, delivery: str = "") -> AsyncIterator[tuple[NetHub, str, Seat]]:
    """A network hub declaring alice (a token of hers) and bob (registered, who writes to her)."""
    token, alice = declared("alice")
    yaml = f"agents:\n{alice}" + (f"delivery:\n{delivery}" if delivery else "")
    async with running_hub(tmp_path / "hub", yaml) as hub, AsyncExitStack() as stack:
        [bob] = await join_all(stack, hub, "bob")
        yield hub, token, bob


def connect(home: ClaudeHome | CodexHome | GeminiHome, client: str, *args: str) -> str:
    """`team-table connect CLIENT alice ...` with the client's HOME, as a user runs it; its output."""
    done = subprocess.run([TEAM_TABLE, "connect", client, "alice", "--no-token", *args], capture_output=True, text=True,
                          timeout=60, env=hub_env(home.root), cwd=home.workdir)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def idle(session, within: float = 30) -> None:
    """The session's turn is over, its Stop hooks included: it sits idle ("shell" while a monitor runs beside it)."""
    try:
        with anyio.fail_after(within):
            while session.record().get("status") not in ("idle", "shell"):
                await anyio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"not idle: {session.record()}\n{session.screen()}") from None


async def woken_by(model: ModelStub, bob: Seat, text: str = "look at the schema") -> tuple[dict, float, str]:
    """bob writes to alice; the model's next request (what woke it) within WAKE_WITHIN seconds of the send."""
    mark = model.mark()
    started = time.monotonic()
    sent = await bob.ok("send_message", recipient="alice", content=text)
    request = await model.until(f"bob wrote to you (message {sent['id']})", within=10, after=mark)
    took = request.arrived - started
    if took >= WAKE_WITHIN:
        from datetime import datetime

        [status] = await bob.ok("message_status", message_ids=[sent["id"]])
        reader = status["readers"][0]
        pushed, queued = (datetime.fromisoformat(reader[k]) for k in ("pushed_at", "queued_at"))
        hub = (pushed - queued).total_seconds()
        raise AssertionError(f"woken {took:.2f} s after the send; the hub pushed it {hub:.2f} s after it was queued")
    assert text not in request.latest  # a pointer, never the body
    return sent, took, request.latest


@pytest.mark.parametrize("way", ["monitor", "hook"])
async def test_an_idle_claude_code_connected_over_http_is_woken_by_its_plugin_monitor_or_its_hook(
        tmp_path: Path, model: ModelStub, way: str):
    async with table(tmp_path, f"  wake_order: [{way}]\n") as (hub, token, bob):
        home = ClaudeHome(tmp_path / "claude", model)
        home.variables["TEAM_TABLE_TOKEN_ALICE"] = token
        connect(home, "claude-code", "--url", hub.url)
        model.script([when("Say hello", "Hello.")])
        async with interactive(home, "--allowedTools", "mcp__team-table") as session:
            await session.wait_for_log('MCP server "team-table": Connection established')
            await session.type("Say hello")
            await session.wait_for("Hello.")
            await _until_ways(hub, token, [way])  # the monitor or the Stop hook's wait is in place
            await idle(session)
            sent, took, seen = await woken_by(model, bob)
            [status] = await bob.ok("message_status", message_ids=[sent["id"]])
            assert status["readers"][0]["pushed_via"] == way


async def test_an_idle_claude_code_over_stdio_is_woken_through_its_own_socket(tmp_path: Path, model: ModelStub):
    async with table(tmp_path) as (hub, token, bob):
        home = ClaudeHome(tmp_path / "claude", model)
        home.variables["TEAM_TABLE_TOKEN_ALICE"] = token
        stdio_yaml = tmp_path / "stdio.yaml"
        stdio_yaml.write_text(hub.files.config.read_text() + "hub:\n  transport: stdio\n")
        connect(home, "claude-code", "--config", str(stdio_yaml), "--db", hub.files.db)
        assert json.loads((home.root / ".claude.json").read_text())["mcpServers"]["team-table"]["type"] == "stdio"
        model.script([when("Say hello", "Hello.")])
        async with interactive(home, "--allowedTools", "mcp__team-table") as session:
            await session.wait_for_log('MCP server "team-table": Connection established')
            await session.type("Say hello")
            await session.wait_for("Hello.")
            await idle(session)
            sent, took, seen = await woken_by(model, bob)
            assert "Another Claude session sent a message" in seen
            [status] = await bob.ok("message_status", message_ids=[sent["id"]])
            assert status["readers"][0]["pushed_via"] == "socket"


async def test_with_channels_on_an_idle_claude_code_takes_the_channel_note(tmp_path: Path, model: ModelStub):
    async with table(tmp_path, "  wake_order: [channel]\n") as (hub, token, bob):
        home = ClaudeHome(tmp_path / "claude", model)
        home.variables["TEAM_TABLE_TOKEN_ALICE"] = token
        home.features(tengu_harbor=True)  # Anthropic's remote flag, seeded as only a test can
        connect(home, "claude-code", "--url", hub.url)
        model.script([when("Say hello", "Hello.")])
        async with interactive(home, "--allowedTools", "mcp__team-table",
                               "--dangerously-load-development-channels", "server:team-table") as session:
            await session.wait_for_log("Channel notifications registered", within=30)
            await session.type("Say hello")
            await session.wait_for("Hello.")
            await idle(session)
            sent, took, seen = await woken_by(model, bob)
            assert '<channel source="team-table" kind="wake">' in seen


async def test_a_message_walks_every_receipt_state_with_a_real_claude_code(tmp_path: Path, model: ModelStub):
    async with table(tmp_path, "  wake_order: [monitor]\n") as (hub, token, bob):
        home = ClaudeHome(tmp_path / "claude", model)
        home.variables["TEAM_TABLE_TOKEN_ALICE"] = token
        connect(home, "claude-code", "--url", hub.url)
        model.script([when("Say hello", "Hello.")])
        async with interactive(home, "--allowedTools", "mcp__team-table") as session:
            await session.wait_for_log('MCP server "team-table": Connection established')
            await session.type("Say hello")
            await session.wait_for("Hello.")
            await _until_ways(hub, token, ["monitor"])
            await idle(session)
            # Woken, the model first only says it saw something (the Stop hook then surfaces what waits and keeps
            # it working), then reads its messages, then answers in the thread.
            model.script([when("bob wrote to you", "Something came in."),
                          when("Deal with them before you stop", Call("mcp__team-table__get_messages")),
                          lambda request: Call("mcp__team-table__send_message", recipient="bob", content="on it",
                                               reply_to=_message_id(request.latest))
                          if "can you take the parser" in request.latest else None, "Answered."])
            sent = await bob.ok("send_message", recipient="alice", content="can you take the parser?")
            with anyio.fail_after(60):
                while (await bob.ok("message_status", message_ids=[sent["id"]]))[0]["readers"][0]["state"] \
                        != "acted":
                    await anyio.sleep(0.2)
        [status] = await bob.ok("message_status", message_ids=[sent["id"]])
        reader = status["readers"][0]
        assert (reader["pushed_via"], reader["surfaced_via"], reader["acted_how"]) == ("monitor", "hook", "reply")
        times = [reader[f"{s}_at"] for s in ("queued", "pushed", "surfaced", "read", "acted")]
        assert None not in times and times == sorted(times)
        [answer] = await bob.ok("get_messages")
        assert (answer["content"], answer["reply_to"]) == ("on it", sent["id"])


async def test_an_unanswered_message_is_woken_again_then_its_sender_told_then_a_person_asked(
        tmp_path: Path, model: ModelStub):
    delivery = "  wake_order: [monitor, hook]\n  overdue:\n    every_seconds: 2\n"
    async with table(tmp_path, delivery) as (hub, token, bob):
        home = ClaudeHome(tmp_path / "claude", model)
        home.variables["TEAM_TABLE_TOKEN_ALICE"] = token
        connect(home, "claude-code", "--url", hub.url)
        model.script([when("Say hello", "Hello.")])
        async with interactive(home, "--allowedTools", "mcp__team-table") as session:
            await session.wait_for_log('MCP server "team-table": Connection established')
            await session.type("Say hello")
            await session.wait_for("Hello.")
            await _until_ways(hub, token, ["monitor", "hook"])
            await idle(session)
            model.script([when("bob wrote to you", "Later."), when("waiting for your answer", "Still later.")])
            sent = await bob.ok("send_message", recipient="alice", content="which schema?", answer_within_seconds=2)
            await model.until(f"bob is waiting for your answer to message {sent['id']}", within=30)
            with anyio.fail_after(30):
                while not [m for m in await bob.ok("get_messages") if m["kind"] == "overdue"]:
                    await anyio.sleep(0.5)
                while (await bob.ok("message_status", message_ids=[sent["id"]]))[0]["readers"][0][
                        "overdue_steps"] < 3:
                    await anyio.sleep(0.5)


async def test_codex_connected_by_connect_is_told_what_waits_by_its_hooks(tmp_path: Path, model: ModelStub):
    async with table(tmp_path) as (hub, token, bob):
        await bob.ok("send_message", recipient="alice", content="the schema is ready")
        home = CodexHome(tmp_path / "codex", model)
        home.variables["TEAM_TABLE_TOKEN_ALICE"] = token
        said = connect(home, "codex", "--url", hub.url)
        assert "trust" in said
        model.script(["Noted."])
        run = await run_print(home, "exec", "--json", "--skip-git-repo-check", "--dangerously-bypass-hook-trust",
                              "Anything new?")
        assert run.returncode == 0, run.stderr
        assert "team-table: 1 unread from bob" in model.conversation()[0].text
        assert "mcp__team_table.get_messages" in model.conversation()[0].tools  # the server it wrote works


async def test_gemini_cli_connected_by_connect_is_told_what_waits_by_its_hooks(tmp_path: Path, model: ModelStub):
    async with table(tmp_path) as (hub, token, bob):
        await bob.ok("send_message", recipient="alice", content="the schema is ready")
        home = GeminiHome(tmp_path / "gemini", model)
        home.variables["TEAM_TABLE_TOKEN_ALICE"] = token
        connect(home, "gemini", "--url", hub.url)
        model.script(["Noted."])
        run = await run_print(home, "-p", "Anything new?", "--yolo")
        assert run.returncode == 0, run.stderr
        assert any("team-table: 1 unread from bob" in r.text for r in model.conversation()), \
            [r.text[-300:] for r in model.conversation()] + [run.stderr[-2000:]]
        assert any(tool.startswith("mcp_team-table_") for tool in model.conversation()[0].tools)


async def _until_ways(hub: NetHub, token: str, ways: list[str], within: float = 30) -> None:
    import httpx2

    async with httpx2.AsyncClient(timeout=5) as http:
        with anyio.fail_after(within):
            while True:
                found = (await http.get(f"{hub.url}/agents/alice/waiting",
                                        headers={"Authorization": f"Bearer {token}"})).json()["ways"]
                if all(way in found for way in ways):
                    return
                await anyio.sleep(0.1)


def _message_id(text: str) -> int:
    """The id of the first message in a get_messages result the model was shown."""

    return int(found(r'"id\\?":\s*(\d+)', text).group(1))
