"""Presence: who is active, idle or offline, from their calls; and claims that go stale while their holder is away.

A call only notes the time in memory (no write per call); the heartbeat job writes the notes down, moves
members between active, idle and offline, and puts back on the board the tasks of members offline too long.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from team_table import audit, events, task_paths, templates
from team_table.clock import iso, parse_iso
from team_table.delivery import about_task
from team_table.event_kinds import K, Presence, TaskUpdated
from team_table.hub import Hub
from team_table.names import HUB_SENDER
from team_table.store import Tx, placeholders
from team_table.task_states import S

ACTIVE, IDLE, OFFLINE = "active", "idle", "offline"


def last_sign(hub: Hub, table: str = "") -> str:
    """SQL for a member's last sign of life: its last call (as the activity job wrote it down) or heartbeat."""
    of = f"{table}." if table else ""
    return f"{hub.store.dialect.greatest}(COALESCE({of}last_seen, ''), {of}last_heartbeat)"


def state(last_seen: datetime | None, now: datetime, idle_after: float, offline_after: float) -> str:
    if last_seen is None:
        return OFFLINE
    quiet = (now - last_seen).total_seconds()
    return ACTIVE if quiet < idle_after else IDLE if quiet < offline_after else OFFLINE


def flush(hub: Hub) -> int:
    """Write down the activity this process noted (every process does, on its own timer, without a lease)."""
    seen = hub.activity.take()
    if seen:
        try:
            with hub.store.write() as conn:  # rows in one order in every process: no deadlock between them
                conn.executemany(f"UPDATE member SET last_seen = {hub.store.dialect.greatest}(COALESCE(last_seen, ''),"
                                 " ?) WHERE name = ?", [(at, agent) for agent, at in sorted(seen.items())])
        except BaseException:
            hub.activity.put_back(seen)  # kept, and written next time
            raise
    return len(seen)


def of(hub: Hub, name: str, *stored: str | None) -> tuple[str, str]:
    """A member's presence and last activity: the latest of what is stored and what this process noted."""
    last = max(filter(None, (*stored, hub.activity.peek().get(name))), default="")
    policy = hub.team.presence
    now = hub.clock.now()
    return state(parse_iso(last) if last else None, now, policy.idle_after_seconds,
                 policy.offline_after_seconds), last


def sweep(hub: Hub) -> dict[str, str]:
    """Update everyone's presence (pushing changes) and release stale claims; the lease holder's job. Returns
    the changes. Every process's activity counts: each writes its own down with flush(). Reads first: a quiet
    table is not written to."""
    policy = hub.team.presence
    now_at = hub.clock.now()
    now = iso(now_at)
    flush(hub)
    rows = hub.store.query(f"SELECT name, presence, {last_sign(hub)} AS last FROM member WHERE status = 'active'")
    moves = {row["name"]: (row["presence"], new) for row in rows
             if (new := state(parse_iso(row["last"]) if row["last"] else None, now_at, policy.idle_after_seconds,
                              policy.offline_after_seconds)) != row["presence"]}
    cutoff = iso(now_at - timedelta(seconds=policy.offline_after_seconds + policy.claim_lease_seconds))
    stale_sql = (f"SELECT t.* FROM task t JOIN member m ON m.name = t.assignee WHERE t.status = '{S.IN_PROGRESS}'"
                 f" AND m.status = 'active' AND {last_sign(hub, 'm')} < ?")
    if not moves and not hub.store.query(stale_sql, (cutoff,)):
        return {}
    changed: dict[str, str] = {}
    with hub.store.write() as conn:
        for name, (was, new) in sorted(moves.items()):
            if conn.execute("UPDATE member SET presence = ? WHERE name = ? AND presence = ?",
                            (new, name, was)).rowcount:
                events.emit(conn, now, K.PRESENCE, Presence(agent=name, status=new, was=was))
                changed[name] = new
        for task in conn.execute(stale_sql, (cutoff,)).fetchall():
            release(conn, hub, task, now, "offline longer than the claim lease")
    return changed


def next_change(hub: Hub) -> float | None:
    """When sweep() next has something to do (clock seconds: now, when a member's stored presence is not what it
    is), or None while nothing can change but by a call. Reads only."""
    policy = hub.team.presence
    now_at = hub.clock.now()
    now = now_at.timestamp()
    due: list[float] = []
    for row in hub.store.query(f"SELECT presence, {last_sign(hub)} AS last FROM member WHERE status = 'active'"):
        last = parse_iso(row["last"]) if row["last"] else None
        if state(last, now_at, policy.idle_after_seconds, policy.offline_after_seconds) != row["presence"]:
            return now
        if last is not None and row["presence"] != OFFLINE:
            due.append(last.timestamp() + (policy.idle_after_seconds if row["presence"] == ACTIVE
                                           else policy.offline_after_seconds))
    held = hub.store.query(f"SELECT MIN({last_sign(hub, 'm')}) FROM task t JOIN member m ON m.name = t.assignee"
                           f" WHERE t.status = '{S.IN_PROGRESS}' AND m.status = 'active'")
    if held and held[0][0]:
        due.append(parse_iso(held[0][0]).timestamp() + policy.offline_after_seconds + policy.claim_lease_seconds)
    return min(due, default=None)


def release(conn: Tx, hub: Hub, task, now: str, why: str) -> None:
    """Put an in-progress task back on the board (still reserved for the member it was reserved for, if any; a
    lead may claim it meanwhile) and tell its creator."""
    back_to = task["reserved_for"]
    if not conn.execute(f"UPDATE task SET status = '{S.PENDING}', assignee = ?, updated_at = ? WHERE id = ?"
                        f" AND status = '{S.IN_PROGRESS}' AND assignee = ?",
                        (back_to, now, task["id"], task["assignee"])).rowcount:
        return  # it moved meanwhile
    audit.record(conn, now, HUB_SENDER, "release_claim", "task", task["id"],
                 {"assignee": task["assignee"], "why": why, "reserved_for": back_to})
    events.emit(conn, now, K.TASK_UPDATED, TaskUpdated(id=task["id"], status=S.PENDING, was=S.IN_PROGRESS,
                                                       assignee=back_to, by=HUB_SENDER,
                                                       released_from=task["assignee"]))
    text = templates.render(None, templates.CLAIM_RELEASED, {
        "task_id": task["id"], "title": task["title"], "assignee": task["assignee"]})
    about_task(conn, now, HUB_SENDER, task["creator"], text, task["id"])
    task_paths.free(conn, hub, task["id"], now, by=HUB_SENDER,
                    because=f"task {task['id']} went back to the board ({why})")


def release_all_of(conn: Tx, hub: Hub, agent: str, now: str, why: str) -> int:
    """Release every task `agent` holds (it left the table, or was removed from team.yaml)."""
    held = conn.execute(f"SELECT * FROM task WHERE status = '{S.IN_PROGRESS}' AND assignee = ?",
                        (agent,)).fetchall()
    for task in held:
        release(conn, hub, task, now, why)
    return len(held)


def last_calls(hub: Hub, names: list[str]) -> dict[str, str]:
    """Each named member's last call (ISO time): what the activity job wrote down, or this process noted since."""
    noted = hub.activity.peek()
    found = {row[0]: row[1] for row in hub.store.query(
        f"SELECT name, last_seen FROM member WHERE name IN ({placeholders(names)})", names) if row[1]} if names else {}
    for name in names:
        if noted.get(name, "") > found.get(name, ""):
            found[name] = noted[name]
    return found
