"""The task board: create, list, claim and next (atomically, across processes), update with legal moves."""

from __future__ import annotations

import json
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


SELECT = ("SELECT t.*, (SELECT json_group_array(depends_on) FROM task_dependency d WHERE d.task_id = t.id)"
          " AS deps FROM task t")
S = TaskStatus
# Where a task may go from each status (review_task and cancel_task are the usual ways out of review).
MOVES: dict[TaskStatus, set[TaskStatus]] = {
    S.PENDING: {S.PENDING, S.IN_PROGRESS, S.BLOCKED, S.DONE, S.CANCELLED},
    S.IN_PROGRESS: {S.IN_PROGRESS, S.PENDING, S.BLOCKED, S.AWAITING_REVIEW, S.DONE, S.CANCELLED},
    S.BLOCKED: {S.BLOCKED, S.PENDING, S.IN_PROGRESS, S.DONE, S.CANCELLED},
    S.AWAITING_REVIEW: {S.AWAITING_REVIEW, S.IN_PROGRESS, S.CANCELLED},  # done comes from review_task
    S.DONE: {S.DONE},
    S.CANCELLED: {S.CANCELLED},
}
FINISHED = {S.DONE, S.CANCELLED}


def _task(row: sqlite3.Row) -> Task:
    keys = row.keys()
    return Task(
        id=row["id"], title=row["title"], description=row["description"], status=row["status"],
        priority=row["priority"], creator=row["creator"], assignee=row["assignee"] or None,
        result=row["result"], created_at=row["created_at"], updated_at=row["updated_at"],
        kind=row["kind"], parent_id=row["parent_id"], reviewer=row["reviewer"], labels=json.loads(row["labels"]),
        depends_on=sorted(json.loads(row["deps"])) if "deps" in keys and row["deps"] else [],
    )


def load(conn: sqlite3.Connection | Hub, task_id: int) -> Task:
    """One task as it is now, or not_found."""
    rows = conn.store.query(SELECT + " WHERE t.id = ?", (task_id,)) if isinstance(conn, Hub) else \
        conn.execute(SELECT + " WHERE t.id = ?", (task_id,)).fetchall()
    if not rows:
        raise NotFound(f"No task {task_id}; list_tasks shows the board.")
    return _task(rows[0])


def create(hub: Hub, caller: Caller, title: str, description: str = "", assignee: str = "",
           priority: str = "medium", *, kind: str = "", parent_id: int | None = None,
           depends_on: list[int] | None = None, reviewer: str = "", labels: list[str] | None = None) -> Task:
    """A pending task; an assignee reserves it for that member. It may sit under a parent, wait on others."""
    caller.require("create_task")
    sizes = hub.team.limits.sizes
    limits.text(title, sizes.task_title, "task title")
    limits.text(description, sizes.task_description, "task description", required=False)
    if priority not in Priority.__members__.values():
        raise Invalid(f"Unknown priority {priority!r}; use low, medium or high.")
    for who, what in ((assignee, "assignee"), (reviewer, "reviewer")):
        if who:
            check_name(who, what)
    labels = _labels(labels or [])
    limits.text(kind, 64, "task kind", required=False)
    now = hub.now()
    with hub.store.write() as conn:
        if parent_id:
            parent = load(conn, parent_id)
            if caller.name not in (parent.creator, parent.assignee) and not caller.may("update_any_task"):
                raise Forbidden(f"Only task {parent_id}'s creator or assignee (or a lead) may add subtasks to it.")
        waits = sorted(set(depends_on or ()))
        for other in waits:
            load(conn, other)
        limits.take(conn, hub, caller, "create_task")
        row = conn.execute(
            "INSERT INTO task (title, description, status, priority, creator, assignee, reserved_for, created_at,"
            " updated_at, kind, parent_id, reviewer, labels) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " RETURNING id",
            (title, description, priority, caller.name, assignee or None, assignee or None, now, now, kind,
             parent_id, reviewer or None, json.dumps(labels)),
        ).fetchone()
        conn.executemany("INSERT INTO task_dependency (task_id, depends_on) VALUES (?, ?)",
                         [(row["id"], other) for other in waits])
        audit.record(conn, now, caller.name, "create_task", "task", row["id"],
                     {"title": title, "priority": priority, "assignee": assignee or None, "kind": kind,
                      "parent_id": parent_id, "depends_on": waits})
        announce = {"id": row["id"], "title": title, "creator": caller.name, "assignee": assignee or None,
                    "priority": priority, "kind": kind, "new": True}
        if assignee:
            events.emit(conn, now, "task_assigned", announce, to=assignee)
        else:
            events.emit(conn, now, "task_assigned", announce, exclude=caller.name)
        return load(conn, row["id"])


