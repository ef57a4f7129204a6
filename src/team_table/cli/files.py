"""`init`, `check` and `token`: the team file and the agents' credentials."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import click

from team_table import team_file, tokens
from team_table.cli import invoked_as, load_settings
from team_table.config import Team, load_team, parse_team
from team_table.errors import ConfigError, Conflict, Invalid
from team_table.names import check_name, token_variable
from team_table.settings import Settings, find_config
from team_table.team_file import CannotEdit
from team_table.yaml_files import read_config_file


def starter_text() -> str:
    return resources.files("team_table.starter").joinpath("team.yaml").read_text(encoding="utf-8")


def starter_workflows() -> dict[str, str]:
    """The example workflows (and the folder's README), by file name."""
    folder = resources.files("team_table.starter").joinpath("workflows")
    return {item.name: item.read_text(encoding="utf-8") for item in folder.iterdir()
            if item.name.endswith((".yaml", ".md"))}


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), default="team.yaml")
@click.option("--no-workflows", "no_workflows", is_flag=True, help="Write team.yaml only, no workflows/ beside it.")
def init(file: Path, no_workflows: bool) -> None:
    """Write a commented starter team.yaml, and the example workflows beside it (never overwrites).

    The workflows (workflows/*.yaml beside team.yaml) open a review when a coder finishes, a QA task once
    it is approved, and tell the lead of blocked work: edit or delete them as you like.

    \b
    Example:
      team-table init              # ./team.yaml and ./workflows/
      team-table init ops/team.yaml
    """
    if file.exists():
        raise Conflict(f"{file} already exists; nothing was written. Edit it, or give another path.")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(starter_text(), encoding="utf-8")
    wrote, kept = [str(file)], []
    if not no_workflows:
        folder = file.parent / "workflows"
        folder.mkdir(exist_ok=True)
        for name, text in sorted(starter_workflows().items()):
            target = folder / name
            if target.exists():
                kept.append(str(target))
            else:
                target.write_text(text, encoding="utf-8")
                wrote.append(str(target))
    run = invoked_as()
    click.echo(f"Wrote {', '.join(wrote)}." + (f" Kept as they were: {', '.join(kept)}." if kept else ""))
    click.echo(f"Next: `{run} token NAME --write` for each agent with a token, `{run} check {file}`, "
               f"then `{run} up`.")


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
@click.option("--write", is_flag=True,
              help="Add the hash to team.yaml yourself: under NAME if it is declared, else as a new entry; every "
                   "other line of the file is kept as it is.")
@click.option("--transport", type=click.Choice(["stdio", "sse", "streamable-http"]), default=None,
              help="How the hub is served, for the lines printed [env TEAM_TABLE_TRANSPORT; team.yaml].")
@click.option("--port", type=int, default=None,
              help="The network hub's port, for the lines printed [env TEAM_TABLE_PORT; team.yaml; 8741].")
def token(name: str, config: str | None, db: str | None, role: str | None, write: bool, transport: str | None,
          port: int | None) -> None:
    """Mint a token for member NAME: prints it once, its team.yaml line and the client commands.

    The token itself is never stored: team.yaml keeps its hash. Declaring a second hash
    for an agent rotates its token without downtime; remove the old one when done.

    \b
    Examples:
      team-table token alice --write          # and add its hash to team.yaml
      team-table token boss --role person     # a human: signs in at /ui with this token
      team-table token alice --port 9000      # the lines for a hub on another port
    """
    check_name(name)
    flags = {"config": config, "db": db, "transport": transport, "port": port}
    value = tokens.mint()
    if write:
        settings, team, wrote = _write_hash(name, tokens.file_hash(value), role, flags)
    else:
        settings, team = load_settings(**flags)
        _check_role(team, role)
        wrote = None
    declared = team.agents.get(name)
    role = role or (declared.role if declared else "agent")
    click.echo(f"Token for {name} (shown once, keep it secret):\n\n  {value}\n")
    if isinstance(wrote, str):
        click.echo(wrote)
    else:
        _say_where_the_hash_goes(name, tokens.file_hash(value), role, settings)
    if declared is not None and role not in declared.all_roles:
        click.echo(f"{name} is declared as {', '.join(declared.all_roles)} in {settings.config_path}; --role {role} "
                   "was not applied: change the role there if you meant it.\n")
    if role == "person" or (declared is not None and "person" in declared.all_roles):
        _say_how_a_person_signs_in(settings)
    else:
        _say_how_to_connect(name, value, settings)
    if isinstance(wrote, CannotEdit):
        raise Invalid(f"{settings.config_path} was not changed: {wrote}. Add the hash by hand as shown above.")


