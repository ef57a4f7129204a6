"""The workflow engine: reads the event log after its place, matches each event against the workflows, and
carries out their steps, one event per transaction.

Each event is handled once, even with several hub processes: moving the engine's place past an event is a
conditional write in the same transaction as the steps it causes, so a crash before the commit leaves the
event for the next run (in any process) and a crash after it leaves nothing to redo.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

from team_table import audit, comments, escalations, events, messages, tasks, templates, workflows
from team_table.errors import ConfigError, TeamTableError
from team_table.hub import Hub
from team_table.models import Task
from team_table.names import HUB_SENDER
from team_table.reload import admins
from team_table.triggers import Context, contexts, holders, matches, open_children
from team_table.workflows import Step, Trigger, Workflow

log = logging.getLogger("team_table.workflows")
PLACE = "events"
MAX_START_DEPTH = 5


class NoCandidate(TeamTableError):
    code = "conflict"


class Engine:
    """The workflows of one folder, kept current, and the running of them."""

    def __init__(self, hub: Hub, folder: Path) -> None:
        self.hub = hub
        self.folder = folder
        self.workflows: dict[str, Workflow] = {}
        self.digest = ""
        self.ready = False  # no valid set loaded yet: events wait (they are not consumed by an empty set)
        self.reload()
        with hub.store.write() as conn:  # a new database starts after the events already there
            conn.execute("INSERT OR IGNORE INTO workflow_state (key, value) VALUES (?, ?)",
                         (PLACE, str(events.last_id(hub.store))))

    def reload(self) -> bool:
        """Load the folder if it changed; an invalid edit changes nothing and is reported once."""
        try:
            found, digest = workflows.load_folder(self.folder)
        except ConfigError as exc:
            self._reject(exc)
            return False
        self.ready = True
        if digest == self.digest:
            return False
        self.workflows, self.digest = found, digest
        log.info("workflows loaded from %s: %s", self.folder, ", ".join(sorted(found)) or "none")
        return True

    def _reject(self, error: ConfigError) -> None:
        problems = [p.describe(error.file) for p in error.problems]
        key = "workflows:" + "|".join(problems)
        now = self.hub.now()
        with self.hub.store.write() as conn:
            if conn.execute("INSERT OR IGNORE INTO config_rejected (key, at) VALUES (?, ?)", (key, now)).rowcount:
                log.error("a workflow file is invalid; keeping the workflows in force:\n  %s", "\n  ".join(problems))
                audit.record(conn, now, audit.OPERATOR, "config_error", "workflows", str(self.folder),
                             {"problems": problems})
                for admin in admins(conn, self.hub):
                    events.emit(conn, now, "config_error", {"file": error.file, "problems": problems}, to=admin)

    def scheduled(self) -> int:
        """Run the schedule triggers that are due (each at most once per every_seconds, across processes)."""
        ran = 0
        now = self.hub.clock.now().timestamp()
        for workflow in self.workflows.values():
            for index, trigger in enumerate(workflow.triggers):
                if not workflow.enabled or trigger.event != "schedule":
                    continue
                key = f"schedule:{workflow.name}:{index}"
                with self.hub.store.write() as conn:
                    row = conn.execute("SELECT value FROM workflow_state WHERE key = ?", (key,)).fetchone()
                    if row is not None and now - float(row["value"]) < trigger.every_seconds:
                        continue
                    conn.execute("INSERT INTO workflow_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                                 " SET value = excluded.value", (key, str(now)))
                    if row is None:
                        continue  # the first tick only starts the clock
                    context = Context("schedule", {"every_seconds": trigger.every_seconds})
                    if matches(conn, self.hub, trigger, context):
                        self.run(conn, workflow, index, trigger, context, None)
                        ran += 1
        return ran

    def step(self, limit: int = 200) -> int:
        """Handle the events after the engine's place; returns how many this process handled."""
        if not self.ready:
            return 0
        place = int(self.hub.store.query("SELECT value FROM workflow_state WHERE key = ?", (PLACE,))[0][0])
        handled = 0
        for event in events.tail(self.hub.store, place, limit):
            with self.hub.store.write() as conn:
                moved = conn.execute("UPDATE workflow_state SET value = ? WHERE key = ? AND value = ?",
                                     (str(event.id), PLACE, str(place))).rowcount
                if not moved:
                    return handled  # another process is on it
                for context in contexts(conn, self.hub, event):
                    self._dispatch(conn, context, event.id)
            place, handled = event.id, handled + 1
        return handled

    def _dispatch(self, conn: sqlite3.Connection, context: Context, event_id: int | None) -> None:
        if context.kind == "children_done" and (open_children(conn, context.task.id) or
                                                tasks.load(conn, context.task.id).status in ("done", "cancelled")):
            return  # a step for this event added a subtask (a QA task, say), or the parent is finished already
        for workflow in self.workflows.values():
            if not workflow.enabled:
                continue
            for index, trigger in enumerate(workflow.triggers):
                if trigger.event == context.kind and matches(conn, self.hub, trigger, context):
                    self.run(conn, workflow, index, trigger, replace(context), event_id)

    def run(self, conn: sqlite3.Connection, workflow: Workflow, index: int, trigger: Trigger, context: Context,
            event_id: int | None, dry: bool = False) -> dict:
        """Carry out one trigger's steps as one unit: all of them, or none and a person is asked."""
        task_id = context.task.id if context.task else None
        now = self.hub.now()
        done_runs = 0 if task_id is None else conn.execute(
            "SELECT COUNT(*) FROM workflow_run WHERE workflow = ? AND task_id = ? AND status = 'done'",
            (workflow.name, task_id)).fetchone()[0]
        record = {"workflow": workflow.name, "trigger": f"{index}:{trigger.event}", "task_id": task_id, "steps": []}
        conn.execute("SAVEPOINT run")
        try:
            if context.verdict == "rework" and context.round > workflow.max_rounds:
                raise NoCandidate(f"task {task_id} came back from review {context.round} times "
                                  f"(max_rounds is {workflow.max_rounds}): a person should look")
            if done_runs >= workflow.max_runs_per_task:
                raise NoCandidate(f"workflow {workflow.name} ran {done_runs} times for task {task_id} "
                                  f"(max_runs_per_task): stopping what looks like a loop")
            for step in trigger.do:
                record["steps"].append({"action": step.action, "detail": self._do(conn, workflow, step, context)})
                if context.task is not None:  # the next step sees what this one did (a reviewer named...)
                    context.task = tasks.load(conn, context.task.id)
            record["status"] = "done"
            conn.execute("RELEASE run")
        except Exception as exc:  # whatever went wrong, the run is undone, recorded and brought to a person
            if not isinstance(exc, (TeamTableError, templates.TemplateFailed)):
                log.exception("workflow %s failed unexpectedly on task %s", workflow.name, task_id)
            conn.execute("ROLLBACK TO run")
            conn.execute("RELEASE run")
            record.update(status="failed", error=str(exc) or type(exc).__name__)
            if not dry:
                escalations.escalate(conn, self.hub, None, HUB_SENDER, HUB_SENDER, f"workflow:{workflow.name}",
                                     self.hub.team.escalation.notify, now,
                                     reason=f"workflow {workflow.name} could not run for task {task_id}: "
                                            f"{record['error']}")
        if dry:
            return record
        conn.execute("INSERT INTO workflow_run (workflow, trigger, event_id, task_id, status, steps, error, at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (workflow.name, record["trigger"], event_id, task_id, record["status"],
                      json.dumps(record["steps"]), record.get("error"), now))
        audit.record(conn, now, HUB_SENDER, "workflow_run", "task", task_id, record)
        events.emit(conn, now, "workflow", {k: v for k, v in record.items() if k != "steps"}
                    | {"steps": [s["action"] for s in record["steps"]]})
        return record

    def _do(self, conn: sqlite3.Connection, workflow: Workflow, step: Step, context: Context, depth: int = 0) -> Any:
        hub, me, task = self.hub, self.hub.itself(), context.task
        variables = context.variables(workflow.name)
        if step.create_task is not None:
            spec = step.create_task
            parent_id = {"task": task and task.id, "parent": task and task.parent_id, "none": None}[spec.parent]
            created = tasks.create(
                hub, me, templates.render_strict(spec.title, variables)[:200],
                templates.render_strict(spec.description, variables), priority=spec.priority or
                (task.priority if task else "medium"), kind=spec.kind, parent_id=parent_id,
                depends_on=[task.id] if spec.depends_on_task and task else None, labels=list(spec.labels))
            if spec.assign is not None:
                who = pick(conn, hub, spec.assign, author=task.assignee if task else None)
                created = tasks.reassign(hub, me, created.id, who)
            return {"task": created.id, "assignee": created.assignee}
        if step.assign_reviewer is not None:
            if _need(task).reviewer and task.reviewer != task.assignee \
                    and task.reviewer in holders(conn, hub, step.assign_reviewer.role):  # named, or a rework round
                return {"reviewer": task.reviewer, "kept": True}
            who = pick(conn, hub, step.assign_reviewer, author=task.assignee)
            tasks.set_reviewer(hub, me, _need(task).id, who)
            return {"reviewer": who}
        if step.set_status is not None:
            return {"status": tasks.update(hub, me, _need(task).id, step.set_status).status}
        if step.set_parent_status is not None:
            if context.parent is None:
                raise NoCandidate(f"task {_need(task).id} has no parent to set")
            return {"parent": context.parent.id,
                    "status": tasks.update(hub, me, context.parent.id, step.set_parent_status).status}
        if step.send_back_to_author is not None:
            return _send_back(hub, _need(task), context)
        if step.comment is not None:
            return {"comment": comments.comment(hub, me, _need(task).id,
                                                templates.render_strict(step.comment, variables)).id}
        if step.message is not None:
            text = templates.render_strict(step.message.text, variables)
            people = recipients(conn, hub, step.message.to, context)
            for person in people:
                messages.send(hub, me, person, text if text.startswith("[AUTO]") else f"[AUTO] {text}")
            return {"to": people}
        if step.escalate is not None:
            reason = templates.render_strict(step.escalate, variables)
            escalation_id = escalations.escalate(conn, hub, None, HUB_SENDER, HUB_SENDER, f"workflow:{workflow.name}",
                                                 hub.team.escalation.notify, hub.now(), reason=reason)
            return {"escalation": escalation_id, "reason": reason}
        if step.start is not None:
            other = self.workflows.get(step.start)
            if other is None or not other.enabled:
                raise NoCandidate(f"there is no enabled workflow {step.start!r} to start")
            if depth >= MAX_START_DEPTH:
                raise NoCandidate(f"workflows start one another more than {MAX_START_DEPTH} deep: a loop?")
            started = Context(**{**context.__dict__, "kind": "started"})
            for trigger in other.triggers:
                if trigger.event == "started" and matches(conn, hub, trigger, started):
                    for inner in trigger.do:
                        self._do(conn, other, inner, started, depth + 1)
            return {"started": step.start}
        raise AssertionError(step)