def _labels(labels: list[str]) -> list[str]:
    if not isinstance(labels, list) or not all(isinstance(x, str) and 0 < len(x) <= 64 for x in labels) \
            or len(labels) > 20:
        raise Invalid("labels must be a list of at most 20 texts of 1 to 64 characters.")
    return labels


def listing(hub: Hub, status: str = "", assignee: str = "") -> list[Task]:
    where, params = [], []
    if status:
        where.append("t.status = ?")
        params.append(_status(status).value)
    if assignee:
        check_name(assignee, "assignee")
        where.append("t.assignee = ?")
        params.append(assignee)
    sql = SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY t.id"
    return [_task(r) for r in hub.store.query(sql, params)]


_WAITING = ("EXISTS (SELECT 1 FROM task_dependency d JOIN task x ON x.id = d.depends_on"
            " WHERE d.task_id = task.id AND x.status != 'done')")


def claim(hub: Hub, caller: Caller, task_id: int) -> Task:
    """Take a pending task: one conditional UPDATE, so of many claimers exactly one wins."""
    caller.require("claim_task")
    privileged = caller.may("claim_reserved")
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute(
            "UPDATE task SET status = 'in_progress', assignee = ?, updated_at = ?"
            f" WHERE id = ? AND status = 'pending' AND (assignee IS NULL OR assignee = ? OR ?) AND NOT {_WAITING}"
            " RETURNING *",
            (caller.name, now, task_id, caller.name, privileged),
        ).fetchone()
        if row is None:
            _explain_failed_claim(conn, task_id)
        audit.record(conn, now, caller.name, "claim_task", "task", task_id)
        _announce_update(conn, now, row, caller, S.PENDING)
        return load(conn, task_id)


# Which role a task's kind calls for, when the kind is not itself a role or a capability.
KIND_ROLES = {"code": "coder", "review": "reviewer", "qa": "tester", "test": "tester", "design": "designer"}


def next_task(hub: Hub, caller: Caller) -> Task:
    """Claim the best task for the caller, atomically: reserved for it or free, its dependencies done, its kind
    fitting the caller's roles or capabilities; then by priority, then age."""
    caller.require("claim_task")
    rows = hub.store.query("SELECT capabilities FROM member WHERE name = ?", (caller.name,))
    fits = set(caller.roles) | set(json.loads(rows[0]["capabilities"]) if rows else [])
    fits |= {kind for kind, role in KIND_ROLES.items() if role in caller.roles}
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute(
            "UPDATE task SET status = 'in_progress', assignee = :me, updated_at = :now WHERE id = ("
            " SELECT id FROM task WHERE status = 'pending' AND (assignee IS NULL OR assignee = :me)"
            f" AND NOT {_WAITING} AND (kind = '' OR kind IN (SELECT value FROM json_each(:fits)))"
            " ORDER BY (assignee IS NOT NULL) DESC,"
            " CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, id LIMIT 1"
            ") AND status = 'pending' RETURNING *",
            {"me": caller.name, "now": now, "fits": json.dumps(sorted(fits))},
        ).fetchone()
        if row is None:
            raise NotFound("No task is waiting for you now: none is free (or reserved for you) with its "
                           "dependencies done and a kind that fits your roles or capabilities.")
        audit.record(conn, now, caller.name, "claim_task", "task", row["id"], {"via": "next_task"})
        _announce_update(conn, now, row, caller, S.PENDING)
        return load(conn, row["id"])


