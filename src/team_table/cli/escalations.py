"""`escalations`, `resolve` and `poll`: a person's side of the jobs."""

from __future__ import annotations

import time
from datetime import datetime

import click

from team_table import autoreply, escalations, members
from team_table.cli import config_options
from team_table.cli.operator import json_option, operator_hub, show
from team_table.config.agents import AutoReply
from team_table.errors import NotFound


@click.command("escalations")
@config_options
@json_option
@click.option("--all", "show_all", is_flag=True, help="Resolved ones too.")
def escalations_cmd(config, db, as_json, show_all) -> None:
    """Messages waiting for a person's decision.

    \b
    Example:
      team-table escalations
      team-table escalations --all --json
    """
    with operator_hub(config, db, read_only=True) as hub:
        rows = escalations.listing(hub, hub.operator(), "" if show_all else "open")
    show(rows, as_json, ["id", "at", "status", "rule", "sender", "agent", "message_id", "resolved_by", "note"],
         "Escalations", "No escalation is waiting for a decision." if not show_all else "No escalations.")


@click.command("resolve")
@click.argument("escalation_id", type=int)
@click.option("--note", required=True, help="Your decision, passed on to the sender and the agent.")
@config_options
def resolve_cmd(escalation_id, note, config, db) -> None:
    """Resolve escalation ID (as the operator); the agent's auto-replies resume.

    \b
    Example:
      team-table resolve 7 --note "Ship it on Monday."
    """
    with operator_hub(config, db) as hub:
        done = escalations.resolve(hub, hub.operator(), escalation_id, note)
    click.echo(f"Escalation {done.id} resolved; {done.sender} and {done.agent} were told.")


@click.command("poll")
@click.argument("name")
@click.option("--interval", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds between looks at the inbox.")
@click.option("--max-messages", default=13, show_default=True, type=click.IntRange(min=1),
              help="Replies while away before a person is asked instead.")
@config_options
def poll(name, interval, max_messages, config, db) -> None:
    """Auto-reply for agent NAME from this terminal while it is away (no network hub needed).

    Acknowledges NAME's new messages (they stay unread for NAME) and, when one asks for a
    decision or the reply cap is reached, stops and asks a person: you, here, and the people
    team.yaml names. The policy of team.yaml's agents.NAME.auto_reply wins over the flags.

    \b
    Example:
      team-table poll alice --interval 30 --max-messages 13
    """
    with operator_hub(config, db) as hub:
        if not any(m.name == name for m in members.listing(hub)):
            raise NotFound(f"{name} is not at the table; it registers first (or is declared in team.yaml).")
        declared = hub.team.agents.get(name)
        policy = declared.auto_reply if declared and declared.auto_reply else AutoReply(
            interval_seconds=interval, max_replies=max_messages, pause_when_active=False)
        _say(f"auto-reply for {name}: every {policy.interval_seconds:g} s, at most {policy.max_replies} replies, "
            f"database {hub.settings.database}. Ctrl-C stops.")
        waiting = False
        try:
            while True:
                outcome = autoreply.run(hub, name, policy, default_patterns=True)
                for sender, count in outcome.replied.items():
                    _say(f"replied to {sender} ({count} message{'s' if count != 1 else ''})")
                for escalation_id in outcome.escalated:
                    _say(f"ESCALATION {escalation_id}: a message to {name} needs a decision; "
                        f"see `team-table escalations`, then `team-table resolve {escalation_id}`")
                if outcome.skipped and "escalation" in outcome.skipped and not waiting:
                    _say(f"paused: {outcome.skipped}")
                waiting = bool(outcome.skipped and "escalation" in outcome.skipped)
                time.sleep(policy.interval_seconds)
        except KeyboardInterrupt:
            _say("stopped")


def _say(text: str) -> None:
    click.echo(f"[{datetime.now().strftime('%H:%M:%S')}] {text}")
