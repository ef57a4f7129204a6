"""The lines a user pastes to connect an agent's client (Claude Code, Codex) to this hub."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from team_table.settings import Settings

SERVER_NAME = "team-table"


def hub_command(settings: Settings) -> list[str]:
    """The command an MCP client runs to start this hub over stdio, with absolute paths.

    The `team-table` script of this very installation (beside its Python), so the line works from any
    folder and without the virtual environment on PATH; else this Python with `-m team_table`.
    """
    script = Path(sys.executable).parent / "team-table"
    exe = [str(script)] if script.is_file() else [sys.executable, "-m", "team_table"]
    command = [*exe, "up", "--transport", "stdio"]
    if settings.config_path is not None:
        command += ["--config", str(settings.config_path.resolve())]
    command += ["--db", str(settings.db_path.resolve())]
    return command


def stdio_lines(settings: Settings, agent: str | None, token: str | None) -> dict[str, str]:
    """`claude mcp add` and `codex mcp add` lines that start this hub bound to `agent`."""
    env = []
    if agent:
        env.append(f"TEAM_TABLE_AGENT={agent}")
        env.append(f"TEAM_TABLE_TOKEN={token}" if token else "TEAM_TABLE_TOKEN=<token>")
    command = shlex.join(hub_command(settings))
    # Claude Code's -e takes several values: the server name must come before it, `--` after it.
    claude_env = "".join(f" -e {shlex.quote(e)}" for e in env)
    codex_env = "".join(f" --env {shlex.quote(e)}" for e in env)
    return {
        "Claude Code": f"claude mcp add {SERVER_NAME}{claude_env} -- {command}",
        "Codex": f"codex mcp add {SERVER_NAME}{codex_env} -- {command}",
    }


def token_variable(agent: str) -> str:
    """The environment variable a client reads an agent's token from, e.g. TEAM_TABLE_TOKEN_ALICE."""
    return "TEAM_TABLE_TOKEN_" + "".join(c if c.isalnum() else "_" for c in agent).upper()


def http_lines(url: str, agent: str) -> dict[str, str]:
    """Lines that connect a client over streamable HTTP as `agent`, its token read from an environment variable.

    The variable stays a reference in the client's config (single quotes keep the shell from expanding it),
    so the token itself is in neither the config file nor the model's context.
    """
    var = token_variable(agent)
    return {
        "Claude Code": f"claude mcp add --transport http {SERVER_NAME} {url}/mcp "
                       f"--header 'Authorization: Bearer ${{{var}}}'",
        "Codex": f"codex mcp add {SERVER_NAME} --url {url}/mcp --bearer-token-env-var {var}",
    }
