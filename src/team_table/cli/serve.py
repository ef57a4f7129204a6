"""`team-table up`: run the hub."""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import Any

import anyio
import click

from team_table.cli import config_options, invoked_as, load_settings, setup_logging
from team_table.cli.connect import show, stdio_lines
from team_table.names import token_variable


@click.command()
@config_options
@click.option("--transport", type=click.Choice(["stdio", "sse", "streamable-http"]), default=None,
              help="How agents reach the hub [env TEAM_TABLE_TRANSPORT; default stdio].")
@click.option("--host", default=None, help="Address to bind for network transports [env TEAM_TABLE_HOST].")
@click.option("--port", type=int, default=None, help="Port for network transports [env TEAM_TABLE_PORT; 8741].")
@click.option("--agent", default=None, metavar="NAME",
              help="Bind this stdio server to one agent (token from env TEAM_TABLE_TOKEN) [env TEAM_TABLE_AGENT].")
@click.option("--allow-host", "allow_host", multiple=True, metavar="HOST",
              help="A Host name clients use to reach a network hub (repeatable) [team.yaml hub.allowed_hosts].")
def up(**flags: Any) -> None:
    """Run the hub.

    With stdio (the default) each agent's MCP client starts its own `team-table up`;
    all of them share one SQLite file, so they see one table. Run it yourself in a
    terminal and it prints the lines that register it in Claude Code and Codex.

    \b
    Examples:
      team-table up
      team-table up --config ./team.yaml --db ~/.team-table/team.db
      team-table up --transport streamable-http --host 0.0.0.0 --db postgresql://team@db.internal/team_table
                                   (a replica on a PostgreSQL database: docs/scaling-out.md)
      TEAM_TABLE_AGENT=alice TEAM_TABLE_TOKEN=... team-table up    (what a client runs)
    """
    setup_logging()
    settings, team = load_settings(**flags)
    from team_table.server.stdio import spawned_on_pipes

    if settings.network and settings.transport_from == "file" and spawned_on_pipes():
        # An MCP client started us on pipes (the line users have in their client's config): it speaks MCP on
        # stdin and stdout, so that is what this process serves; a network hub would write its banner on the
        # wire and outlive the client.
        logging.getLogger("team_table.hub").warning(
            "%s says transport: %s, but this process was started by an MCP client on pipes: serving stdio. "
            "Run the network hub from a terminal (`team-table up`), or pass --transport to choose.",
            settings.config_path, settings.transport)
        settings = dataclasses.replace(settings, transport="stdio")
    from team_table import runtime

    if settings.network:
        anyio.run(runtime.serve_network, settings, team, lambda url: _explain_network(url, settings, team))
        return
    if sys.stdin.isatty():
        _explain_stdio(settings)
    anyio.run(runtime.serve_stdio, settings, team)



def _explain_stdio(settings) -> None:
    click.echo(
        "team-table hub, stdio transport: this process speaks MCP on stdin/stdout.\n"
        "Agents' clients start their own copy; add it to each agent's client (mint a token with "
        f"`{invoked_as()} token NAME` for the line that binds it to one agent):\n", err=True,
    )
    show(stdio_lines(settings, settings.agent), err=True)
    click.echo(f"Database: {settings.database}   Config: {settings.config_path or 'none (open registration)'}\n"
               "Waiting for an MCP client on stdin; Ctrl-C to stop.", err=True)


def _explain_network(url: str, settings, team) -> None:
    run = invoked_as()
    click.echo(f"\nteam-table hub on {url}\n"
               f"  MCP (streamable HTTP): {url}/mcp    legacy SSE: {url}/sse    push: {url}/events/NAME\n"
               f"  health: {url}/healthz  {url}/readyz    metrics: {url}/metrics\n"
               f"  dashboard, for the people at the table: {url}/ui   (sign in with a person's token: "
               f"`{run} token NAME --role person --write`)\n")
    hosted = [name for name, spec in team.agents.items() if spec.run is not None and spec.enabled]
    if hosted:
        click.echo(f"Agents this hub runs itself when work waits for them: {', '.join(hosted)}\n"
                   f"  (`{run} agents` shows their runs; docs/running-agents.md)\n")
    with_token = [name for name, spec in team.agents.items() if spec.token_hashes and name not in hosted]
    without = [name for name, spec in team.agents.items() if not spec.token_hashes and name not in hosted]
    first = (with_token or without or ["NAME"])[0]
    click.echo("Connect an agent's client: this writes its MCP server, its hooks and the way the hub wakes it into\n"
               "the client's own settings (--project DIR for one project; --dry-run shows the change, --print the\n"
               "lines to paste by hand instead):\n\n"
               f"  {run} connect claude-code {first} --url {url}      # or: codex, gemini\n")
    for agent in with_token:
        click.echo(f"  {agent} ({', '.join(team.agents[agent].all_roles)}): its client reads its token from "
                   f"{token_variable(agent)} where it runs")
    if without or not team.agents:
        who = ", ".join(f"{a} ({', '.join(team.agents[a].all_roles)})" for a in without) or "an agent"
        click.echo(f"  {who}: no token yet; `{run} token NAME --write` mints one (and prints where it goes)")
    click.echo("")
