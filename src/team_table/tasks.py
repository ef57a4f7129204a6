"""The task board: create, list, update with legal moves, reassign, cancel; and who worked on each task."""

from __future__ import annotations

import json
from collections.abc import Sequence

from team_table import audit, events, limits, notices, receipts, task_paths
from team_table.errors import Conflict, Forbidden, Invalid, NotFound
from team_table.event_kinds import K, TaskAssigned, TaskUpdated
from team_table.hub import Hub
from team_table.models import Caller, Task
from team_table.names import check_name
from team_table.store import Tx, placeholders
from team_table.task_states import FINISHED, FINISHED_SQL, WORKING, Priority, S, TaskStatus


def _status(value: str) -> TaskStatus:
    try:
        return TaskStatus(value)
    except ValueError:
        raise Invalid(f"Unknown status {value!r}; use one of: {', '.join(s.value for s in TaskStatus)}.") from None


SELECT = "SELECT t.* FROM task t"
# Where a task may go from each status (review_task and cancel_task are the usual ways out of review).
MOVES: dict[TaskStatus, set[TaskStatus]] = {
    S.PENDING: {S.PENDING, S.IN_PROGRESS, S.BLOCKED, S.DONE, S.CANCELLED},
    S.IN_PROGRESS: {S.IN_PROGRESS, S.PENDING, S.BLOCKED, S.AWAITING_REVIEW, S.DONE, S.CANCELLED},
    S.BLOCKED: {S.BLOCKED, S.PENDING, S.IN_PROGRESS, S.DONE, S.CANCELLED},
    S.AWAITING_REVIEW: {S.AWAITING_REVIEW, S.IN_PROGRESS, S.CANCELLED},  # done comes from review_task
    S.DONE: {S.DONE},
    S.CANCELLED: {S.CANCELLED},
}


def _read(source: Tx | Hub, sql: str, params: Sequence = ()) -> list:
    """Rows from inside a transaction, or from the store when there is none."""
    return source.store.query(sql, params) if isinstance(source, Hub) else source.execute(sql, params).fetchall()


def rows_to_tasks(source: Tx | Hub, rows: list) -> list[Task]:
    """Task records for task rows, with what each depends on (one more query for all of them)."""
    ids = [row["id"] for row in rows]
    waits: dict[int, list[int]] = {}
    if ids:
        for row in _read(source, f"SELECT task_id, depends_on FROM task_dependency WHERE task_id IN"
                                 f" ({placeholders(ids)}) ORDER BY depends_on", ids):
            waits.setdefault(row[0], []).append(row[1])
    return [_task(row, waits.get(row["id"], [])) for row in rows]


def _task(row, depends_on: list[int]) -> Task:
    return Task(
        id=row["id"], title=row["title"], description=row["description"], status=row["status"],
        priority=row["priority"], creator=row["creator"], assignee=row["assignee"] or None,
        result=row["result"], created_at=row["created_at"], updated_at=row["updated_at"],
        kind=row["kind"], parent_id=row["parent_id"], reviewer=row["reviewer"], labels=json.loads(row["labels"]),
        depends_on=depends_on, review_rounds=row["review_rounds"], paths=json.loads(row["paths"]),
    )


def load(source: Tx | Hub, task_id: int) -> Task:
    """One task as it is now, or not_found."""
    found = rows_to_tasks(source, _read(source, SELECT + " WHERE t.id = ?", (task_id,)))
    if not found:
        raise NotFound(f"No task {task_id}; list_tasks shows the board.")
    return found[0]


def check_member(conn: Tx, hub: Hub, name: str, what: str) -> None:
    """`name` is someone at the table (or declared in team.yaml): a task is never given to nobody."""
    row = conn.execute("SELECT status FROM member WHERE name = ?", (name,)).fetchone()
    if row is not None and row["status"] == "revoked":
        raise Conflict(f"{name} was revoked; a task cannot go to it until a person lets it back in.")
    if (row is None or row["status"] != "active") and name not in hub.team.agents:
        raise NotFound(f"Nobody named {name} is at the table; choose the {what} among the members.")


def load_for_update(conn: Tx, hub: Hub, task_id: int) -> Task:
    """load(), with the task's row locked until the transaction ends: a claim or another change of it waits, so
    what the caller decides from this read still holds when it writes."""
    conn.execute(f"SELECT id FROM task WHERE id = ?{hub.store.dialect.for_update}", (task_id,))
    return load(conn, task_id)


def note_worker(conn: Tx, task_id: int, member: str | None) -> None:
    """Remember that `member` held the task while it was worked on: it may not review it."""
    if member:
        conn.execute("INSERT INTO task_worker (task_id, member) VALUES (?, ?) ON CONFLICT DO NOTHING",
                     (task_id, member))


