"""`migrate`: move a SQLite hub's table onto a PostgreSQL database, for hub processes on several machines."""

from __future__ import annotations

import time
from contextlib import closing

import click

from team_table.cli import config_options, load_settings
from team_table.cli.output import table
from team_table.errors import Invalid
from team_table.store.postgres_urls import is_url, without_password


@click.command()
@click.option("--to", "to", metavar="URL", required=True,
              help="The empty PostgreSQL database to copy into (postgresql://USER@HOST/DB; the password from "
                   "PGPASSWORD or ~/.pgpass).")
@click.option("--replace-nul", "replace_nul", is_flag=True,
              help="Copy text holding a NUL character (which PostgreSQL cannot store) with each NUL replaced by "
                   "U+FFFD, instead of refusing the copy.")
@config_options
def migrate(to: str, config: str | None, db: str | None, replace_nul: bool) -> None:
    """Copy a SQLite hub's table into an empty PostgreSQL database: all of it, or nothing.

    Members and their tokens, messages with each reader's state, tasks with their comments and dependencies,
    context, the audit log, events, escalations and workflow runs are copied in one transaction and counted on
    both sides. A database that already holds a table is refused.

    Stop every hub on the SQLite file first, network hubs and the stdio hubs agents' clients start (migrate is
    refused while any process has the file open): what a hub writes after the copy would stay behind. The file is
    only read, and is left as it was. A text holding a NUL character is refused by its table and row (PostgreSQL
    cannot store one); --replace-nul copies it with U+FFFD in place of each NUL.

    \b
    Examples:
      createdb team_table
      team-table migrate --to postgresql://team@db.internal/team_table
      team-table migrate --db ~/.team-table/team_table.db --to postgresql://team@127.0.0.1:5432/team_table
    """
    from team_table.runtime import open_table
    from team_table.store.copy import copy_table, open_target
    from team_table.store.sqlite import SqliteStore

    if not is_url(to):
        raise click.BadParameter(f"{to!r} is not a PostgreSQL URL; give one such as "
                                 "postgresql://team@db.internal/team_table", param_hint="--to")
    settings, team = load_settings(config=config, db=db)
    if settings.db_url is not None:
        raise Invalid(f"The table is on PostgreSQL already ({settings.database}): migrate copies a SQLite hub's file. "
                      "Give that file with --db.")
    with open_table(settings, team, read_only=True) as hub, closing(open_target(to)) as target:
        assert isinstance(hub.store, SqliteStore)  # no db_url: the table is a SQLite file
        copied = copy_table(hub.store, target, now=time.time(), replace_nul=replace_nul)
    table([{"table": name, "rows": rows} for name, rows in copied.counts], ["table", "rows"],
          title="Copied, counts checked", empty="")
    if copied.replaced:
        click.echo(f"Replaced the NUL characters of {copied.replaced} text(s) with U+FFFD.")
    if copied.left_behind:
        click.echo(f"Not copied (team-table 0.2.1's tables, kept in the SQLite file): {', '.join(copied.left_behind)}.")
    click.echo(f"copied {copied.total} rows into {without_password(to)}; point hub.db (or TEAM_TABLE_DB) at it and "
               "start the hubs")
