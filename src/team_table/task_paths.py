"""Tasks that declare the paths they will touch: claiming one reserves them for the claimer (exclusively, for
team.yaml's reservations.task_ttl_seconds, renewed while the claimer is active); the task's end frees them (done,
cancelled, back on the board by its assignee or because the assignee went quiet); a reassignment hands them over.

What a claim does when another member holds some of them is team.yaml's reservations.on_claim_conflict: `refuse`
(the claim is refused `conflict`, naming the holders; nothing changes) or `report` (the claim goes ahead, the free
paths are reserved, and the answer names the holders of the others). Each of these runs inside the transaction of
the task's change, after the task's row is written.
"""

from __future__ import annotations

import json
from typing import Any

from team_table import reservations
from team_table.errors import HeldPaths
from team_table.hub import Hub
from team_table.models import Holder
from team_table.store import Tx
from team_table.task_states import S


def declared(paths: Any) -> list[str]:
    """The paths a new task declares, checked like any reservation's (refused `invalid`)."""
    return reservations.patterns(paths if paths is not None else [], allow_empty=True)


def take(conn: Tx, hub: Hub, agent: str, task: Any, now: str, *, partial: bool | None = None) -> list[Holder]:
    """Reserve the task's declared paths for `agent`, who now works on it. Returns the holders of the paths not
    reserved (report); refuses `conflict` when any is held (refuse, the default)."""
    wanted = json.loads(task["paths"])
    if not wanted:
        return []
    policy = hub.team.reservations
    report = policy.on_claim_conflict == "report" if partial is None else partial
    try:
        _, holders = reservations.grant(conn, hub, agent, wanted, exclusive=True, seconds=policy.task_ttl_seconds,
                                        reason=f"task {task['id']}: {task['title'][:100]}", task_id=task["id"],
                                        now=now, partial=report)
    except HeldPaths as held:
        raise HeldPaths(f"Task {task['id']} was not taken: {reservations.described(held.holders)}. Nothing was "
                        "changed (team.yaml reservations.on_claim_conflict: refuse). Ask the holder, or watch_paths "
                        "to be told when it frees.", held.holders) from None
    return holders


def free(conn: Tx, hub: Hub, task_id: int, now: str, *, by: str, because: str) -> int:
    """End the reservations tied to a task (its holder is told when someone else ended it). Returns how many."""
    if not conn.execute("SELECT 1 FROM reservation WHERE task_id = ? LIMIT 1", (task_id,)).fetchone():
        return 0
    conn.lock(reservations.LOCK)
    gone = conn.execute("DELETE FROM reservation WHERE task_id = ? RETURNING *", (task_id,)).fetchall()
    reservations.free(conn, hub, gone, now, by=by, change="freed", because=because)
    return len(gone)


def hand_over(conn: Tx, hub: Hub, task: Any, to: str, now: str, *, by: str) -> None:
    """A task being worked on changes hands: its reservations end for the one who had it, and its declared paths
    are reserved for the one who has it now (those free; a reassignment is never refused for them)."""
    free(conn, hub, task["id"], now, by=by, because=f"task {task['id']} was given to {to}")
    take(conn, hub, to, task, now, partial=True)


def blocked(hub: Hub, agent: str) -> list[int]:
    """Pending tasks whose declared paths others hold, for next_task to pass over (when claims refuse on a
    conflict). A hint read before the claim: the claim itself decides, under the lock."""
    if hub.team.reservations.on_claim_conflict != "refuse":
        return []
    rows = hub.store.query(f"SELECT id, paths FROM task WHERE status = '{S.PENDING}' AND paths != '[]'")
    now = reservations.epoch(hub)
    return [row["id"] for row in rows
            if any(reservations.in_the_way(hub.store.query, agent, pattern, True, now)
                   for pattern in json.loads(row["paths"]))]
