"""The lines a user pastes to connect an agent's client (Claude Code, Codex, Gemini CLI) to this hub.

The token never appears in a line: each client reads it from an environment variable where it runs
(TEAM_TABLE_TOKEN_<AGENT>), so it stays out of the client's config file and out of the model's context.
Claude Code and Gemini CLI expand `${VAR}` in what they store; Codex passes named variables through
(`env_vars`) or reads a bearer token from one (`--bearer-token-env-var`).
"""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import click

from team_table.names import token_variable
from team_table.settings import Settings

SERVER_NAME = "team-table"


@dataclass(frozen=True)
class Lines:
    """For each client, the command to paste, and any extra step it needs (said in words)."""

    commands: dict[str, str]
    notes: dict[str, list[str]] = field(default_factory=dict)
    snippets: dict[str, list[str]] = field(default_factory=dict)  # config lines to add, printed as they are


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
    command += ["--db", settings.database_for_others]
    return command


SCOPE_NOTE = ("--scope user makes the hub visible in every folder you start the client in; without it, Claude "
              "Code and Gemini CLI keep the server for the folder you run the line in only.")
GEMINI_NOTE = ("Gemini CLI uses MCP servers only in folders it trusts (add the project folder to "
               "~/.gemini/trustedFolders.json, or start it once and trust the folder). Run `gemini mcp add` and "
               "`gemini mcp remove` with the token variable unset: they rewrite settings.json with every "
               "${VARIABLE} expanded.")


def stdio_lines(settings: Settings, agent: str | None) -> Lines:
    """Lines that start this hub over stdio, bound to `agent` (its token read from TEAM_TABLE_TOKEN_<AGENT>)."""
    parts = hub_command(settings)
    command = shlex.join(parts)
    # Gemini CLI reads options anywhere on its line: the hub's own (--transport, --config) go after `--`.
    gemini_command = f"{shlex.quote(parts[0])} -- {shlex.join(parts[1:])}"
    if not agent:
        return Lines({
            "Claude Code": f"claude mcp add --scope user {SERVER_NAME} -- {command}",
            "Codex": f"codex mcp add {SERVER_NAME} -- {command}",
            "Gemini CLI": f"gemini mcp add --scope user {SERVER_NAME} {gemini_command}",
        }, {"Claude Code": [SCOPE_NOTE], "Gemini CLI": [GEMINI_NOTE]})
    var = token_variable(agent)
    bound = shlex.quote(f"TEAM_TABLE_AGENT={agent}")
    token = shlex.quote(f"TEAM_TABLE_TOKEN=${{{var}}}")
    return Lines({
        # Claude Code's -e takes several values: the server name comes before it, `--` after it.
        "Claude Code": f"claude mcp add --scope user {SERVER_NAME} -e {bound} -e {token} -- {command}",
        "Gemini CLI": f"gemini mcp add --scope user {SERVER_NAME} -e {bound} -e {token} {gemini_command}",
    }, {
        "Claude Code": [SCOPE_NOTE],
        "Codex": ["Codex passes a stdio server only the variables it is told to, which `codex mcp add` cannot say: "
                  "add this table to ~/.codex/config.toml instead (`codex mcp list` shows it):"],
        "Gemini CLI": [GEMINI_NOTE],
    }, {"Codex": codex_table(hub_command(settings), {"TEAM_TABLE_AGENT": agent}, [var])})


def codex_table(command: list[str], env: dict[str, str], env_vars: list[str]) -> list[str]:
    """A [mcp_servers.team-table] table of Codex's config.toml, in TOML (strings as JSON strings, which TOML
    reads the same)."""
    def text(value: str) -> str:
        return json.dumps(value)

    return [f"[mcp_servers.{SERVER_NAME}]", f"command = {text(command[0])}",
            f"args = [{', '.join(text(a) for a in command[1:])}]",
            "env = { " + ", ".join(f"{k} = {text(v)}" for k, v in env.items()) + " }",
            f"env_vars = [{', '.join(text(v) for v in env_vars)}]"]


def http_lines(url: str, agent: str | None) -> Lines:
    """Lines that connect a client over streamable HTTP, as `agent` (bearer token from its variable) if given."""
    mcp = f"{url}/mcp"
    if not agent:
        return Lines({
            "Claude Code": f"claude mcp add --scope user --transport http {SERVER_NAME} {mcp}",
            "Codex": f"codex mcp add {SERVER_NAME} --url {mcp}",
            "Gemini CLI": f"gemini mcp add --scope user --transport http {SERVER_NAME} {mcp}",
        }, {"Claude Code": [SCOPE_NOTE], "Gemini CLI": [GEMINI_NOTE]})
    var = token_variable(agent)
    # Single quotes keep the shell from expanding the variable: the client stores the reference, not the token.
    header = shlex.quote(f"Authorization: Bearer ${{{var}}}")
    return Lines({
        "Claude Code": f"claude mcp add --scope user --transport http {SERVER_NAME} {mcp} --header {header}",
        "Codex": f"codex mcp add {SERVER_NAME} --url {mcp} --bearer-token-env-var {var}",
        "Gemini CLI": f"gemini mcp add --scope user --transport http {SERVER_NAME} {mcp} -H {header}",
    }, {"Claude Code": [SCOPE_NOTE], "Gemini CLI": [GEMINI_NOTE]})


