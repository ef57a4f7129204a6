"""The workflow engine: reads the event log after its place, matches each event against the workflows, and
carries out their steps, one event per transaction.

Each event is handled once, even with several hub processes: moving the engine's place past an event is a
conditional write in the same transaction as the steps it causes, so a crash before the commit leaves the
event for the next run (in any process) and a crash after it leaves nothing to redo.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from team_table import audit, escalations, events, tasks, templates
from team_table.errors import TeamTableError
from team_table.event_kinds import K, WorkflowRun
from team_table.hub import Hub
from team_table.names import HUB_SENDER
from team_table.store import Tx
from team_table.task_states import FINISHED
from team_table.workflow.library import Library
from team_table.workflow.spec import Trigger, Workflow
from team_table.workflow.steps import NoCandidate, Run, carry_out
from team_table.workflow.triggers import Context, contexts, matches, open_children

log = logging.getLogger("team_table.workflows")
PLACE = "events"


class Engine:
    """Carries out the workflows of a library on the events of one hub's database."""

    def __init__(self, hub: Hub, library: Library) -> None:
        self.hub = hub
        self.library = library

    def start(self) -> None:
        """A new database starts after the events already there."""
        with self.hub.store.write() as conn:
            conn.execute("INSERT INTO workflow_state (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING",
                         (PLACE, str(events.last_id(self.hub.store))))

    @property
    def workflows(self) -> dict[str, Workflow]:
        return self.library.workflows

    def place(self) -> int:
        return int(self.hub.store.query("SELECT value FROM workflow_state WHERE key = ?", (PLACE,))[0][0])

    def pending(self) -> bool:
        """Is there an event after the engine's place? Two indexed reads: what an idle hub does each second."""
        return self.library.ready and events.last_id(self.hub.store) > self.place()

    def scheduled(self) -> int:
        """Run the schedule triggers that are due (each at most once per every_seconds, across processes)."""
        ran = 0
        now = self.hub.clock.now().timestamp()
        for workflow in self.workflows.values():
            for index, trigger in enumerate(workflow.triggers):
                every = trigger.every_seconds  # set on schedule triggers, and only on them
                if not workflow.enabled or trigger.event != "schedule" or every is None:
                    continue
                key = f"schedule:{workflow.name}:{index}"
                seen = self.hub.store.query("SELECT value FROM workflow_state WHERE key = ?", (key,))
                if seen and now - float(seen[0]["value"]) < every:
                    continue  # not due: a read, no write
                with self.hub.store.write() as conn:
                    conn.lock(key)
                    row = conn.execute("SELECT value FROM workflow_state WHERE key = ?", (key,)).fetchone()
                    if row is not None and now - float(row["value"]) < every:
                        continue
                    conn.execute("INSERT INTO workflow_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                                 " SET value = excluded.value", (key, str(now)))
                    if row is None:
                        continue  # the first tick only starts the clock
                    context = Context("schedule", {"every_seconds": every})
                    if matches(conn, self.hub, trigger, context):
                        self.run(conn, workflow, index, trigger, context, None)
                        ran += 1
        return ran

    def next_schedule(self) -> float | None:
        """When the next schedule trigger falls due (clock seconds; a trigger never run is due now), or None
        without schedule triggers. Reads only."""
        due = None
        for workflow in self.workflows.values():
            for index, trigger in enumerate(workflow.triggers):
                every = trigger.every_seconds  # set on schedule triggers, and only on them
                if not workflow.enabled or trigger.event != "schedule" or every is None:
                    continue
                seen = self.hub.store.query("SELECT value FROM workflow_state WHERE key = ?",
                                            (f"schedule:{workflow.name}:{index}",))
                at = float(seen[0]["value"]) + every if seen else float("-inf")
                due = at if due is None else min(due, at)
        return due

    def has_schedules(self) -> bool:
        return any(t.event == "schedule" for w in self.workflows.values() if w.enabled for t in w.triggers)

    def step(self, limit: int = 200) -> int:
        """Handle the events after the engine's place, up to `limit` of them in one transaction; returns how many
        this process handled. Moving the place is conditional, so another process on the same events loses."""
        if not self.library.ready:
            return 0
        place = self.place()
        batch = events.tail(self.hub.store, place, limit)
        if not batch:
            return 0
        active = any(workflow.enabled for workflow in self.workflows.values())
        with self.hub.store.write() as conn:
            moved = conn.execute("UPDATE workflow_state SET value = ? WHERE key = ? AND value = ?",
                                 (str(batch[-1].id), PLACE, str(place))).rowcount
            if not moved:
                return 0  # another process is on it
            for event in batch if active else ():
                for context in contexts(conn, self.hub, event):
                    self._dispatch(conn, context, event.id)
        return len(batch)

    def _dispatch(self, conn: Tx, context: Context, event_id: int | None) -> None:
        task = context.task  # children_done is always about a task: the parent
        if context.kind == "children_done" and task is not None and (
                open_children(conn, task.id) or tasks.load(conn, task.id).status in FINISHED):
            return  # a step for this event added a subtask (a QA task, say), or the parent is finished already
        for workflow in self.workflows.values():
            if not workflow.enabled:
                continue
            for index, trigger in enumerate(workflow.triggers):
                if trigger.event == context.kind and matches(conn, self.hub, trigger, context):
                    self.run(conn, workflow, index, trigger, replace(context), event_id)

    def run(self, conn: Tx, workflow: Workflow, index: int, trigger: Trigger, context: Context,
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
            run = Run(conn, self.hub, workflow, context, self.workflows)
            for step in trigger.do:
                detail = carry_out(run, step.action, getattr(step, step.action))
                record["steps"].append({"action": step.action, "detail": detail})
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
                                            f"{record['error']}", task_id=task_id)
        if dry:
            return record
        conn.execute("INSERT INTO workflow_run (workflow, trigger, event_id, task_id, status, steps, error, at)"
                     " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (workflow.name, record["trigger"], event_id, task_id, record["status"],
                      json.dumps(record["steps"]), record.get("error"), now))
        audit.record(conn, now, HUB_SENDER, "workflow_run", "task", task_id, record)
        events.emit(conn, now, K.WORKFLOW, WorkflowRun(
            workflow=record["workflow"], trigger=record["trigger"], task_id=task_id, status=record["status"],
            steps=[s["action"] for s in record["steps"]], **({"error": record["error"]} if "error" in record else {})))
        return record


def open_engine(hub: Hub, folder: Path) -> Engine:
    """The engine for the workflows in `folder`, loaded, with its place in the log set."""
    library = Library(hub, folder)
    library.reload()
    engine = Engine(hub, library)
    engine.start()
    return engine


def rehearse(hub: Hub, workflow: Workflow, kind: str, task_id: int | None = None, verdict: str | None = None,
             agent: str = "", note: str = "") -> list[dict]:
    """What `workflow` would do for an event, carried out in a transaction that is then rolled back."""
    records = []
    engine = Engine(hub, Library.of({workflow.name: workflow}))
    with hub.store.rehearse() as conn:
        task = tasks.load(conn, task_id) if task_id is not None else None
        parent = tasks.load(conn, task.parent_id) if task and task.parent_id else None
        context = Context(kind, {"note": note}, task, parent, actor=task.assignee or "" if task else "",
                          agent=agent, verdict=verdict)
        for index, trigger in enumerate(workflow.triggers):
            if trigger.event == kind and matches(conn, hub, trigger, context):
                records.append(engine.run(conn, workflow, index, trigger, replace(context), None, dry=True))
    return records