def workers(source: Tx | Hub, task_id: int) -> set[str]:
    return {row[0] for row in _read(source, "SELECT member FROM task_worker WHERE task_id = ?", (task_id,))}


def create(hub: Hub, caller: Caller, title: str, description: str = "", assignee: str = "",
           priority: str = "medium", *, kind: str = "", parent_id: int | None = None,
           depends_on: list[int] | None = None, reviewer: str = "", labels: list[str] | None = None,
           paths: list[str] | None = None) -> Task:
    """A pending task; an assignee reserves it for that member. It may sit under a parent, wait on others, and
    declare the paths it will touch (reserved for whoever claims it)."""
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
    declared = task_paths.declared(paths)
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
            " updated_at, kind, parent_id, reviewer, labels, paths)"
            f" VALUES (?, ?, '{S.PENDING}', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (title, description, priority, caller.name, assignee or None, assignee or None, now, now, kind,
             parent_id, reviewer or None, json.dumps(labels), json.dumps(declared)),
        ).fetchone()
        conn.executemany("INSERT INTO task_dependency (task_id, depends_on) VALUES (?, ?)",
                         [(row["id"], other) for other in waits])
        audit.record(conn, now, caller.name, "create_task", "task", row["id"],
                     {"title": title, "priority": priority, "assignee": assignee or None, "kind": kind,
                      "parent_id": parent_id, "depends_on": waits, **({"paths": declared} if declared else {})})
        announce = TaskAssigned(id=row["id"], title=title, creator=caller.name, assignee=assignee or None,
                                priority=priority, kind=kind, new=True)
        if assignee:
            events.emit(conn, now, K.TASK_ASSIGNED, announce, to=assignee)
            notices.assigned(conn, hub, now, {"id": row["id"], "title": title}, assignee, caller.name)
        else:
            events.emit(conn, now, K.TASK_ASSIGNED, announce, exclude=caller.name)
        return load(conn, row["id"])


def _labels(labels: list[str]) -> list[str]:
    if not isinstance(labels, list) or not all(isinstance(x, str) and 0 < len(x) <= 64 for x in labels) \
            or len(labels) > 20:
        raise Invalid("labels must be a list of at most 20 texts of 1 to 64 characters.")
    return labels


def listing(hub: Hub, status: str = "", assignee: str = "", *, caller: Caller | None = None) -> list[Task]:
    """The board, oldest first; every member sees all of it (caller None: the operator)."""
    where, params = [], []
    if status:
        where.append("t.status = ?")
        params.append(_status(status).value)
    if assignee:
        check_name(assignee, "assignee")
        where.append("t.assignee = ?")
        params.append(assignee)
    sql = SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY t.id"
    return rows_to_tasks(hub, hub.store.query(sql, params))


def update(hub: Hub, caller: Caller, task_id: int, status: str, result: str = "", reason: str = "") -> Task:
    """Set a task's status (and result); for its creator, its assignee, an admin or a lead. A done or cancelled
    task goes back to pending only when reopened with a reason."""
    new_status = _status(status)
    limits.text(result, hub.team.limits.sizes.task_result, "task result", required=False)
    limits.text(reason, hub.team.limits.sizes.task_result, "reason", required=False)
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute("SELECT creator, assignee, status, reviewer FROM task WHERE id = ?"
                           f"{hub.store.dialect.for_update}", (task_id,)).fetchone()
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
        if new_status in WORKING:
            note_worker(conn, task_id, updated["assignee"])
            if was not in WORKING and updated["assignee"]:  # work starts without a claim: its paths, as a claim
                task_paths.take(conn, hub, updated["assignee"], updated, now)
        else:
            task_paths.free(conn, hub, task_id, now, by=caller.name, because=f"task {task_id} is {new_status}")
        announce_update(conn, now, updated, caller, was)
        _tell_of_move(conn, hub, now, dict(updated), caller.name, was, row["assignee"], reason if reopen else None)
        receipts.acted_on_task(conn, now, caller.name, task_id, receipts.Acted.STATUS)
        return load(conn, task_id)


def _tell_of_move(conn: Tx, hub: Hub, now: str, task: dict, by: str, was: TaskStatus, worked_by: str | None,
                  reopened_for: str | None) -> None:
    """Who hears of a status change: the reviewer when a review is asked, the one doing it when it is cancelled or
    reopened (the notices skip whoever made the change)."""
    status = TaskStatus(task["status"])
    if status == S.AWAITING_REVIEW and was != S.AWAITING_REVIEW and task["reviewer"]:
        notices.review_requested(conn, hub, now, task, task["reviewer"], by)
    elif status == S.CANCELLED and was != S.CANCELLED:
        notices.cancelled(conn, hub, now, {**task, "assignee": task["assignee"] or worked_by}, by)
    elif reopened_for is not None:
        notices.reopened(conn, hub, now, {**task, "assignee": task["assignee"] or worked_by}, by, reopened_for)