def _explain_failed_claim(conn: sqlite3.Connection, task_id: int) -> None:
    current = conn.execute("SELECT status, assignee FROM task WHERE id = ?", (task_id,)).fetchone()
    if current is None:
        raise NotFound(f"No task {task_id}; list_tasks shows the board.")
    if current["status"] != TaskStatus.PENDING:
        holder = f" by {current['assignee']}" if current["assignee"] else ""
        raise Conflict(f"Task {task_id} is {current['status']}{holder}, not pending; it cannot be claimed.")
    waiting = [r[0] for r in conn.execute(
        "SELECT d.depends_on FROM task_dependency d JOIN task x ON x.id = d.depends_on"
        " WHERE d.task_id = ? AND x.status != 'done' ORDER BY 1", (task_id,))]
    if waiting:
        raise Conflict(f"Task {task_id} waits for task(s) {', '.join(map(str, waiting))} to be done first.")
    raise Forbidden(
        f"Task {task_id} is reserved for {current['assignee']}; only they, or a role with the claim_reserved "
        "permission (admin, lead), can claim it."
    )


def update(hub: Hub, caller: Caller, task_id: int, status: str, result: str = "", reason: str = "") -> Task:
    """Set a task's status (and result); for its creator, its assignee, an admin or a lead. A done or cancelled
    task goes back to pending only when reopened with a reason."""
    new_status = _status(status)
    limits.text(result, hub.team.limits.sizes.task_result, "task result", required=False)
    limits.text(reason, hub.team.limits.sizes.task_result, "reason", required=False)
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute("SELECT creator, assignee, status, reviewer FROM task WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise NotFound(f"No task {task_id}; list_tasks shows the board.")
        _may_update(caller, task_id, row)
        was = TaskStatus(row["status"])
        if new_status == S.DONE and row["reviewer"] and was != S.DONE and not caller.may("update_any_task"):
            raise Conflict(f"Task {task_id} has a reviewer ({row['reviewer']}): it is done when review_task "
                           "approves it. Set it to awaiting_review.")
        reopen = was in FINISHED and new_status == S.PENDING
        if reopen and not reason.strip():
            raise Invalid(f"Task {task_id} is {was}; reopening it needs a reason (update_task(..., reason=...)).")
        if not reopen and new_status not in MOVES[was]:
            raise Conflict(f"Task {task_id} is {was}; it cannot move to {new_status}"
                           f" (from {was} it may go to {', '.join(sorted(MOVES[was] - {was})) or 'nowhere'}).")
        # Back to pending: the task is free again, or reserved for the member it was created for.
        fields = "status = ?, updated_at = ?" + (", result = ?" if result else "") + \
            (", assignee = reserved_for" if new_status == S.PENDING else "")
        conn.execute(f"UPDATE task SET {fields} WHERE id = ?",
                     (new_status.value, now, *([result] if result else []), task_id))
        if reopen:
            conn.execute("INSERT INTO task_comment (task_id, author, text, at) VALUES (?, ?, ?, ?)",
                         (task_id, caller.name, f"Reopened: {reason}", now))
        audit.record(conn, now, caller.name, "reopen_task" if reopen else "update_task", "task", task_id,
                     {"status": new_status.value, "was": was.value, **({"reason": reason} if reopen else {})})
        updated = conn.execute("SELECT * FROM task WHERE id = ?", (task_id,)).fetchone()
        _announce_update(conn, now, updated, caller, was)
        return load(conn, task_id)


def _may_update(caller: Caller, task_id: int, row: sqlite3.Row) -> None:
    if caller.name in (row["creator"], row["assignee"]):
        caller.require("update_task")
    elif not caller.may("update_any_task"):
        raise Forbidden(
            f"Only task {task_id}'s creator ({row['creator']}), its assignee, or a role with the update_any_task "
            "permission (admin, lead) may update it."
        )


def _creator_or(caller: Caller, task: Task, action: str) -> None:
    """A task's creator may do this to it; anyone else needs the permission."""
    if caller.name != task.creator:
        caller.require(action)


def reassign(hub: Hub, caller: Caller, task_id: int, assignee: str) -> Task:
    """Give a task to another member (its creator, or a role with assign_task)."""
    check_name(assignee, "assignee")
    now = hub.now()
    with hub.store.write() as conn:
        task = load(conn, task_id)
        _creator_or(caller, task, "assign_task")
        if task.status in FINISHED:
            raise Conflict(f"Task {task_id} is {task.status}; reopen it before giving it to someone.")
        updated = conn.execute("UPDATE task SET assignee = ?, reserved_for = ?, updated_at = ? WHERE id = ?"
                               " RETURNING *", (assignee, assignee, now, task_id)).fetchone()
        audit.record(conn, now, caller.name, "reassign_task", "task", task_id,
                     {"assignee": assignee, "was": task.assignee})
        events.emit(conn, now, "task_assigned", {"id": task_id, "title": task.title, "creator": task.creator,
                                                 "assignee": assignee, "priority": task.priority}, to=assignee)
        _announce_update(conn, now, updated, caller)
        return load(conn, task_id)


def cancel(hub: Hub, caller: Caller, task_id: int) -> list[Task]:
    """Cancel a task and everything under it; what is done stays done. Returns the tasks cancelled."""
    now = hub.now()
    with hub.store.write() as conn:
        _creator_or(caller, load(conn, task_id), "cancel_task")
        open_ones = conn.execute(
            "WITH RECURSIVE tree(id) AS (SELECT ? UNION SELECT t.id FROM task t JOIN tree ON t.parent_id = tree.id)"
            " SELECT task.id, task.status FROM task JOIN tree ON task.id = tree.id"
            " WHERE task.status NOT IN ('done', 'cancelled') ORDER BY task.id", (task_id,)).fetchall()
        for one, before in open_ones:
            updated = conn.execute("UPDATE task SET status = 'cancelled', updated_at = ? WHERE id = ? RETURNING *",
                                   (now, one)).fetchone()
            audit.record(conn, now, caller.name, "cancel_task", "task", one, {"subtree_of": task_id})
            _announce_update(conn, now, updated, caller, before)
        return [load(conn, one) for one, _ in open_ones]


def _announce_update(conn: sqlite3.Connection, now: str, row: sqlite3.Row, caller: Caller,
                     was: str | None = None) -> None:
    events.emit(conn, now, "task_updated",
                {"id": row["id"], "status": row["status"], "assignee": row["assignee"], "by": caller.name,
                 "was": str(was) if was is not None else row["status"]},
                exclude=caller.name)


def set_reviewer(hub: Hub, caller: Caller, task_id: int, reviewer: str) -> Task:
    """Name who reviews a task (its creator, or a role with assign_task)."""
    check_name(reviewer, "reviewer")
    now = hub.now()
    with hub.store.write() as conn:
        task = load(conn, task_id)
        _creator_or(caller, task, "assign_task")
        conn.execute("UPDATE task SET reviewer = ?, updated_at = ? WHERE id = ?", (reviewer, now, task_id))
        audit.record(conn, now, caller.name, "set_reviewer", "task", task_id, {"reviewer": reviewer})
        events.emit(conn, now, "task_assigned", {"id": task_id, "title": task.title, "creator": task.creator,
                                                 "assignee": task.assignee, "reviewer": reviewer,
                                                 "priority": task.priority}, to=reviewer)
        return load(conn, task_id)
