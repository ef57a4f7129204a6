"""How each kind of run is started and read: a plain command, or a preset for a real client (claude, codex, gemini).

A preset builds the client's command line (headless, the hub as its MCP server with the run's token referenced by
the name of its variable, never written anywhere, the agent's previous session resumed) and reads its JSON output:
the session id to resume next time, a line worth showing, the tool calls it makes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from team_table.runner.config import RunSpec

SERVER = "team-table"  # the hub's name as an MCP server in the clients' configs
TOKEN_VARIABLE = "TEAM_TABLE_TOKEN"


@dataclass(frozen=True)
class Context:
    """What a preset needs to know about the run it starts."""

    agent: str
    url: str  # the hub's MCP endpoint
    session: str | None  # the agent's previous session of this client, to resume
    files: Path  # the agent's runs folder, for files the preset generates (never the token)
    home: Path  # the run's HOME (team.yaml's env, else the hub's): where the client's own config is


@dataclass(frozen=True)
class Reading:
    """What one line of output says."""

    text: str | None = None  # worth showing as the run's last line
    session: str | None = None  # the client's session id
    tool: str | None = None  # the name of a tool it called


class Client(Protocol):
    """How one kind of run is started and read: a Command, or a preset of clients.py."""

    @property
    def name(self) -> str | None:
        """The client whose sessions its runs resume (None: a command keeps no session)."""
        ...

    def argv(self, spec: RunSpec, ctx: Context) -> tuple[str, ...]: ...

    def env(self, spec: RunSpec, ctx: Context) -> dict[str, str]:
        """Variables the client needs in its run's environment (never the token), beneath team.yaml's `env`."""
        ...

    def read(self, line: str) -> Reading: ...


class Command:
    """A command from team.yaml: its argv as given; every line is shown as it is."""

    name: str | None = None  # no session to keep

    def argv(self, spec: RunSpec, ctx: Context) -> tuple[str, ...]:
        return tuple(spec.command or ())

    def env(self, spec: RunSpec, ctx: Context) -> dict[str, str]:
        return {}

    def read(self, line: str) -> Reading:
        return Reading(text=line)


def client_for(spec: RunSpec) -> Client:
    """The client that starts and reads runs of this spec."""
    if spec.preset is None:
        return Command()
    from team_table.runner import clients

    return clients.PRESETS[spec.preset]()


def json_line(line: str) -> dict[str, Any] | None:
    """A line of JSON output as an object, or None."""
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