def _may_update(caller: Caller, task_id: int, row) -> None:
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
        task = load_for_update(conn, hub, task_id)
        _creator_or(caller, task, "assign_task")
        if task.status in FINISHED:
            raise Conflict(f"Task {task_id} is {task.status}; reopen it before giving it to someone.")
        check_member(conn, hub, assignee, "assignee")
        updated = conn.execute("UPDATE task SET assignee = ?, reserved_for = ?, updated_at = ? WHERE id = ?"
                               " RETURNING *", (assignee, assignee, now, task_id)).fetchone()
        if task.status in WORKING:
            note_worker(conn, task_id, assignee)
            task_paths.hand_over(conn, hub, updated, assignee, now, by=caller.name)
        audit.record(conn, now, caller.name, "reassign_task", "task", task_id,
                     {"assignee": assignee, "was": task.assignee})
        events.emit(conn, now, K.TASK_ASSIGNED, TaskAssigned(id=task_id, title=task.title, creator=task.creator,
                                                             assignee=assignee, priority=task.priority), to=assignee)
        announce_update(conn, now, updated, caller)
        about = {"id": task_id, "title": task.title}
        notices.assigned(conn, hub, now, about, assignee, caller.name)
        notices.reassigned(conn, hub, now, about, task.assignee, assignee, caller.name)
        return load(conn, task_id)


def cancel(hub: Hub, caller: Caller, task_id: int) -> list[Task]:
    """Cancel a task and everything under it; what is done stays done. Returns the tasks cancelled."""
    now = hub.now()
    with hub.store.write() as conn:
        _creator_or(caller, load(conn, task_id), "cancel_task")
        tree = [row[0] for row in conn.execute(
            "WITH RECURSIVE tree(id) AS (SELECT CAST(? AS BIGINT) UNION SELECT t.id FROM task t JOIN tree"
            " ON t.parent_id = tree.id) SELECT id FROM tree", (task_id,))]
        open_ones = conn.execute(  # locked in id order (as every change of several tasks takes them), then read
            f"SELECT id, status FROM task WHERE id IN ({placeholders(tree)}) AND status NOT IN {FINISHED_SQL}"
            f" ORDER BY id{hub.store.dialect.for_update}", tree).fetchall()
        for one, before in open_ones:
            updated = conn.execute(f"UPDATE task SET status = '{S.CANCELLED}', updated_at = ? WHERE id = ? RETURNING *",
                                   (now, one)).fetchone()
            audit.record(conn, now, caller.name, "cancel_task", "task", one, {"subtree_of": task_id})
            task_paths.free(conn, hub, one, now, by=caller.name, because=f"task {one} was cancelled")
            announce_update(conn, now, updated, caller, before)
            notices.cancelled(conn, hub, now, dict(updated), caller.name)
        return [load(conn, one) for one, _ in open_ones]


def announce_update(conn: Tx, now: str, row, caller: Caller,
                     was: str | None = None) -> None:
    events.emit(conn, now, K.TASK_UPDATED, TaskUpdated(
        id=row["id"], status=row["status"], was=str(was) if was is not None else row["status"],
        assignee=row["assignee"], by=caller.name, **({"reviewer": row["reviewer"]} if row["reviewer"] else {})),
        exclude=caller.name)


def set_reviewer(hub: Hub, caller: Caller, task_id: int, reviewer: str) -> Task:
    """Name who reviews a task (its creator, or a role with assign_task)."""
    check_name(reviewer, "reviewer")
    now = hub.now()
    with hub.store.write() as conn:
        task = load_for_update(conn, hub, task_id)
        _creator_or(caller, task, "assign_task")
        conn.execute("UPDATE task SET reviewer = ?, updated_at = ? WHERE id = ?", (reviewer, now, task_id))
        audit.record(conn, now, caller.name, "set_reviewer", "task", task_id, {"reviewer": reviewer})
        events.emit(conn, now, K.TASK_ASSIGNED, TaskAssigned(id=task_id, title=task.title, creator=task.creator,
                                                             assignee=task.assignee, reviewer=reviewer,
                                                             priority=task.priority), to=reviewer)
        if task.status == S.AWAITING_REVIEW and reviewer != task.reviewer:
            notices.review_requested(conn, hub, now, task.model_dump(), reviewer, caller.name)
        return load(conn, task_id)
