"""`team-table agents`: the agents the hub runs, their state, their run's age and last line; start and stop."""

from __future__ import annotations

from datetime import datetime

import click

from team_table.cli import config_options
from team_table.cli.operator import json_option, operator_hub
from team_table.cli.output import emit_json
from team_table.clock import parse_iso
from team_table.errors import Invalid
from team_table.names import OPERATOR


@click.group("agents", invoke_without_command=True)
@config_options
@json_option
@click.pass_context
def agents_cmd(ctx, config, db, as_json) -> None:
    """The agents the hub runs (those with `run:` in team.yaml): state, run age, last line of output.

    \b
    Examples:
      team-table agents
      team-table agents --json
      team-table agents start builder     start it now, work or not (start: manual)
      team-table agents stop builder      stop its run (it starts again for new work only)
    """
    if ctx.invoked_subcommand is not None:
        return
    from team_table.runner import runs

    with operator_hub(config, db, read_only=True) as hub:
        found = runs.listing(hub)
        now = hub.clock.now()
    if as_json:
        emit_json([view.__dict__ for view in found])
        return
    if not found:
        click.echo("No agent has `run:` in team.yaml: the hub runs none (see docs/running-agents.md).")
        return
    from rich.console import Console
    from rich.table import Table

    grid = Table(title="Agents the hub runs", title_justify="left", header_style="bold")
    for column in ("agent", "state", "run", "age", "pid", "last output", "why"):
        grid.add_column(column, overflow="fold")
    for view in found:
        running = view.run_id is not None and view.ended_at is None
        grid.add_row(view.agent, view.state, str(view.run_id or "-"),
                     _age(view.started_at, now) if running else f"ended {_age(view.ended_at, now)} ago"
                     if view.ended_at else "-",
                     str(view.pid) if running and view.pid else "-", (view.last_line or "-")[:100], view.detail or "")
    Console().print(grid)


def _age(moment: str | None, now: datetime) -> str:
    if not moment:
        return "-"
    seconds = max(0, int((now - parse_iso(moment)).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _ask(config, db, name: str, what: str) -> None:
    from team_table.runner import runs

    with operator_hub(config, db) as hub:
        spec = hub.team.agents.get(name)
        if spec is None or spec.run is None:
            where = hub.settings.config_path or "team.yaml"
            raise Invalid(f"{name} has no `run:` in {where}: the hub does not run it.")
        runs.request(hub, name, what, OPERATOR)


@agents_cmd.command("start")
@click.argument("name")
@config_options
def start_cmd(name, config, db) -> None:
    """Ask the hub to start NAME now, even with nothing waiting for it."""
    _ask(config, db, name, "start")
    click.echo(f"Asked the hub to start {name}; `team-table agents` shows it.")


@agents_cmd.command("stop")
@click.argument("name")
@config_options
def stop_cmd(name, config, db) -> None:
    """Ask the hub to stop NAME's run (SIGTERM, then SIGKILL after its grace period); it starts again for new
    work only."""
    _ask(config, db, name, "stop")
    click.echo(f"Asked the hub to stop {name}'s run; `team-table agents` shows it.")
