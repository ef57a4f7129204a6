"""Real hub processes for tests: spawn stdio servers on one database and talk to them with the SDK client.

Each server's stderr goes to its own log file, so a test can check afterwards that no process
logged a traceback or a locked database, whatever the tool results said.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from conftest import Agent, Reply, listening_client  # noqa: F401 - Reply is re-exported to the tests
from support import stdio_clients

PYTHON = sys.executable
# The console script sits next to the interpreter of the venv the tests run in.
TEAM_TABLE = shutil.which("team-table", path=str(Path(PYTHON).parent)) or "team-table"

LAUNCHERS = ("team-table up", "python -m team_table.server", "python -m team_table")

# The tool names of team-table 0.2.1 (docs/compatibility.md §4).
TOOLS = frozenset({
    "register", "deregister", "list_members", "heartbeat", "send_message", "get_messages", "broadcast",
    "delete_message", "archive_message", "clear_inbox", "purge_messages", "create_task", "list_tasks",
    "claim_task", "update_task", "share_context", "get_shared_context", "get_audit_log",
})

# What a server log must never contain, even when every tool result looked fine.
LOG_ALARMS = ("Traceback", "database is locked", "failed unexpectedly")


def hub_env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without any TEAM_TABLE_* setting of the machine, HOME moved to `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAM_TABLE_")}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def launch(launcher: str, db: Path | str, home: Path, **extra_env: str) -> StdioServerParameters:
    """How an agent's client starts the hub: `team-table up --db`, or a module with TEAM_TABLE_DB."""
    by_env = hub_env(home, TEAM_TABLE_DB=str(db), **extra_env)
    if launcher == "team-table up":
        command, args, env = TEAM_TABLE, ["up", "--db", str(db)], hub_env(home, **extra_env)
    elif launcher == "python -m team_table.server":
        command, args, env = PYTHON, ["-m", "team_table.server"], by_env
    elif launcher == "python -m team_table":
        command, args, env = PYTHON, ["-m", "team_table"], by_env
    else:
        raise ValueError(f"unknown launcher {launcher!r}; one of {LAUNCHERS}")
    # cwd is the home folder: a team.yaml in the directory the tests run from must not be picked up.
    return StdioServerParameters(command=command, args=args, env=env, cwd=str(home))


class Seat(Agent):
    """One agent's client to its own hub process (its log beside it), with its name and token filled into calls."""

    def __init__(self, client: Client, log: Path, name: str = "", token: str = "") -> None:
        super().__init__(client, name, token)
        self.log = log

    async def join(self, name: str, **extra: Any) -> Seat:
        data = (await self.raw("register", name=name, **extra)).data
        assert "token" in data, data
        self.name, self.token = name, data["token"]
        return self

    def as_agent(self, name: str, token: str) -> Seat:
        """Act as an agent registered elsewhere (its token carried over) through this process."""
        self.name, self.token = name, token
        return self


@asynccontextmanager
async def seats(servers: Sequence[tuple[StdioServerParameters, str]], logs: Path,
                start_within: float = 60) -> AsyncIterator[list[Seat]]:
    """Start one hub process per (launch, era), all at once, and yield a Seat for each once all answer."""
    made = [Seat(None, logs / f"server-{index}.log") for index in range(len(servers))]  # type: ignore[arg-type]

    def open_client(index: int, errlog: Any) -> Any:
        params, era = servers[index]
        return listening_client(stdio_client(params, errlog=errlog), era, made[index])

    async def ready(client: Client) -> None:
        await client.list_tools()  # the first request waits for the process to be up

    async with stdio_clients(len(servers), open_client, ready, logs, within=start_within) as clients:
        for seat, client in zip(made, clients, strict=True):
            seat.client = client
        yield made


def log_alarms(logs: Path) -> list[str]:
    """Lines of the server logs under `logs` that name a traceback or a locked database."""
    hits = []
    for log in sorted(logs.glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if any(alarm in line for alarm in LOG_ALARMS):
                hits.append(f"{log.name}: {line}")
    return hits