def _check_role(team: Team, role: str | None) -> None:
    if role is not None and role not in team.all_roles():
        raise click.BadParameter(f"unknown role {role!r}; choose one of: {', '.join(sorted(team.all_roles()))}",
                                 param_hint="--role")


def mint_into_team_file(name: str, flags: dict) -> tuple[str, str]:
    """A new token for `name`, its hash added to team.yaml (as `token NAME --write` does): the token, and what was
    done to the file (or why nothing was)."""
    value = tokens.mint()
    _settings, _team, wrote = _write_hash(name, tokens.file_hash(value), None, flags)
    if isinstance(wrote, CannotEdit):
        raise Invalid(f"team.yaml was not changed: {wrote}. Run `{invoked_as()} token {name}` and add the hash it "
                      "prints by hand.")
    return value, wrote


def _write_hash(name: str, token_hash: str, role: str | None, flags: dict) -> tuple[Settings, Team, str | CannotEdit]:
    """Add the hash to team.yaml in place. A file that is invalid only for want of this hash (a lead declared without
    token_hashes) is fixed by it; any other problem is reported and nothing is written."""
    path = find_config(flags["config"], os.environ, Path.cwd())
    if path is None:
        raise Invalid("There is no team.yaml to write to: run `team-table init` first, or give --config FILE.")
    text = read_config_file(path)
    try:
        before: Team | None = parse_team(text, str(path))
    except ConfigError:
        before = None  # the edit may be what makes it valid; the new text is checked in full below
    if before is not None:
        _check_role(before, role)
    existed = team_file.find_agent(text, name) is not None
    try:
        new_text = team_file.with_token_hash(text, name, token_hash, role or "agent")
    except CannotEdit as exc:
        if before is None:
            parse_team(text, str(path))  # the file's own problems first
        settings, team = load_settings(**flags)
        return settings, team, exc
    parse_team(new_text, str(path))  # refused (ConfigError) before anything is written
    team_file.write_in_place(path, new_text)
    settings, team = load_settings(**flags)
    where = team_file.find_agent(new_text, name)
    line = f" (line {where.line})" if where else ""
    said = f"Added its hash to agents.{name}" if existed else \
        f"Declared {name} (role {role or 'agent'}) with its hash under agents:"
    return settings, team, f"{said} in {path}{line}; a running hub applies the edit within a second.\n"


def _say_where_the_hash_goes(name: str, token_hash: str, role: str, settings: Settings) -> None:
    path = settings.config_path
    declared = team_file.find_agent(read_config_file(path), name) if path is not None else None
    again = f"(or let `{invoked_as()} token {name} --write` mint one and put its hash there for you)"
    if declared is not None and declared.has_hashes:
        click.echo(f"{name} is declared in {path} (line {declared.line}) with token_hashes: add this line to that "
                   f"list, and remove the old hash once no client uses its token {again}:\n\n"
                   f'      - "{token_hash}"\n')
    elif declared is not None:
        click.echo(f"{name} is declared in {path} (line {declared.line}): add this key under it, beside its role "
                   f"{again}:\n\n    token_hashes: [\"{token_hash}\"]\n")
    else:
        where = path or "team.yaml (there is none here yet: `team-table init` writes one)"
        click.echo(f"Declare {name} in {where}, under agents: {again}:\n\n  {name}:\n    role: {role}\n"
                   f'    token_hashes: ["{token_hash}"]\n')


def _say_how_a_person_signs_in(settings: Settings) -> None:
    url = f"http://{settings.host}:{settings.port}/ui"
    run = invoked_as()
    hub = f"the network hub (`{run} up`)" if settings.network else \
        f"the network hub (`{run} up --transport streamable-http`; the dashboard is not served over stdio)"
    click.echo(f"Then, once the hub has the hash (a running hub applies the edit within a second), open\n"
               f"{url} in a browser, served by {hub}, and sign in with the token.")


def _say_how_to_connect(name: str, value: str, settings: Settings) -> None:
    how = "over HTTP" if settings.network else "over stdio: each client starts its own hub process"
    run = invoked_as()
    url = f" --url http://{settings.host}:{settings.port}" if settings.network else ""
    click.echo(f"Then, where {name}'s client runs, put the token in its environment (it stays out of the\n"
               f"client's config and the model's context) and connect the client ({how}):\n\n"
               f"  export {token_variable(name)}={value}\n"
               f"  {run} connect claude-code {name}{url}      # or: codex, gemini\n\n"
               f"`connect` writes the MCP server, the hooks and the way the hub wakes {name} into the client's own\n"
               f"settings; `{run} connect claude-code {name} --print` prints the lines to paste by hand instead.")