def show(lines: Lines, *, indent: str = "  ", err: bool = False) -> None:
    """Print each client's line, and under it what else that client needs."""
    for client in (c for c in ("Claude Code", "Codex", "Gemini CLI") if c in lines.commands or c in lines.snippets):
        click.echo(f"{indent}{client}:", err=err)
        if client in lines.commands:
            click.echo(f"{indent}  {lines.commands[client]}", err=err)
        for note in lines.notes.get(client, ()):
            click.echo(textwrap.fill(note, 100, initial_indent=f"{indent}  ", subsequent_indent=f"{indent}  "),
                       err=err)
        for snippet in lines.snippets.get(client, ()):
            click.echo(f"{indent}    {snippet}", err=err)
        click.echo("", err=err)


def hearing_lines(settings: Settings, agent: str, url: str | None) -> list[str]:
    """What `connect` would write for the agent to hear the table, to paste by hand: Claude Code's hooks (the same
    blocks `connect claude-code` writes), its monitor, its channels, and Codex's hooks."""
    from team_table.clients import claude_code, codex
    from team_table.clients.plan import Where, this_team_table

    where = Where(agent=agent, url=url, hub=hub_command(settings), exe=this_team_table(),
                  db=settings.database_for_others, home=Path.home())
    claude_hooks = {"hooks": {}}
    for event in claude_code.CONTEXT_EVENTS:
        claude_hooks["hooks"].setdefault(event, []).append({"hooks": [claude_code.context_hook(where, event)]})
    if url:
        for event in claude_code.WAKE_EVENTS:
            claude_hooks["hooks"].setdefault(event, []).append({"hooks": [claude_code.wait_hook(where, url)]})
    codex_hooks = {"hooks": {event: [{"hooks": [codex.hook(where, event)]}] for event in codex.EVENTS}}
    lines = ["So the agent hears the table without polling (details: docs/hearing.md):", "",
             "  Claude Code, in ~/.claude/settings.json (or a project's .claude/settings.json):",
             *(f"    {line}" for line in json.dumps(claude_hooks, indent=2).splitlines())]
    if url:
        lines += ["  and a plugin monitor that wakes an idle session (what `connect` installs):",
                  f"    {where.command('hook', 'claude-code', 'monitor', '--agent', agent, '--url', url)}"]
    else:
        lines += ["  Over stdio the hub wakes an idle Claude Code session through its own socket: nothing to add."]
    lines += ["  Claude Code channels (a research preview behind Anthropic's flag; see docs/hearing.md):",
              f"    claude --dangerously-load-development-channels server:{SERVER_NAME}",
              "  Codex, in ~/.codex/hooks.json (Codex runs hooks once you trust them):",
              *(f"    {line}" for line in json.dumps(codex_hooks, indent=2).splitlines()),
              "  Any client: wait_for_messages returns as soon as something arrives."]
    return lines


# ---- `team-table connect CLIENT NAME`: write all of that into the client's own configuration ------------------

CLIENTS = ("claude-code", "codex", "gemini")


def _plan_for(client: str, where):
    from team_table.clients import claude_code, codex, gemini

    return {"claude-code": claude_code, "codex": codex, "gemini": gemini}[client].plan(where)


def _config_options(fn):
    from team_table.cli import config_options

    return config_options(fn)


@click.command("connect")
@click.argument("client", type=click.Choice(CLIENTS))
@click.argument("name")
@click.option("--url", metavar="URL", help="The network hub's address (default: team.yaml's host and port); with "
                                           "team.yaml's transport stdio, each client starts its own hub instead.")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write into this project's folder (its .mcp.json, .claude/, .codex/, .gemini/) instead of your "
                   "user settings.")
@click.option("--dry-run", is_flag=True, help="Print what would change, as a diff; write nothing.")
@click.option("--remove", is_flag=True, help="Take out exactly what connect added here, and nothing else.")
@click.option("--print", "print_only", is_flag=True,
              help="Print the commands and JSON blocks to paste by hand instead; write nothing.")
@click.option("--no-token", is_flag=True,
              help="When TEAM_TABLE_TOKEN_<NAME> is not set here, say how to get a token instead of minting one.")
