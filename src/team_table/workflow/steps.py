"""The steps a workflow can take, one handler per kind, registered by the name a workflow file uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from team_table import comments, escalations, members, messages, tasks, templates
from team_table.errors import TeamTableError
from team_table.hub import Hub
from team_table.models import Task
from team_table.names import HUB_SENDER
from team_table.store import Tx
from team_table.task_states import FINISHED_SQL, S
from team_table.workflow.spec import AssignStep, CreateTaskStep, MessageStep, Workflow
from team_table.workflow.triggers import Context, matches

MAX_START_DEPTH = 5


class NoCandidate(TeamTableError):
    code = "conflict"


@dataclass
class Run:
    """One trigger being carried out: where, for which workflow, about what, and how deep in `start`s."""

    conn: Tx
    hub: Hub
    workflow: Workflow
    context: Context
    workflows: dict[str, Workflow]
    depth: int = 0

    @property
    def me(self):
        return self.hub.itself()

    @property
    def task(self) -> Task:
        if self.context.task is None:
            raise NoCandidate("this step needs a task, and the event is not about one")
        return self.context.task

    def render(self, source: str) -> str:
        return templates.render_strict(source, self.context.variables(self.workflow.name))


Handler = Callable[[Run, Any], Any]
STEPS: dict[str, Handler] = {}


def step(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        STEPS[name] = handler
        return handler

    return register


def carry_out(run: Run, action: str, spec: Any) -> Any:
    """Do one step; returns what it did (recorded with the run)."""
    return STEPS[action](run, spec)


@step("create_task")
def _create_task(run: Run, spec: CreateTaskStep) -> dict:
    task = run.context.task
    parent_id = {"task": task and task.id, "parent": task and task.parent_id, "none": None}[spec.parent]
    created = tasks.create(
        run.hub, run.me, run.render(spec.title)[:200], run.render(spec.description),
        priority=spec.priority or (task.priority if task else "medium"), kind=spec.kind, parent_id=parent_id,
        depends_on=[task.id] if spec.depends_on_task and task else None, labels=list(spec.labels))
    if spec.assign is not None:
        who = pick(run.conn, run.hub, spec.assign, author=task.assignee if task else None)
        created = tasks.reassign(run.hub, run.me, created.id, who)
    return {"task": created.id, "assignee": created.assignee}


@step("assign_reviewer")
def _assign_reviewer(run: Run, spec: AssignStep) -> dict:
    task = run.task
    if task.reviewer and task.reviewer != task.assignee \
            and task.reviewer in members.holding(run.conn, run.hub, {spec.role}):  # named, or a rework round
        return {"reviewer": task.reviewer, "kept": True}
    who = pick(run.conn, run.hub, spec, author=task.assignee, also_not=tasks.workers(run.conn, task.id))
    tasks.set_reviewer(run.hub, run.me, task.id, who)
    return {"reviewer": who}


@step("set_status")
def _set_status(run: Run, status: str) -> dict:
    return {"status": tasks.update(run.hub, run.me, run.task.id, status).status}


@step("set_parent_status")
def _set_parent_status(run: Run, status: str) -> dict:
    if run.context.parent is None:
        raise NoCandidate(f"task {run.task.id} has no parent to set")
    return {"parent": run.context.parent.id,
            "status": tasks.update(run.hub, run.me, run.context.parent.id, status).status}


@step("send_back_to_author")
def _send_back(run: Run, _: bool) -> dict:
    """Back to whoever did the work: the task a QA task tested (what it depends on, else its parent) is
    reopened for its author with the findings."""
    task, hub, me = run.task, run.hub, run.me
    target = task
    if task.kind == "qa":
        target = tasks.load(run.conn, task.depends_on[0]) if task.depends_on else (run.context.parent or task)
    author = target.assignee
    findings = task.result or run.context.event.get("note") or "see the task's comments"
    if target.status == S.DONE:
        tasks.update(hub, me, target.id, S.PENDING, reason=f"sent back by {task.kind or 'a'} task {task.id}: "
                                                            f"{findings}")
    elif target.status != S.IN_PROGRESS:
        tasks.update(hub, me, target.id, S.IN_PROGRESS)
    if author:
        tasks.reassign(hub, me, target.id, author)
    comments.comment(hub, me, target.id, f"Sent back by task {task.id}: {findings}")
    return {"task": target.id, "to": author}


@step("comment")
def _comment(run: Run, source: str) -> dict:
    return {"comment": comments.comment(run.hub, run.me, run.task.id, run.render(source)).id}


@step("message")
def _message(run: Run, spec: MessageStep) -> dict:
    text = run.render(spec.text)
    text = text if text.startswith("[AUTO]") else f"[AUTO] {text}"
    people = recipients(run.conn, run.hub, spec.to, run.context)
    task = run.context.task
    for person in people:  # about a task: in the task's one thread
        if task is not None:
            messages.about_task(run.hub, person, text, task.id)
        else:
            messages.send(run.hub, run.me, person, text)
    return {"to": people}


@step("escalate")
def _escalate(run: Run, source: str) -> dict:
    reason = run.render(source)
    escalation_id = escalations.escalate(run.conn, run.hub, None, HUB_SENDER, HUB_SENDER,
                                         f"workflow:{run.workflow.name}", run.hub.team.escalation.notify,
                                         run.hub.now(), reason=reason,
                                         task_id=run.context.task.id if run.context.task else None)
    return {"escalation": escalation_id, "reason": reason}


@step("start")
def _start(run: Run, name: str) -> dict:
    other = run.workflows.get(name)
    if other is None or not other.enabled:
        raise NoCandidate(f"there is no enabled workflow {name!r} to start")
    if run.depth >= MAX_START_DEPTH:
        raise NoCandidate(f"workflows start one another more than {MAX_START_DEPTH} deep: a loop?")
    started = Context(**{**run.context.__dict__, "kind": "started"})
    inner = Run(run.conn, run.hub, other, started, run.workflows, run.depth + 1)
    for trigger in other.triggers:
        if trigger.event == "started" and matches(run.conn, run.hub, trigger, started):
            for each in trigger.do:
                carry_out(inner, each.action, getattr(each, each.action))
    return {"started": name}


def pick(conn: Tx, hub: Hub, assign: AssignStep, author: str | None, also_not: Iterable[str] = ()) -> str:
    """A member holding the role: the least loaded, or the next in turn; never the author unless allowed (nor,
    for a reviewer, anyone who worked on the task)."""
    barred = {name for name in (author, *also_not) if name is not None} if assign.never_author else set()
    candidates = [name for name in members.holding(conn, hub, {assign.role}) if name not in barred]
    if not candidates:
        raise NoCandidate(f"no active member holds the {assign.role} role" +
                          (f" besides {', '.join(sorted(barred))}" if barred else ""))
    if assign.strategy == "round_robin":
        key = f"round_robin:{assign.role}"
        conn.lock(key)  # a scheduled run and an event's run may pick at once
        row = conn.execute("SELECT value FROM workflow_state WHERE key = ?", (key,)).fetchone()
        after = row["value"] if row else ""
        chosen = next((c for c in candidates if c > after), candidates[0])
        conn.execute("INSERT INTO workflow_state (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET"
                     " value = excluded.value", (key, chosen))
        return chosen
    load = {name: conn.execute(
        f"SELECT COUNT(*) FROM task WHERE status NOT IN {FINISHED_SQL} AND (assignee = ? OR"
        f" (reviewer = ? AND status = '{S.AWAITING_REVIEW}'))", (name, name)).fetchone()[0] for name in candidates}
    return min(candidates, key=lambda name: (load[name], name))


def recipients(conn: Tx, hub: Hub, to: str, context: Context) -> list[str]:
    task = context.task
    named = {"assignee": task and task.assignee, "author": task and task.assignee, "reviewer": task and task.reviewer,
             "creator": task and task.creator, "agent": context.agent or None, "actor": context.actor or None}
    if to.startswith("role:"):  # a role nobody holds right now is no error: the message has no one to reach
        return sorted(set(members.holding(conn, hub, {to.removeprefix("role:")})) - {HUB_SENDER})
    people = [name for name in ([named[to]] if to in named else [to]) if name]
    if not people:
        raise NoCandidate(f"nobody to send to: {to!r} names no one here")
    return sorted(set(people) - {HUB_SENDER})
