"""`team-table workflows` and `team-table runs`: what the workflows are, would do, and did."""

from __future__ import annotations

import json
from pathlib import Path

import click

from team_table.cli import config_options, load_settings
from team_table.cli.operator import json_option, operator_hub, show
from team_table.errors import Invalid
from team_table.workflow import engine as workflow_engine
from team_table.workflow.library import load_folder
from team_table.workflow.spec import parse


def _folder(config: str | None) -> Path:
    settings, _ = load_settings(config=config)
    if settings.config_path is None:
        raise Invalid("No team.yaml here: workflows live in workflows/ beside it. Give --config FILE.")
    return settings.config_path.parent / "workflows"


@click.group("workflows", invoke_without_command=True)
@config_options
@json_option
@click.pass_context
def workflows_cmd(ctx, config, db, as_json) -> None:
    """The workflows in workflows/ beside team.yaml, with their last runs.

    \b
    Examples:
      team-table workflows
      team-table workflows check
      team-table workflows dry-run workflows/review.yaml --event '{"event": "task_status", "task": 12}'
    """
    if ctx.invoked_subcommand is not None:
        return
    found, _ = load_folder(_folder(config))
    with operator_hub(config, db, read_only=True) as hub:
        last = {r["workflow"]: dict(r) for r in hub.store.query(
            "SELECT workflow, status, at, COUNT(*) OVER (PARTITION BY workflow) AS runs FROM workflow_run"
            " WHERE id IN (SELECT MAX(id) FROM workflow_run GROUP BY workflow)")}
    rows = [{"name": name, "enabled": w.enabled, "triggers": ", ".join(t.event for t in w.triggers),
             "last_run": last.get(name, {}).get("at"), "last_status": last.get(name, {}).get("status"),
             "description": w.description.strip()} for name, w in sorted(found.items())]
    show(rows, as_json, ["name", "enabled", "triggers", "last_run", "last_status"], "Workflows",
         "No workflows: add YAML files to workflows/ beside team.yaml.")


@workflows_cmd.command("check")
@click.argument("file", type=click.Path(path_type=Path), required=False)
@click.option("--config", metavar="FILE", default=None, help="team.yaml (workflows/ is beside it).")
def check_cmd(file: Path | None, config: str | None) -> None:
    """Validate workflow files as the hub does (exit 1 on any problem).

    \b
    Example:
      team-table workflows check workflows/review.yaml
    """
    if file is not None and file.is_file():
        workflow = parse(file.read_text(encoding="utf-8"), str(file))
        click.echo(f"{file}: valid workflow {workflow.name} ({len(workflow.triggers)} triggers).")
        return
    folder = file or _folder(config)
    found, _ = load_folder(folder)
    click.echo(f"{folder}: {len(found)} valid workflow(s): {', '.join(sorted(found)) or 'none'}.")


@workflows_cmd.command("dry-run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--event", "event_json", required=True,
              help='The event as JSON: {"event": KIND, "task": ID, "verdict": "rework", "agent": NAME, "note": ...}')
@config_options
def dry_run(file: Path, event_json: str, config, db) -> None:
    """Show what a workflow would do for an event, changing nothing.

    \b
    Example:
      team-table workflows dry-run workflows/review.yaml --event '{"event": "task_status", "task": 12}'
    """
    workflow = parse(file.read_text(encoding="utf-8"), str(file))
    try:
        event = json.loads(event_json)
        kind = event["event"]
    except (ValueError, KeyError, TypeError):
        raise Invalid('--event must be JSON with at least "event", e.g. {"event": "task_status", "task": 12}') \
            from None
    with operator_hub(config, db) as hub:
        records = workflow_engine.rehearse(hub, workflow, kind, event.get("task"), event.get("verdict"),
                                         event.get("agent", ""), event.get("note", ""))
    if not records:
        click.echo(f"No trigger of {workflow.name} matches this event. Nothing would happen.")
    for record in records:
        click.echo(f"{workflow.name} trigger {record['trigger']}: {record['status']}"
                   + (f" ({record['error']})" if record.get("error") else ""))
        for n, step in enumerate(record["steps"], 1):
            click.echo(f"  {n}. {step['action']}: {json.dumps(step['detail'])}")
    click.echo("(dry run: nothing was changed)")


@click.command("runs")
@click.argument("run_id", type=int, required=False)
@config_options
@json_option
def runs_cmd(run_id, config, db, as_json) -> None:
    """Workflow runs, newest first; with ID, that run's steps.

    \b
    Examples:
      team-table runs
      team-table runs 7
    """
    with operator_hub(config, db, read_only=True) as hub:
        if run_id is None:
            rows = [dict(r) for r in hub.store.query("SELECT id, at, workflow, trigger, task_id, status, error"
                                                     " FROM workflow_run ORDER BY id DESC LIMIT 50")]
            show(rows, as_json, ["id", "at", "workflow", "trigger", "task_id", "status", "error"], "Workflow runs",
                 "No workflow has run yet.")
            return
        rows = hub.store.query("SELECT * FROM workflow_run WHERE id = ?", (run_id,))
    if not rows:
        raise Invalid(f"No run {run_id}; `team-table runs` lists them.")
    run = dict(rows[0])
    steps = json.loads(run.pop("steps"))
    if as_json:
        click.echo(json.dumps({**run, "steps": steps}, indent=2))
        return
    click.echo(f"Run {run['id']}: workflow {run['workflow']}, trigger {run['trigger']}, task {run['task_id']},"
               f" {run['status']} at {run['at']}" + (f"\n  error: {run['error']}" if run["error"] else ""))
    for n, step in enumerate(steps, 1):
        click.echo(f"  {n}. {step['action']}: {json.dumps(step['detail'])}")
