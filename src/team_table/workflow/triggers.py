"""Triggers: what an event of the log means for workflows, and whether a trigger's conditions hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from team_table import members, tasks
from team_table.event_kinds import K
from team_table.events import Event
from team_table.hub import Hub
from team_table.models import Task
from team_table.names import HUB_SENDER
from team_table.store import Tx
from team_table.task_states import FINISHED, FINISHED_SQL, S, TaskStatus
from team_table.workflow.spec import Trigger


@dataclass
class Context:
    """What a trigger matched: the event, and the task (and its parent) it is about."""

    kind: str
    event: dict[str, Any]
    task: Task | None = None
    parent: Task | None = None
    actor: str = ""
    agent: str = ""  # for agent_offline and message_to_role
    verdict: str | None = None
    round: int = 0

    def variables(self, workflow: str) -> dict[str, Any]:
        return {"task": self.task.model_dump(mode="json") if self.task else {},
                "parent": self.parent.model_dump(mode="json") if self.parent else {},
                "event": {**self.event, "kind": self.kind, "agent": self.agent}, "actor": self.actor,
                "round": self.round, "workflow": workflow}


def open_children(conn: Tx, task_id: int) -> int:
    return conn.execute(f"SELECT COUNT(*) FROM task WHERE parent_id = ? AND status NOT IN {FINISHED_SQL}",
                        (task_id,)).fetchone()[0]


def matches(conn: Tx, hub: Hub, trigger: Trigger, context: Context) -> bool:
    when, task = trigger.when, context.task
    if task is not None:
        if not when.matches_value(when.kind, task.kind) or not when.matches_value(when.status, task.status):
            return False
        if when.labels and not set(when.labels) & set(task.labels):
            return False
    elif when.kind is not None or when.status is not None or when.labels:
        return False
    if when.verdict is not None and when.verdict != context.verdict:
        return False
    if when.role is not None:
        who = context.agent or context.actor
        if who not in members.holding(conn, hub, {when.role}):
            return False
    if when.has_claims is not None:
        held = conn.execute(f"SELECT COUNT(*) FROM task WHERE assignee = ? AND status = '{S.IN_PROGRESS}'",
                            (context.agent,)).fetchone()[0]
        if bool(held) != when.has_claims:
            return False
    return True


def contexts(conn: Tx, hub: Hub, event: Event) -> list[Context]:
    """What an event of the log means for workflows (none for most)."""
    data = event.data

    def about(task_id: int) -> tuple[Task, Task | None]:
        task = tasks.load(conn, task_id)
        return task, tasks.load(conn, task.parent_id) if task.parent_id else None

    found: list[Context] = []
    if event.kind == K.TASK_ASSIGNED and data.get("new"):
        task, parent = about(data["id"])
        found.append(Context("task_created", data, task, parent, actor=data.get("creator", "")))
    elif event.kind == K.TASK_UPDATED:
        if data.get("was") == data["status"] and "review" not in data:
            return found  # nothing moved (a reassignment, say): no status trigger
        task, parent = about(data["id"])
        task = task.model_copy(update={"status": TaskStatus(data["status"])})  # as the event saw it, not as now
        actor = data.get("by", "")
        if "review" in data:
            rounds = data.get("round", task.review_rounds)  # as it was when the verdict was given
            note = conn.execute("SELECT text FROM task_comment WHERE task_id = ? ORDER BY id DESC LIMIT 1",
                                (task.id,)).fetchone()
            found.append(Context("review", {**data, "note": data.get("note") or (note["text"] if note else "")},
                                 task, parent, actor,
                                 verdict=data["review"], round=rounds))
        found.append(Context("task_status", data, task, parent, actor))
        if task.status in FINISHED and parent is not None and not open_children(conn, parent.id):
            grand = tasks.load(conn, parent.parent_id) if parent.parent_id else None
            found.append(Context("children_done", data, parent, grand, actor))
    elif event.kind == K.TASK_COMMENT and data.get("primary"):  # one event per comment, not per reader
        task, parent = about(data["id"])
        found.append(Context("comment", data, task, parent, actor=data.get("author", "")))
    elif event.kind == K.PRESENCE and data.get("status") == "offline":
        found.append(Context("agent_offline", data, agent=data["agent"]))
    elif event.kind == K.MESSAGE and data.get("sender") != HUB_SENDER:
        found.append(Context("message_to_role", data, actor=data.get("sender", ""), agent=data["recipient"]))
    return found

