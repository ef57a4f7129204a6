"""The real clients, at their pinned versions, call a real hub's tools with a scripted model (tests/model_stub.py):
Claude Code in print mode over HTTP (bearer header) and over stdio, Codex exec, Gemini CLI, and an interactive
Claude Code in tmux that takes a typed prompt. Each proves the harness (tests/real_clients.py) end to end: what the
hub records is read back by another agent, and what the model saw is read from the stub's log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import pytest

from model_stub import Call, ModelRequest, ModelStub, when
from network_helpers import NetHub, join_all, running_hub
from real_clients import ClaudeHome, CodexHome, GeminiHome, interactive, run_print
from stdio_helpers import Seat

pytestmark = [pytest.mark.anyio, pytest.mark.clients, pytest.mark.processes]


@pytest.fixture(autouse=True)
def _once(engine: str) -> None:
    if engine != "sqlite":
        pytest.skip("a test of a client, not of the store: it runs in the SQLite pass only")


@pytest.fixture
def model() -> Iterator[ModelStub]:
    with ModelStub() as stub:
        yield stub


@asynccontextmanager
async def table(tmp_path: Path) -> AsyncIterator[tuple[NetHub, Seat, Seat]]:
    """A network hub with alice and bob registered (bob reads what alice's client sends)."""
    async with running_hub(tmp_path / "hub") as hub, AsyncExitStack() as stack:
        alice, bob = await join_all(stack, hub, "alice", "bob")
        yield hub, alice, bob


async def received(bob: Seat) -> list[tuple[str, str]]:
    return [(m["sender"], m["content"]) for m in await bob.ok("get_messages")]


def sent_by_alice(request: ModelRequest) -> bool:
    """A request that carries send_message's result (the model sees what the hub answered)."""
    return '"sender":"alice"' in request.latest


async def test_claude_code_in_print_mode_sends_a_message_through_the_hub_over_http_with_a_bearer_header(
        tmp_path: Path, model: ModelStub):
    async with table(tmp_path) as (hub, alice, bob):
        home = ClaudeHome(tmp_path / "claude", model)
        home.add_hub_http(hub.url, "TEAM_TABLE_TOKEN_ALICE", alice.token)
        model.script([Call("mcp__team-table__send_message", recipient="bob", content="hello from claude, http"),
                      "Sent."])
        run = await run_print(home, "-p", "Tell bob hello", "--allowedTools", "mcp__team-table")
        assert (run.returncode, run.stdout.strip()) == (0, "Sent."), run.stderr
        assert await received(bob) == [("alice", "hello from claude, http")]
        assert "You are alice" in model.conversation()[0].text  # the bearer token bound the connection
        model.wait_for(sent_by_alice, within=1)


async def test_claude_code_in_print_mode_sends_a_message_through_a_stdio_hub(tmp_path: Path, model: ModelStub):
    async with table(tmp_path) as (hub, alice, bob):
        home = ClaudeHome(tmp_path / "claude", model)
        home.add_hub_stdio(hub.files.db, "alice", "TEAM_TABLE_TOKEN_ALICE", alice.token,
                           "--config", str(hub.files.config))
        model.script([Call("mcp__team-table__send_message", recipient="bob", content="hello from claude, stdio"),
                      "Sent."])
        run = await run_print(home, "-p", "Tell bob hello", "--allowedTools", "mcp__team-table")
        assert (run.returncode, run.stdout.strip()) == (0, "Sent."), run.stderr
        assert await received(bob) == [("alice", "hello from claude, stdio")]
        model.wait_for(sent_by_alice, within=1)


async def test_codex_exec_sends_a_message_through_the_hub_with_a_bearer_token_variable(
        tmp_path: Path, model: ModelStub):
    async with table(tmp_path) as (hub, alice, bob):
        home = CodexHome(tmp_path / "codex", model)
        home.add_hub_http(hub.url, "TEAM_TABLE_TOKEN_ALICE", alice.token)
        model.script([Call("mcp__team_table__send_message", recipient="bob", content="hello from codex"), "Sent."])
        run = await run_print(home, "exec", "--json", "--skip-git-repo-check", "Tell bob hello")
        assert run.returncode == 0, run.stderr
        calls = [e["item"] for e in run.events() if e.get("type") == "item.completed"
                 and e["item"].get("type") == "mcp_tool_call"]
        assert [(c["server"], c["tool"], c["status"]) for c in calls] == [("team-table", "send_message", "completed")]
        assert await received(bob) == [("alice", "hello from codex")]
        assert "mcp__team_table.send_message" in model.conversation()[0].tools  # one namespace for the hub


async def test_gemini_cli_sends_a_message_through_the_hub_over_http(tmp_path: Path, model: ModelStub):
    async with table(tmp_path) as (hub, alice, bob):
        home = GeminiHome(tmp_path / "gemini", model)
        home.add_hub_http(hub.url, "TEAM_TABLE_TOKEN_ALICE", alice.token)
        model.script([Call("mcp_team-table_send_message", recipient="bob", content="hello from gemini"), "Sent."])
        run = await run_print(home, "-p", "Tell bob hello", "--yolo")
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip().endswith("Sent.")
        assert await received(bob) == [("alice", "hello from gemini")]


async def test_an_interactive_claude_code_takes_a_typed_prompt_and_calls_the_hub(tmp_path: Path, model: ModelStub):
    async with table(tmp_path) as (hub, alice, bob):
        home = ClaudeHome(tmp_path / "claude", model)
        home.add_hub_http(hub.url, "TEAM_TABLE_TOKEN_ALICE", alice.token)
        model.script([when("Tell bob", Call("mcp__team-table__send_message", recipient="bob",
                                            content="hello from the terminal")), "Sent."])
        async with interactive(home, "--allowedTools", "mcp__team-table") as session:
            assert session.record()["messagingSocketPath"]  # the session lists itself for other sessions
            await session.type("Tell bob hello")
            await model.until(sent_by_alice, within=30)
            await session.wait_for("Sent.")
        assert await received(bob) == [("alice", "hello from the terminal")]
