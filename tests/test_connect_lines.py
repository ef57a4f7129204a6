"""The stdio lines `team-table connect --print` prints work as printed: each client's command, started the way that
client starts it (what it stores, expands and passes on, see client_lines), serves the hub bound to the agent, with the
token taken from the variable the user exported and never written into the line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp import Client, StdioServerParameters

import stores
from answers import found, text_of
from team_table.cli import main

import client_lines

pytestmark = [pytest.mark.anyio, pytest.mark.processes]


@pytest.mark.one_engine  # the lines connect prints; stdio hubs on PostgreSQL: test_stdio's launchers
async def test_the_printed_stdio_lines_start_a_hub_bound_to_the_agent(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "team.yaml").write_text("hub:\n  transport: stdio\nagents:\n  alice:\n    role: coder\n")
    db = stores.table_db(tmp_path)
    first = CliRunner().invoke(main, ["token", "alice", "--db", str(db)], catch_exceptions=False)
    token = found(r"export TEAM_TABLE_TOKEN_ALICE=(\S+)", first.output).group(1)
    digest = found(r"sha256:[0-9a-f]{64}", first.output).group(0)
    (tmp_path / "team.yaml").write_text(f'hub:\n  transport: stdio\nagents:\n  alice:\n    role: coder\n'
                                        f'    token_hashes: ["{digest}"]\n')
    assert "connect claude-code alice" in first.output  # token points at connect; --print has the lines
    assert token not in first.output.split("export")[-1].split("\n", 1)[1]  # only the export line holds it
    by_hand = CliRunner().invoke(main, ["connect", "claude-code", "alice", "--print", "--db", str(db)],
                                 catch_exceptions=False).output
    printed = client_lines.printed_commands(by_hand)
    assert set(printed) == {"Claude Code", "Codex", "Gemini CLI"} and token not in by_hand
    assert 'env_vars = ["TEAM_TABLE_TOKEN_ALICE"]' in printed["Codex"]  # what Codex needs to pass it on

    base = {k: v for k, v in os.environ.items() if not k.startswith("TEAM_TABLE_")}
    exported = {**base, "TEAM_TABLE_TOKEN_ALICE": token}
    stored = {
        "Claude Code": client_lines.claude(printed["Claude Code"], exported),
        "Codex": client_lines.codex(printed["Codex"], exported),
        "Gemini CLI": client_lines.gemini(printed["Gemini CLI"], exported),
    }
    assert stored["Claude Code"].scope == "user" and stored["Gemini CLI"].scope == "user"
    for client, server in stored.items():
        assert Path(server.command[0]).is_absolute(), (client, server.command)
        params = StdioServerParameters(command=server.command[0], args=server.command[1:], env=server.env, cwd="/")
        async with Client(params, mode="legacy") as session:
            assert "You are alice" in (session.instructions or ""), client
            sent = await session.call_tool("send_message", {"recipient": "bob", "content": f"hello via {client}"})
            assert not sent.is_error, (client, text_of(sent.content[0]))
            assert json.loads(text_of(sent.content[0]))["sender"] == "alice"
    assert stores.on_postgres() or Path(db).exists()
