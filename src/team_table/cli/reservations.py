"""`team-table reservations`: who holds which paths of the repository, why, for which task, until when."""

from __future__ import annotations

import click

from team_table import reservations
from team_table.cli import config_options
from team_table.cli.operator import json_option, operator_hub, show


@click.command("reservations")
@config_options
@json_option
@click.option("--agent", default="", help="Only this member's.")
@click.option("--path", default="", help="Only those overlapping this path or pattern, e.g. src/api/**.")
def reservations_cmd(config, db, as_json, agent, path) -> None:
    """The live path reservations, oldest first.

    \b
    Examples:
      team-table reservations
      team-table reservations --path src/api/routes.py --json
    """
    with operator_hub(config, db, read_only=True) as hub:
        rows = reservations.listing(hub, agent, path)
    show(rows, as_json, ["id", "agent", "pattern", "exclusive", "task_id", "reason", "expires_at"],
         "Reservations", "Nobody holds a path.")
