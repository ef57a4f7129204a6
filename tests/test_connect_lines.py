"""The `claude mcp add` / `codex mcp add` lines the CLI prints work as printed: their command, run the way
the client would run it, serves the hub bound to the agent."""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from mcp import Client, StdioServerParameters

from team_table.cli import main

pytestmark = pytest.mark.anyio


def parse_claude_line(line: str) -> tuple[dict[str, str], list[str]]:
    """What Claude Code stores for `claude mcp add NAME -e K=V ... -- CMD ARGS`: the env and the command."""
    words = shlex.split(line)
    assert words[:4] == ["claude", "mcp", "add", "team-table"], words
    split = words.index("--")
    env = {}
    options = words[4:split]
    while options:
        flag, value, *options = options
        assert flag == "-e", flag
        key, _, val = value.partition("=")
        env[key] = val
    return env, words[split + 1:]


async def test_the_printed_stdio_line_starts_a_hub_bound_to_the_agent(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "team.yaml").write_text("agents:\n  alice:\n    role: coder\n")
    db = tmp_path / "db" / "team.db"
    first = CliRunner().invoke(main, ["token", "alice", "--db", str(db)], catch_exceptions=False)
    digest = re.search(r"sha256:[0-9a-f]{64}", first.output).group(0)
    (tmp_path / "team.yaml").write_text(f'agents:\n  alice:\n    role: coder\n    token_hashes: ["{digest}"]\n')
    line = next(x.strip() for x in first.output.splitlines() if x.strip().startswith("claude mcp add"))
    env, command = parse_claude_line(line)
    assert env["TEAM_TABLE_AGENT"] == "alice" and Path(command[0]).is_absolute()

    base = {k: v for k, v in os.environ.items() if not k.startswith("TEAM_TABLE_")}
    params = StdioServerParameters(command=command[0], args=command[1:], env={**base, **env}, cwd="/")
    async with Client(params, mode="legacy") as client:
        assert "You are alice" in client.instructions
        sent = await client.call_tool("send_message", {"recipient": "bob", "content": "hello from alice"})
        assert not sent.is_error, sent.content[0].text
        assert json.loads(sent.content[0].text)["sender"] == "alice"
        assert db.exists()
