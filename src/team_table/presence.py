"""Presence: who is active, idle or offline, from their calls; and claims that go stale while their holder is away.

A call only notes the time in memory (no write per call); the heartbeat job writes the notes down, moves
members between active, idle and offline, and puts back on the board the tasks of members offline too long.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from team_table import audit, events, templates
from team_table.clock import iso, parse_iso
from team_table.escalations import HUB_SENDER
from team_table.hub import Hub

ACTIVE, IDLE, OFFLINE = "active", "idle", "offline"


def state(last_seen: datetime | None, now: datetime, idle_after: float, offline_after: float) -> str:
    if last_seen is None:
        return OFFLINE
    quiet = (now - last_seen).total_seconds()
    return ACTIVE if quiet < idle_after else IDLE if quiet < offline_after else OFFLINE


def flush(hub: Hub) -> int:
    """Write down the activity this process noted (every process does, on its own timer, without a lease)."""
    seen = hub.activity.take()
    if seen:
        with hub.store.write() as conn:
            conn.executemany("UPDATE member SET last_seen = MAX(COALESCE(last_seen, ''), ?) WHERE name = ?",
                             [(at, agent) for agent, at in seen.items()])
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
    the changes. Every process's activity counts: each writes its own down with flush()."""
    policy = hub.team.presence
    now_at = hub.clock.now()
    now = iso(now_at)
    flush(hub)
    changed: dict[str, str] = {}
    with hub.store.write() as conn:
        rows = conn.execute(
            "SELECT name, presence, MAX(COALESCE(last_seen, ''), last_heartbeat) AS last FROM member"
            " WHERE status = 'active'"
        ).fetchall()
        for row in rows:
            new = state(parse_iso(row["last"]) if row["last"] else None, now_at,
                        policy.idle_after_seconds, policy.offline_after_seconds)
            if new != row["presence"]:
                conn.execute("UPDATE member SET presence = ? WHERE name = ?", (new, row["name"]))
                events.emit(conn, now, "presence", {"agent": row["name"], "status": new, "was": row["presence"]})
                changed[row["name"]] = new
        cutoff = iso(now_at - timedelta(seconds=policy.offline_after_seconds + policy.claim_lease_seconds))
        stale = conn.execute(
            "SELECT t.* FROM task t JOIN member m ON m.name = t.assignee WHERE t.status = 'in_progress'"
            " AND m.status = 'active' AND MAX(COALESCE(m.last_seen, ''), m.last_heartbeat) < ?",
            (cutoff,),
        ).fetchall()
        for task in stale:
            release(conn, hub, task, now, "offline longer than the claim lease")
    return changed


def release(conn: sqlite3.Connection, hub: Hub, task: sqlite3.Row, now: str, why: str) -> None:
    """Put an in-progress task back on the board (still reserved for the member it was reserved for, if any; a
    lead may claim it meanwhile) and tell its creator."""
    back_to = task["reserved_for"]
    conn.execute("UPDATE task SET status = 'pending', assignee = ?, updated_at = ? WHERE id = ?",
                 (back_to, now, task["id"]))
    audit.record(conn, now, HUB_SENDER, "release_claim", "task", task["id"],
                 {"assignee": task["assignee"], "why": why, "reserved_for": back_to})
    events.emit(conn, now, "task_updated", {"id": task["id"], "status": "pending", "assignee": back_to,
                                            "by": HUB_SENDER, "released_from": task["assignee"]})
    text = templates.render(None, templates.CLAIM_RELEASED, {
        "task_id": task["id"], "title": task["title"], "assignee": task["assignee"]})
    message_id = conn.execute("INSERT INTO message (sender, recipient, content, created_at) VALUES (?, ?, ?, ?)",
                              (HUB_SENDER, task["creator"], text, now)).lastrowid
    conn.execute("INSERT INTO delivery (agent, message_id) VALUES (?, ?)", (task["creator"], message_id))
    events.emit(conn, now, "message", {"id": message_id, "sender": HUB_SENDER, "recipient": task["creator"]},
                to=task["creator"])


def release_all_of(conn: sqlite3.Connection, hub: Hub, agent: str, now: str, why: str) -> int:
    """Release every task `agent` holds (it left the table, or was removed from team.yaml)."""
    held = conn.execute("SELECT * FROM task WHERE status = 'in_progress' AND assignee = ?", (agent,)).fetchall()
    for task in held:
        release(conn, hub, task, now, why)
    return len(held)
