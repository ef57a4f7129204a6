"""The `team-table` command: run the hub, check its files, mint tokens, and look after the table."""

from __future__ import annotations

import importlib
import os
import shlex
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from team_table import __version__
from team_table.errors import ConfigError, TeamTableError

# Each command and where it lives: a command's module is imported only when that command runs (or --help lists
# them), so `team-table up` started by an MCP client loads only what serving needs.
COMMANDS = {
    "up": "serve:up",
    "init": "files:init", "check": "files:check", "token": "files:token",
    "members": "operator:members_cmd", "tasks": "operator:tasks_cmd", "inbox": "operator:inbox_cmd",
    "log": "operator:log_cmd", "grant": "operator:grant", "revoke": "operator:revoke", "readmit": "operator:readmit",
    "escalations": "escalations:escalations_cmd", "resolve": "escalations:resolve_cmd", "poll": "escalations:poll",
    "workflows": "flows:workflows_cmd", "runs": "flows:runs_cmd",
    "hook": "hooks:hook", "connect": "connect:connect",
    "guard": "git_guard:guard", "reservations": "reservations:reservations_cmd",
    "agents": "agents:agents_cmd",
    "migrate": "migrate:migrate",
}


class HubGroup(click.Group):
    """Maps the hub's errors to a message on stderr and exit code 1, once, for every command; loads commands
    on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f"team_table.cli.{module}"), attr)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[Any, ...]:
        found = super().resolve_command(ctx, args)
        ctx.meta["team_table.command"] = found[0]
        return found

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.Exit:
            raise
        except (click.ClickException, click.exceptions.Abort):
            if ctx.meta.get("team_table.command") == "hook":
                # A hook exits 0 on every error of its own (a usage error included): Claude Code takes exit 2 as
                # a message to wake the model with, and would show it the error text.
                ctx.exit(0)
            raise
        except BaseException as exc:
            error = _refusal_in(exc)
            if error is None:
                raise
            if isinstance(error, ConfigError):
                click.echo(f"team-table: the config file has problems:\n{error.message}", err=True)
            else:
                click.echo(f"team-table: {error.message}", err=True)
            ctx.exit(1)


def _refusal_in(exc: BaseException) -> TeamTableError | None:
    """The hub's refusal, also when it comes wrapped in task groups (a hub that could not start)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc if isinstance(exc, TeamTableError) else None


def setup_logging() -> None:
    """Logs go to stderr, structured: TEAM_TABLE_LOG_LEVEL (INFO) and TEAM_TABLE_LOG_FORMAT (logfmt or json)."""
    from team_table.cli import logs

    logs.setup(os.environ.get("TEAM_TABLE_LOG_LEVEL", "INFO"), os.environ.get("TEAM_TABLE_LOG_FORMAT", "logfmt"))


def config_options(fn: Callable) -> Callable:
    """--config and --db, shared by every command that opens the table."""
    fn = click.option("--db", "db", metavar="PATH|URL", default=None,
                      help="The table's SQLite file, or a postgresql://user@host/dbname URL [env TEAM_TABLE_DB; "
                           "default ~/.team-table/team_table.db].")(fn)
    fn = click.option("--config", "config", metavar="FILE", default=None,
                      help="team.yaml to use [env TEAM_TABLE_CONFIG; default ./team.yaml if present].")(fn)
    return fn


def invoked_as(env: Mapping[str, str] | None = None, argv0: str | None = None) -> str:
    """How the person ran this command, to repeat in what it tells them to run next: `uv run team-table` from a
    clone run with uv, the script's path when it is not on PATH (`.venv/bin/team-table`), `python -m team_table`,
    else `team-table`."""
    env = os.environ if env is None else env
    argv0 = sys.argv[0] if argv0 is None else argv0
    if env.get("UV_RUN_RECURSION_DEPTH") and env.get("UV"):  # set by `uv run` for the command it runs
        return "uv run team-table"
    if Path(argv0).name == "__main__.py":
        return f"{Path(sys.executable).name} -m team_table"
    if Path(argv0).name == "team-table":
        on_path = shutil.which("team-table", path=env.get("PATH"))
        if on_path is None or Path(on_path).resolve() != Path(argv0).resolve():
            return shlex.quote(argv0)
    return "team-table"


def load_settings(**flags: Any):
    from team_table import settings

    return settings.load(flags, os.environ, Path.cwd())


@click.group(cls=HubGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="team-table")
def main() -> None:
    """team-table: the coordination hub for a team of AI agents, over MCP.

    \b
    Start here:
      team-table init                 write a commented team.yaml to edit
      team-table up                   run the hub (prints how agents connect)
      team-table token alice          mint alice's token and her `claude mcp add` line
    \b
    Look after the table:
      team-table members              who is at the table
      team-table agents               the agents the hub runs (`run:` in team.yaml)
      team-table tasks --status pending
      team-table log --agent alice    the audit log
    """

