"""What the bench runs: the hub as a client starts it, the bare SDK servers it is compared with, their team.yaml."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mcp import StdioServerParameters

SHIPPED_WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
CEILING_SERVER = Path(__file__).resolve().parent / "ceiling_server.py"  # `python CEILING_SERVER http PORT` or `stdio`
# Roles an agent declared without a token may hold (none of them permits more than a member's own work).
PLAIN_ROLES = ("coder", "reviewer", "tester", "designer", "agent")

# A bare MCP server on the same SDK, served over stdio the same way, with one trivial tool.
BARE_STDIO_SERVER = '''
import anyio
from mcp.server.mcpserver import MCPServer

server = MCPServer(name="baseline")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


anyio.run(server.run_stdio_async)
'''

# The same bare server, served over streamable HTTP by uvicorn with the SDK's defaults.
BARE_HTTP_SERVER = '''
import sys

import uvicorn
from mcp.server.mcpserver import MCPServer

server = MCPServer(name="baseline", log_level="WARNING")


@server.tool()
def echo(text: str) -> str:
    """Return the text."""
    return text


uvicorn.run(server.streamable_http_app(), host="127.0.0.1", port=int(sys.argv[1]), log_config=None,
            access_log=False)
'''

# Over the network an agent's client is bound to it by its bearer token, so every message of an agent has one
# sender; the default limit (30 writes a minute per sender) would refuse most of a run, hence a limit no run
# reaches. The limit is still counted on every write.
NO_RATE_LIMIT = "limits:\n  rate:\n    writes: 1000000\n    window_seconds: 60\n"


@dataclass
class Workspace:
    """The run's temporary folder: a folder per server, their logs, and the environment they start with."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logs.mkdir(exist_ok=True)
        # No TEAM_TABLE_* of the caller's shell changes the hubs; warnings and worse go to the logs.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("TEAM_TABLE_")}
        self.env["TEAM_TABLE_LOG_LEVEL"] = "WARNING"
        # The servers keep their compiled bytecode in the run's folder, written by their first start, as an
        # installed package has it: neither PYTHONDONTWRITEBYTECODE in the caller's shell nor the stale
        # __pycache__ of a tree being edited makes them compile their sources at every start.
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.env["PYTHONPYCACHEPREFIX"] = str(self.root / "pycache")

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def folder(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(exist_ok=True)
        return path

    def hub(self, folder: Path, db: str = "hub.db") -> StdioServerParameters:
        """A stdio hub as an agent's MCP client starts it, in `folder` (its team.yaml, if any, is there)."""
        return StdioServerParameters(command=sys.executable, args=["-m", "team_table.server"],
                                     env={**self.env, "TEAM_TABLE_DB": str(folder / db)}, cwd=str(folder))

    def bare_stdio(self) -> StdioServerParameters:
        script = self.root / "bare_stdio_server.py"
        script.write_text(BARE_STDIO_SERVER)
        return StdioServerParameters(command=sys.executable, args=[str(script)], env=self.env, cwd=str(self.root))

    def bare_http(self, port: int) -> list[str]:
        script = self.root / "bare_http_server.py"
        script.write_text(BARE_HTTP_SERVER)
        return [sys.executable, str(script), str(port)]


def network_hub(launcher: list[str], folder: Path, port: int, db: str | None = None) -> list[str]:
    """`team-table up` over streamable HTTP on loopback, with the team.yaml of `folder` and its database (or `db`:
    another file, or a PostgreSQL URL)."""
    return [*launcher, "up", "--transport", "streamable-http", "--host", "127.0.0.1", "--port", str(port),
            "--db", db or str(folder / "hub.db"), "--config", str(folder / "team.yaml")]


def write_team(folder: Path, *, agents: int = 0, hub: dict[str, str] | None = None, extra: str = "",
               workflows: bool = False) -> Path:
    """A team.yaml in `folder`: `hub:` settings, `agents` declared agents without tokens, and `extra` sections;
    with `workflows`, a copy of the repository's shipped workflows/ beside it."""
    lines = []
    if hub:
        lines += ["hub:", *(f"  {key}: {value}" for key, value in hub.items())]
    if agents:
        lines.append("agents:")
        for n in range(agents):
            lines += [f"  agent-{n}:", f"    role: {PLAIN_ROLES[n % len(PLAIN_ROLES)]}",
                      "    capabilities: [python]"]
    path = folder / "team.yaml"
    path.write_text("\n".join(lines) + "\n" + extra)
    if workflows:
        shutil.copytree(SHIPPED_WORKFLOWS, folder / "workflows", dirs_exist_ok=True)
    return path
