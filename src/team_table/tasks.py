"""The task board: create, list, claim (atomically, across processes), update."""

from __future__ import annotations

import sqlite3

from team_table import audit, events, limits
from team_table.errors import Conflict, Forbidden, Invalid, NotFound
from team_table.hub import Hub
from team_table.models import Caller, Priority, Task, TaskStatus
from team_table.names import check_name


def _status(value: str) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError:
        raise Invalid(f"Unknown status {value!r}; use one of: {', '.join(s.value for s in TaskStatus)}.") from None


def _task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"], title=row["title"], description=row["description"], status=row["status"],
        priority=row["priority"], creator=row["creator"], assignee=row["assignee"] or None,
        result=row["result"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


def create(hub: Hub, caller: Caller, title: str, description: str = "", assignee: str = "",
           priority: str = "medium") -> Task:
    """A pending task; an assignee reserves it for that member."""
    caller.require("create_task")
    sizes = hub.team.limits.sizes
    limits.text(title, sizes.task_title, "task title")
    limits.text(description, sizes.task_description, "task description", required=False)
    if priority not in Priority.__members__.values():
        raise Invalid(f"Unknown priority {priority!r}; use low, medium or high.")
    if assignee:
        check_name(assignee, "assignee")
    now = hub.now()
    with hub.store.write() as conn:
        limits.take(conn, hub, caller, "create_task")
        row = conn.execute(
            "INSERT INTO task (title, description, status, priority, creator, assignee, reserved_for, created_at,"
            " updated_at) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?) RETURNING *",
            (title, description, priority, caller.name, assignee or None, assignee or None, now, now),
        ).fetchone()
        audit.record(conn, now, caller.name, "create_task", "task", row["id"],
                     {"title": title, "priority": priority, "assignee": assignee or None})
        announce = {"id": row["id"], "title": title, "creator": caller.name, "assignee": assignee or None,
                    "priority": priority}
        if assignee:
            events.emit(conn, now, "task_assigned", announce, to=assignee)
        else:
            events.emit(conn, now, "task_assigned", announce, exclude=caller.name)
    return _task(row)


def listing(hub: Hub, status: str = "", assignee: str = "") -> list[Task]:
    where, params = [], []
    if status:
        where.append("status = ?")
        params.append(_status(status).value)
    if assignee:
        check_name(assignee, "assignee")
        where.append("assignee = ?")
        params.append(assignee)
    sql = "SELECT * FROM task" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
    return [_task(r) for r in hub.store.query(sql, params)]


def claim(hub: Hub, caller: Caller, task_id: int) -> Task:
    """Take a pending task: one conditional UPDATE, so of many claimers exactly one wins."""
    caller.require("claim_task")
    privileged = caller.may("claim_reserved")
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute(
            "UPDATE task SET status = 'in_progress', assignee = ?, updated_at = ?"
            " WHERE id = ? AND status = 'pending' AND (assignee IS NULL OR assignee = ? OR ?)"
            " RETURNING *",
            (caller.name, now, task_id, caller.name, privileged),
        ).fetchone()
        if row is None:
            _explain_failed_claim(conn, task_id)
        audit.record(conn, now, caller.name, "claim_task", "task", task_id)
        _announce_update(conn, now, row, caller)
    return _task(row)


def _explain_failed_claim(conn: sqlite3.Connection, task_id: int) -> None:
    current = conn.execute("SELECT status, assignee FROM task WHERE id = ?", (task_id,)).fetchone()
    if current is None:
        raise NotFound(f"No task {task_id}; list_tasks shows the board.")
    if current["status"] != TaskStatus.PENDING:
        holder = f" by {current['assignee']}" if current["assignee"] else ""
        raise Conflict(f"Task {task_id} is {current['status']}{holder}, not pending; it cannot be claimed.")
    raise Forbidden(
        f"Task {task_id} is reserved for {current['assignee']}; only they, or a role with the claim_reserved "
        "permission (admin, lead), can claim it."
    )


def update(hub: Hub, caller: Caller, task_id: int, status: str, result: str = "") -> Task:
    """Set a task's status (and result); for its creator, its assignee, an admin or a lead."""
    new_status = _status(status)
    limits.text(result, hub.team.limits.sizes.task_result, "task result", required=False)
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute("SELECT creator, assignee, status FROM task WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise NotFound(f"No task {task_id}; list_tasks shows the board.")
        if caller.name in (row["creator"], row["assignee"]):
            caller.require("update_task")
        elif not caller.may("update_any_task"):
            raise Forbidden(
                f"Only task {task_id}'s creator ({row['creator']}), its assignee, or a role with the update_any_task "
                "permission (admin, lead) may update it."
            )
        if result:
            sql, params = "UPDATE task SET status = ?, result = ?, updated_at = ? WHERE id = ? RETURNING *", \
                (new_status.value, result, now, task_id)
        else:
            sql, params = "UPDATE task SET status = ?, updated_at = ? WHERE id = ? RETURNING *", \
                (new_status.value, now, task_id)
        updated = conn.execute(sql, params).fetchone()
        audit.record(conn, now, caller.name, "update_task", "task", task_id,
                     {"status": new_status.value, "was": row["status"]})
        _announce_update(conn, now, updated, caller)
    return _task(updated)


def _announce_update(conn: sqlite3.Connection, now: str, row: sqlite3.Row, caller: Caller) -> None:
    events.emit(conn, now, "task_updated",
                {"id": row["id"], "status": row["status"], "assignee": row["assignee"], "by": caller.name},
                exclude=caller.name)
