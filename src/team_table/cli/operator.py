"""Operator commands on the table's database: look at members, tasks, inboxes and the audit log; grant; revoke.

They act as `operator`, the person who holds the database file, and are audited as such.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from team_table import audit, members, messages, revocations, tasks
from team_table.cli import config_options, load_settings
from team_table.cli.output import emit_json, table
from team_table.hub import Hub
from team_table.task_states import TaskStatus

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of a table.")


@contextmanager
def operator_hub(config: str | None, db: str | None, *, read_only: bool = False) -> Iterator[Hub]:
    """The table as the operator reaches it from the command line; read-only for commands that only look."""
    from team_table.runtime import open_table

    settings, team = load_settings(config=config, db=db)
    with open_table(settings, team, read_only=read_only) as hub:
        yield hub


def show(rows: list[Any], as_json: bool, columns: list[str], title: str, empty: str) -> None:
    if as_json:
        emit_json(rows)
    else:
        table(rows, columns, title=title, empty=empty)


@click.command("members")
@config_options
@json_option
@click.option("--all", "include_inactive", is_flag=True, help="Include members who deregistered.")
def members_cmd(config, db, as_json, include_inactive) -> None:
    """Who is at the table.

    \b
    Example:
      team-table members --all
    """
    with operator_hub(config, db, read_only=True) as hub:
        rows = members.listing(hub, include_inactive)
    show(rows, as_json, ["name", "role", "status", "capabilities", "last_seen"],
         "Members", "Nobody is at the table yet.")


@click.group("tasks", invoke_without_command=True)
@config_options
@json_option
@click.option("--status", default="", help=f"Only tasks in this status: {', '.join(TaskStatus)}.")
@click.option("--assignee", default="", help="Only tasks of this member.")
@click.pass_context
def tasks_cmd(ctx, config, db, as_json, status, assignee) -> None:
    """The task board; `tasks add` posts a task.

    \b
    Examples:
      team-table tasks --status pending
      team-table tasks add "Parse the config" --assignee alice --reviewer bob --kind code
    """
    if ctx.invoked_subcommand is not None:
        return
    with operator_hub(config, db, read_only=True) as hub:
        rows = tasks.listing(hub, status, assignee)
    show(rows, as_json, ["id", "status", "priority", "title", "creator", "assignee", "updated_at"],
         "Tasks", "No tasks match.")


@tasks_cmd.command("add")
@click.argument("title")
@config_options
@json_option
@click.option("--description", default="", help="What is to be done, in more words.")
@click.option("--assignee", default="", help="Reserve it for this member (told at once; a member the hub runs is "
                                             "started for it).")
@click.option("--reviewer", default="", help="Who reviews it once it is awaiting_review.")
@click.option("--kind", default="", help="code, review, qa... (next_task gives it to the roles it fits).")
@click.option("--priority", type=click.Choice(["low", "medium", "high"]), default="medium", show_default=True)
@click.option("--label", "labels", multiple=True, help="A label (give it again for more).")
@click.option("--path", "paths", multiple=True, help="A path it will touch (gitignore-style; claiming it reserves "
                                                     "them). Give it again for more.")
def tasks_add(title, config, db, as_json, description, assignee, reviewer, kind, priority, labels, paths) -> None:
    """Post a task to the board, as the operator (audited as such), as create_task would.

    \b
    Example:
      team-table tasks add "Parse the config" --assignee alice --reviewer bob --kind code --path 'src/config/**'
    """
    with operator_hub(config, db) as hub:
        made = tasks.create(hub, hub.operator(), title, description, assignee, priority, kind=kind,
                            reviewer=reviewer, labels=list(labels), paths=list(paths) or None)
    if as_json:
        emit_json(made)
    else:
        click.echo(f"Task {made.id} ({made.title}) is on the board" + (f", reserved for {made.assignee}"
                                                                         if made.assignee else "") + ".")


@click.command("inbox")
@click.argument("name")
@config_options
@json_option
@click.option("--all", "include_all", is_flag=True, help="Include read and archived messages.")
def inbox_cmd(name, config, db, as_json, include_all) -> None:
    """Look at NAME's inbox without marking anything read.

    \b
    Example:
      team-table inbox alice --all
    """
    with operator_hub(config, db, read_only=True) as hub:
        rows = messages.peek(hub, name, include_all)
    show(rows, as_json, ["id", "created_at", "sender", "recipient", "read", "archived_at", "content"],
         f"Inbox of {name}", f"{name} has no {'' if include_all else 'unread '}messages.")


@click.command("log")
@config_options
@json_option
@click.option("--agent", default="", help="Only entries by this member (or 'operator').")
@click.option("--action", default="", help="Only this action, e.g. claim_task, grant_role.")
@click.option("--since", default="", help="Only entries at or after this ISO 8601 date.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, audit.MAX_LIMIT))
def log_cmd(config, db, as_json, agent, action, since, limit) -> None:
    """The audit log, newest first.

    \b
    Examples:
      team-table log --agent alice --since 2026-11-01
      team-table log --action claim_task --json
    """
    with operator_hub(config, db, read_only=True) as hub:
        rows = audit.entries(hub, None, agent, action, since, limit)
    show(rows, as_json, ["id", "timestamp", "agent_name", "action", "target_type", "target_id", "details"],
         "Audit log", "No audit entries match.")


@click.command()
@click.argument("name")
@click.argument("role")
@config_options
def grant(name, role, config, db) -> None:
    """Give member NAME the role ROLE (admin and lead included).

    \b
    Example:
      team-table grant alice lead
    """
    with operator_hub(config, db) as hub:
        member = members.grant(hub, name, role)
    click.echo(f"{member.name} is now {member.role}.")


@click.command()
@click.argument("name")
@config_options
def revoke(name, config, db) -> None:
    """Revoke every token of NAME: it leaves the table and stays out until `team-table readmit NAME`.

    \b
    Example:
      team-table revoke alice
    """
    with operator_hub(config, db) as hub:
        count = revocations.revoke(hub, name)
    click.echo(f"Revoked {count} token(s) of {name}.")


@click.command()
@click.argument("name")
@config_options
def readmit(name, config, db) -> None:
    """Let NAME back in after a revoke (the dashboard's Team page does the same).

    \b
    Example:
      team-table readmit alice
    """
    with operator_hub(config, db) as hub:
        then = revocations.readmit(hub, name)
    click.echo(f"{name} may come back. {then}")
