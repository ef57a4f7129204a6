"""Claims: taking a pending task, by its id or the best one for the caller; exactly one of many claimers wins,
in any number of hub processes (one conditional UPDATE each)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from team_table import audit, receipts, task_paths
from team_table.errors import Conflict, Forbidden, NotFound
from team_table.hub import Hub
from team_table.models import Caller, ClaimedTask, Task
from team_table.store import Tx, placeholders
from team_table.task_states import S, by_priority
from team_table.tasks import announce_update, load, note_worker

# A task that waits for another to be done first (in a statement over `task`).
WAITING_ON_OTHERS = ("EXISTS (SELECT 1 FROM task_dependency d JOIN task x ON x.id = d.depends_on"
            f" WHERE d.task_id = task.id AND x.status != '{S.DONE}')")


def claim(hub: Hub, caller: Caller, task_id: int) -> Task:
    """Take a pending task: one conditional UPDATE, so of many claimers exactly one wins. The paths it declares are
    reserved for the claimer (see task_paths)."""
    caller.require("claim_task")
    privileged = caller.may("claim_reserved")
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute(
            f"UPDATE task SET status = '{S.IN_PROGRESS}', assignee = ?, updated_at = ?"
            f" WHERE id = ? AND status = '{S.PENDING}' AND (assignee IS NULL OR assignee = ? OR ?)"
            f" AND NOT {WAITING_ON_OTHERS} RETURNING *",
            (caller.name, now, task_id, caller.name, privileged),
        ).fetchone()
        if row is None:
            _explain_failed_claim(conn, task_id)
        unreserved = task_paths.take(conn, hub, caller.name, row, now)
        audit.record(conn, now, caller.name, "claim_task", "task", task_id)
        note_worker(conn, task_id, caller.name)
        announce_update(conn, now, row, caller, S.PENDING)
        receipts.acted_on_task(conn, now, caller.name, task_id, receipts.Acted.CLAIM)
        return _claimed(load(conn, task_id), unreserved)


# Which role a task's kind calls for, when the kind is not itself a role or a capability.
KIND_ROLES = {"code": "coder", "review": "reviewer", "qa": "tester", "test": "tester", "design": "designer"}


def next_task(hub: Hub, caller: Caller) -> Task | None:
    """Claim the best task for the caller, atomically: reserved for it or free, its dependencies done, its kind
    fitting the caller's roles or capabilities; then by priority, then age. None when there is none."""
    caller.require("claim_task")
    fits = sorted(_fits(hub, caller))
    passed = task_paths.blocked(hub, caller.name)  # tasks whose declared paths others hold
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute(
            f"UPDATE task SET status = '{S.IN_PROGRESS}', assignee = ?, updated_at = ? WHERE id = ("
            f" SELECT id FROM task WHERE status = '{S.PENDING}' AND (assignee IS NULL OR assignee = ?)"
            f" AND NOT {WAITING_ON_OTHERS} AND (kind = '' OR kind IN ({placeholders(fits)}))"
            + (f" AND id NOT IN ({placeholders(passed)})" if passed else "") +
            " ORDER BY (assignee IS NOT NULL) DESC,"
            f" {by_priority()}, id"
            f" LIMIT 1 {hub.store.dialect.skip_locked}) AND status = '{S.PENDING}' RETURNING *",
            (caller.name, now, caller.name, *fits, *passed),
        ).fetchone()
        if row is None:
            return None
        unreserved = task_paths.take(conn, hub, caller.name, row, now)
        audit.record(conn, now, caller.name, "claim_task", "task", row["id"], {"via": "next_task"})
        note_worker(conn, row["id"], caller.name)
        announce_update(conn, now, row, caller, S.PENDING)
        receipts.acted_on_task(conn, now, caller.name, row["id"], receipts.Acted.CLAIM)
        return _claimed(load(conn, row["id"]), unreserved)


def _claimed(task: Task, unreserved: list) -> Task:
    """The task as claimed; with the declared paths others hold, when claims report them (team.yaml)."""
    return ClaimedTask(**task.model_dump(), unreserved=unreserved) if unreserved else task


NOTHING_TO_DO = ("No task is waiting for you now: none is free (or reserved for you) with its dependencies done "
                 "and a kind that fits your roles or capabilities. Check again later, or wait_for_messages.")


def _fits(hub: Hub, caller: Caller) -> set[str]:
    rows = hub.store.query("SELECT capabilities FROM member WHERE name = ?", (caller.name,))
    return kinds_for(caller.roles, json.loads(rows[0]["capabilities"]) if rows else [])


def kinds_for(member_roles: Sequence[str], capabilities: Sequence[str]) -> set[str]:
    """The task kinds a member takes: its roles, its capabilities, and the kinds its roles call for."""
    fits = set(member_roles) | set(capabilities)
    return fits | {kind for kind, role in KIND_ROLES.items() if role in member_roles}


def _explain_failed_claim(conn: Tx, task_id: int) -> None:
    current = conn.execute("SELECT status, assignee FROM task WHERE id = ?", (task_id,)).fetchone()
    if current is None:
        raise NotFound(f"No task {task_id}; list_tasks shows the board.")
    if current["status"] != S.PENDING:
        holder = f" by {current['assignee']}" if current["assignee"] else ""
        raise Conflict(f"Task {task_id} is {current['status']}{holder}, not pending; it cannot be claimed.")
    waiting = [r[0] for r in conn.execute(
        "SELECT d.depends_on FROM task_dependency d JOIN task x ON x.id = d.depends_on"
        f" WHERE d.task_id = ? AND x.status != '{S.DONE}' ORDER BY 1", (task_id,))]
    if waiting:
        raise Conflict(f"Task {task_id} waits for task(s) {', '.join(map(str, waiting))} to be done first.")
    raise Forbidden(
        f"Task {task_id} is reserved for {current['assignee']}; only they, or a role with the claim_reserved "
        "permission (admin, lead), can claim it."
    )
