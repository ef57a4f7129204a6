"""Comments on tasks, and a task's whole story: its comments, children, dependencies and history."""

from __future__ import annotations

from team_table import audit, events, limits, notices, receipts
from team_table.event_kinds import K, TaskComment
from team_table.hub import Hub
from team_table.models import AuditEntry, Caller, Comment, TaskDetail
from team_table.tasks import SELECT, load, rows_to_tasks


def comment(hub: Hub, caller: Caller, task_id: int, text: str) -> Comment:
    caller.require("comment_task")
    limits.text(text, hub.team.limits.sizes.task_description, "comment")
    now = hub.now()
    with hub.store.write() as conn:
        task = load(conn, task_id)
        row = conn.execute("INSERT INTO task_comment (task_id, author, text, at) VALUES (?, ?, ?, ?) RETURNING *",
                           (task_id, caller.name, text, now)).fetchone()
        audit.record(conn, now, caller.name, "comment_task", "task", task_id, {"comment": row["id"]})
        readers = sorted({task.creator, task.assignee, task.reviewer} - {None, caller.name}) or [task.creator]
        for n, who in enumerate(readers):  # one push per reader; workflows react to the first ("primary") only
            events.emit(conn, now, K.TASK_COMMENT, TaskComment(id=task_id, comment=row["id"], author=caller.name,
                                                               primary=n == 0), to=who)
        notices.commented(conn, hub, now, task.model_dump(), readers, caller.name, text)
        receipts.acted_on_task(conn, now, caller.name, task_id, receipts.Acted.COMMENT)
    return Comment(**dict(row))


def detail(hub: Hub, task_id: int, *, caller: Caller | None = None) -> TaskDetail:
    """A task's whole story; every member may read any task (caller None: the operator)."""
    task = load(hub, task_id)
    comments = [Comment(**dict(r)) for r in hub.store.query(
        "SELECT * FROM task_comment WHERE task_id = ? ORDER BY id", (task_id,))]
    children = rows_to_tasks(hub, hub.store.query(SELECT + " WHERE t.parent_id = ? ORDER BY t.id", (task_id,)))
    dependencies = rows_to_tasks(hub, hub.store.query(
        SELECT + " WHERE t.id IN (SELECT depends_on FROM task_dependency WHERE task_id = ?) ORDER BY t.id",
        (task_id,)))
    history = [AuditEntry(id=r["id"], timestamp=r["at"], agent_name=r["actor"], action=r["action"],
                          target_type=r["target_type"], target_id=r["target_id"], details=r["details"])
               for r in hub.store.query("SELECT * FROM audit WHERE target_type = 'task' AND target_id = ?"
                                        " ORDER BY id", (str(task_id),))]
    return TaskDetail(**task.model_dump(), comments=comments, children=children, dependencies=dependencies,
                      history=history)