@_config_options
def connect(client: str, name: str, url: str | None, project: Path | None, dry_run: bool, remove: bool,
            print_only: bool, no_token: bool, config: str | None, db: str | None) -> None:
    """Connect agent NAME's client to the table: write its MCP server, its hooks and its wake path into the client's
    own configuration (your user settings, or --project DIR).

    The token is never written into the client's config: the client reads it from TEAM_TABLE_TOKEN_<NAME> where it
    runs. For an agent that has no token yet, connect mints one, adds its hash to team.yaml (as `team-table token
    NAME --write` does) and prints it once, to export (--no-token: only say how). Running it again changes nothing;
    --remove takes out exactly what it added (the file comes back byte for byte when nothing else changed it since);
    a config file it cannot parse is left as it is.

    \b
    Claude Code  ~/.claude.json (the server), ~/.claude/settings.json (hooks; over a network hub a plugin of
                 team-table's whose monitor wakes an idle session); over stdio the hub wakes it by itself
    Codex        ~/.codex/config.toml (the server), ~/.codex/hooks.json (hooks, once you trust them)
    Gemini CLI   ~/.gemini/settings.json (the server and its hooks)

    \b
    Examples:
      team-table connect claude-code alice
      team-table connect codex bob --project ~/src/app --dry-run
      team-table connect gemini carol --remove
      team-table connect claude-code alice --print      # the lines to paste by hand
    """
    from team_table.cli import load_settings
    from team_table.clients import plan as plans
    from team_table.names import check_name

    check_name(name)
    settings, _team = load_settings(config=config, db=db)
    if url is None and settings.network:
        url = f"http://{settings.host}:{settings.port}"
    url = url.rstrip("/") if url else None
    if print_only:
        show(http_lines(url, name) if url else stdio_lines(settings, name))
        click.echo("\n".join(hearing_lines(settings, name, url)))
        return
    home = Path.home()
    folder = project.expanduser().resolve() if project is not None else None
    if folder is not None and not folder.is_dir():
        raise click.BadParameter(f"{project} is not a folder", param_hint="--project")
    scope = plans.scope_of(folder)
    if remove:
        changes = plans.take_back(client, home, scope, dry_run=dry_run)
        _report(changes, dry_run, "took out of" if not dry_run else "would take out of")
        if not changes:
            here = "your user settings" if folder is None else folder
            click.echo(f"Nothing of team-table's is recorded for {client} in {here}.")
        return
    where = plans.Where(agent=name, url=url, hub=hub_command(settings), exe=plans.this_team_table(),
                        db=settings.database_for_others, home=home, project=folder)
    plan = _plan_for(client, where)
    changes = plans.carry_out(plan, home, scope, dry_run=dry_run)
    _report(changes, dry_run, "wrote" if not dry_run else "would write")
    if not changes:
        click.echo(f"{client} is connected as {name} already: nothing changed.")
    for note in plan.notes:
        click.echo(textwrap.fill(note, 100))
    _say_about_the_token(name, mint=not (no_token or dry_run) and not _has_a_token(name, config, db),
                         flags={"config": config, "db": db})


def _report(changes, dry_run: bool, verb: str) -> None:
    for change in changes:
        if dry_run:
            click.echo(change.diff() or f"{change.file}: removed")
        else:
            click.echo(f"{verb} {change.file}" + (f" ({'; '.join(change.notes)})" if change.notes else ""))


def _has_a_token(name: str, config: str | None, db: str | None) -> bool:
    """Does `name` hold a token already (declared in team.yaml, or issued at register)? Then none is minted."""
    from team_table import member_tokens
    from team_table.cli import load_settings
    from team_table.errors import TeamTableError
    from team_table.store import open_store

    settings, team = load_settings(config=config, db=db)
    declared = team.agents.get(name)
    if declared is not None and declared.token_hashes:
        return True
    try:
        store = open_store(settings.store_at, read_only=True, pool_size=1)
    except TeamTableError:
        return False  # no table yet: nobody holds a token
    try:
        return member_tokens.holds_one(store.query, name)
    finally:
        store.close()


def _say_about_the_token(name: str, *, mint: bool, flags: dict) -> None:
    import os

    from team_table.cli import invoked_as

    variable = token_variable(name)
    if os.environ.get(variable):
        click.echo(f"{variable} is set here: start the client from this environment (or one that has it).")
        return
    if mint:
        from team_table.cli.files import mint_into_team_file
        from team_table.errors import Invalid

        try:
            value, wrote = mint_into_team_file(name, flags)
        except Invalid as exc:  # no team.yaml to declare it in, say: the connect itself is done
            click.echo(f"No token was minted for {name}: {exc.message}")
            mint = False
    if mint:
        click.echo(f"\n{wrote}Where the client runs, put {name}'s token in its environment (shown once; it stays out "
                   f"of every config file and of the model's context), then start the client:\n\n"
                   f"  export {variable}={value}\n")
        return
    click.echo(f"Set {variable} where the client runs to {name}'s token (`{invoked_as()} token {name} --write` mints "
               "another, prints it once and adds its hash to team.yaml).")
