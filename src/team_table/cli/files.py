"""`init`, `check` and `token`: the team file and the agents' credentials."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import click

from team_table import tokens
from team_table.cli import load_settings
from team_table.cli.connect import hearing_lines, http_lines, show, stdio_lines
from team_table.config import Team, load_team
from team_table.errors import Conflict, Invalid
from team_table.names import check_name, token_variable
from team_table.settings import find_config


def starter_text() -> str:
    return resources.files("team_table.starter").joinpath("team.yaml").read_text(encoding="utf-8")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), default="team.yaml")
def init(file: Path) -> None:
    """Write a commented starter team.yaml (never overwrites).

    \b
    Example:
      team-table init              # ./team.yaml
      team-table init ops/team.yaml
    """
    if file.exists():
        raise Conflict(f"{file} already exists; nothing was written. Edit it, or give another path.")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(starter_text(), encoding="utf-8")
    click.echo(f"Wrote {file}. Next: `team-table token NAME` for each agent, then `team-table check {file}`.")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--diff", "show_diff", is_flag=True, help="Also show what a reload would change in the running hub.")
@click.option("--db", metavar="PATH|URL", default=None,
              help="The table's SQLite file or PostgreSQL URL, for --diff [env TEAM_TABLE_DB].")
def check(file: Path | None, show_diff: bool, db: str | None) -> None:
    """Validate team.yaml exactly as a reload does; print every problem (exit 1 if any).

    \b
    Examples:
      team-table check
      team-table check ops/team.yaml --diff
    """
    path = file or find_config(None, os.environ, Path.cwd())
    if path is None:
        raise Invalid("No team.yaml here and TEAM_TABLE_CONFIG is not set; give the file: team-table check FILE.")
    team = load_team(path)
    click.echo(f"{path}: valid. {_summary(team)}")
    folder = path.parent / "workflows"
    if folder.is_dir():  # the workflows beside the file are checked as the hub would load them
        from team_table.workflow.library import load_folder

        found, _ = load_folder(folder)
        click.echo(f"{folder}: {len(found)} valid workflow(s): {', '.join(sorted(found)) or 'none'}.")
    if show_diff:
        _print_diff(path, team, db)


def _print_diff(path: Path, team: Team, db: str | None) -> None:
    from team_table import reload
    from team_table.runtime import open_table

    settings, _ = load_settings(config=str(path), db=db)
    running = None
    if settings.db_url or settings.db_path.is_file():
        with open_table(settings, team, read_only=True) as hub:
            running = reload.applied(hub)
    if running is None:
        click.echo(f"No hub has run on {settings.database} yet: nothing to compare with.")
        return
    change = reload.diff(running, team)
    if change.empty:
        click.echo("A reload would change nothing in the running hub.")
        return
    click.echo("A reload would change:")
    for key, value in change.summary().items():
        shown = ", ".join(value) if isinstance(value, list) else "yes"
        note = " (takes effect when the hub restarts)" if key == "hub_changed" else ""
        click.echo(f"  {key.replace('_', ' ')}: {shown}{note}")


def _summary(team: Team) -> str:
    with_tokens = sum(1 for a in team.agents.values() if a.token_hashes)
    rate = team.limits.rate
    return (f"{len(team.agents)} agents declared ({with_tokens} with tokens), {len(team.all_roles())} roles, "
            f"rate limit {rate.writes} writes per {rate.window_seconds:g} s.")


@click.command()
@click.argument("name")
@click.option("--config", metavar="FILE", default=None, help="team.yaml the hub uses [env TEAM_TABLE_CONFIG].")
@click.option("--db", metavar="PATH|URL", default=None,
              help="The table's SQLite file or PostgreSQL URL [env TEAM_TABLE_DB].")
@click.option("--role", metavar="ROLE", default=None,
              help="The role to declare NAME with (default: its declared role, else agent); `person` for a human "
                   "who signs in to the dashboard.")
def token(name: str, config: str | None, db: str | None, role: str | None) -> None:
    """Mint a token for member NAME: prints it once, its team.yaml line and the client commands.

    The token itself is never stored: team.yaml keeps its hash. Declaring a second hash
    for an agent rotates its token without downtime; remove the old one when done.

    \b
    Examples:
      team-table token alice
      team-table token boss --role person     # a human: signs in at /ui with this token
    """
    check_name(name)
    settings, team = load_settings(config=config, db=db)
    if role is not None and role not in team.all_roles():
        raise click.BadParameter(f"unknown role {role!r}; choose one of: {', '.join(sorted(team.all_roles()))}",
                                 param_hint="--role")
    value = tokens.mint()
    declared = team.agents.get(name)
    role = role or (declared.role if declared else "agent")
    click.echo(f"Token for {name} (shown once, keep it secret):\n\n  {value}\n")
    if declared and declared.token_hashes:
        click.echo(f"Add this hash to agents.{name}.token_hashes in {settings.config_path}:\n\n"
                   f'      - "{tokens.file_hash(value)}"\n')
    else:
        where = settings.config_path or "team.yaml"
        click.echo(f"Declare {name} in {where} (under agents:):\n\n  {name}:\n    role: {role}\n"
                   f'    token_hashes: ["{tokens.file_hash(value)}"]\n')
    if role == "person" or (declared is not None and "person" in declared.all_roles):
        url = f"http://{settings.host}:{settings.port}/ui"
        hub = "the network hub (`team-table up`)" if settings.network else \
            "the network hub (`team-table up --transport streamable-http`; the dashboard is not served over stdio)"
        click.echo(f"Then, once the hub has the hash (a running hub applies the edit within a second), open\n"
                   f"{url} in a browser, served by {hub}, and sign in with the token.")
        return
    how = "over HTTP" if settings.network else "over stdio: each client starts its own hub process"
    click.echo(f"Then, where {name}'s client runs, put the token in its environment (it stays out of the\n"
               f"client's config and the model's context) and add the hub ({how}):\n\n"
               f"  export {token_variable(name)}={value}\n")
    url = f"http://{settings.host}:{settings.port}" if settings.network else None
    show(http_lines(url, name) if url else stdio_lines(settings, name))
    click.echo("\n".join(hearing_lines(settings, name, url)))