def _need(task: Task | None) -> Task:
    if task is None:
        raise NoCandidate("this step needs a task, and the event is not about one")
    return task


def _send_back(hub: Hub, task: Task, context: Context) -> dict:
    """Back to whoever did the work: the task a QA task tested (what it depends on, else its parent) is
    reopened for its author with the findings."""
    me = hub.itself()
    target = task
    if task.kind == "qa":
        target = tasks.load(hub, task.depends_on[0]) if task.depends_on else (context.parent or task)
    author = target.assignee
    findings = task.result or context.event.get("note") or "see the task's comments"
    if target.status == "done":
        tasks.update(hub, me, target.id, "pending", reason=f"sent back by {task.kind or 'a'} task {task.id}: "
                                                            f"{findings}")
    elif target.status != "in_progress":
        tasks.update(hub, me, target.id, "in_progress")
    if author:
        tasks.reassign(hub, me, target.id, author)
    comments.comment(hub, me, target.id, f"Sent back by task {task.id}: {findings}")
    return {"task": target.id, "to": author}


def pick(conn: sqlite3.Connection, hub: Hub, assign: workflows.Assign, author: str | None) -> str:
    """A member holding the role: the least loaded, or the next in turn; never the author unless allowed."""
    candidates = sorted(name for name in holders(conn, hub, assign.role)
                        if not (assign.never_author and name == author))
    if not candidates:
        raise NoCandidate(f"no active member holds the {assign.role} role" +
                          (f" besides {author}" if author and assign.never_author else ""))
    if assign.strategy == "round_robin":
        key = f"round_robin:{assign.role}"
        row = conn.execute("SELECT value FROM workflow_state WHERE key = ?", (key,)).fetchone()
        after = row["value"] if row else ""
        chosen = next((c for c in candidates if c > after), candidates[0])
        conn.execute("INSERT INTO workflow_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                     " value = excluded.value", (key, chosen))
        return chosen
    load = {name: conn.execute(
        "SELECT COUNT(*) FROM task WHERE status NOT IN ('done', 'cancelled') AND (assignee = ? OR"
        " (reviewer = ? AND status = 'awaiting_review'))", (name, name)).fetchone()[0] for name in candidates}
    return min(candidates, key=lambda name: (load[name], name))


def recipients(conn: sqlite3.Connection, hub: Hub, to: str, context: Context) -> list[str]:
    task = context.task
    named = {"assignee": task and task.assignee, "author": task and task.assignee, "reviewer": task and task.reviewer,
             "creator": task and task.creator, "agent": context.agent or None, "actor": context.actor or None}
    if to.startswith("role:"):  # a role nobody holds right now is no error: the message has no one to reach
        return sorted(set(holders(conn, hub, to.removeprefix("role:"))) - {HUB_SENDER})
    people = ([named[to]] if named[to] else []) if to in named else [to]
    if not people:
        raise NoCandidate(f"nobody to send to: {to!r} names no one here")
    return sorted(set(people) - {HUB_SENDER})




def rehearse(hub: Hub, workflow: Workflow, kind: str, task_id: int | None = None, verdict: str | None = None,
             agent: str = "", note: str = "") -> list[dict]:
    """What `workflow` would do for an event, carried out in a transaction that is then rolled back."""
    records = []
    with hub.store.rehearse() as conn:
        task = tasks.load(conn, task_id) if task_id is not None else None
        parent = tasks.load(conn, task.parent_id) if task and task.parent_id else None
        context = Context(kind, {"note": note}, task, parent, actor=task.assignee or "" if task else "",
                          agent=agent, verdict=verdict)
        engine = Engine.__new__(Engine)
        engine.hub, engine.workflows = hub, {workflow.name: workflow}
        for index, trigger in enumerate(workflow.triggers):
            if trigger.event == kind and matches(conn, hub, trigger, context):
                records.append(engine.run(conn, workflow, index, trigger, replace(context), None, dry=True))
    return records
