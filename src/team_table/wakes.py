"""Wakes, on the database's side: taking what waits for an agent for one wake (so that of every way and every
process, exactly one tells it), the one-line pointer that wake carries, the per-agent bound, and the record of each
wake sent or failed (the dashboard's "last woken 11 min ago by hook")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from team_table import receipts
from team_table.clock import parse_iso
from team_table.delivery_policy import Way
from team_table.delivery_states import unpushed
from team_table.hub import Hub
from team_table.message_kinds import TASK_NOTICES
from team_table.names import HUB_SENDER
from team_table.store import placeholders
from team_table.waiting_summary import NOTICE_WORDS

SHOWN = 5  # items a pointer names; the rest are counted
WINDOW = 60.0  # seconds of the per-agent bound (delivery.wakes_per_minute)


@dataclass(frozen=True)
class Taken:
    """What one wake tells: the deliveries it pushed, and the line that says so."""

    ids: list[int]
    text: str


def take(hub: Hub, agent: str, way: Way) -> Taken | None:
    """Mark everything that waits for `agent` and was not pushed yet as pushed by `way`, and word it; None when
    nothing waits (read, surfaced or pushed already, by this process or another)."""
    if not hub.store.query(f"SELECT 1 FROM delivery d {hub.store.dialect.unread_index} WHERE d.agent = ? AND"
                           f" {unpushed()} LIMIT 1", (agent,)):
        return None  # the usual case of a check: no write at all
    now = hub.now()
    with hub.store.write() as conn:
        ids = receipts.claim_push(conn, now, agent, receipts.Via(way.value))
        if not ids:
            return None
        rows = conn.execute(
            "SELECT m.id, m.sender, m.recipient, m.kind, t.id AS task FROM message m LEFT JOIN task t"
            f" ON t.thread_id = m.thread_id WHERE m.id IN ({placeholders(ids)}) ORDER BY m.id", ids).fetchall()
    return Taken(ids, pointer(rows))


def pointer(rows) -> str:
    """'team-table: bob wrote to you (message 42); task 7 needs your review (message 43). Read them with
    get_messages.' A pointer, never a body: the agent reads the words itself."""
    parts = []
    for row in rows[:SHOWN]:
        if row["kind"] in TASK_NOTICES and row["task"] is not None:
            parts.append(f"task {row['task']} {NOTICE_WORDS[row['kind']]} (message {row['id']})")
        elif row["sender"] == HUB_SENDER:
            parts.append(f"the hub wrote to you (message {row['id']})")
        else:
            to = "everyone" if row["recipient"] == "*" else "you"
            parts.append(f"{row['sender']} wrote to {to} (message {row['id']})")
    if len(rows) > SHOWN:
        parts.append(f"{len(rows) - SHOWN} more")
    them = "it" if len(rows) == 1 else "them"
    return f"team-table: {'; '.join(parts)}. Read {them} with get_messages."


def give_back(hub: Hub, agent: str, taken: Taken, way: Way, why: str) -> None:
    """A wake that did not go out: its deliveries wait for the next way, and the failure is recorded."""
    now = hub.now()
    with hub.store.write() as conn:
        receipts.unclaim_push(conn, agent, taken.ids, receipts.Via(way.value))
        _record(conn, now, agent, way, len(taken.ids), ok=False, detail=why[:200])


def failed(hub: Hub, agent: str, taken: Taken, way: Way, why: str) -> None:
    with hub.store.write() as conn:
        _record(conn, hub.now(), agent, way, len(taken.ids), ok=False, detail=why[:200])


def sent(hub: Hub, agent: str, taken: Taken, way: Way) -> None:
    with hub.store.write() as conn:
        _record(conn, hub.now(), agent, way, len(taken.ids), ok=True)


def _record(conn, now: str, agent: str, way: Way, count: int, *, ok: bool, detail: str | None = None) -> None:
    conn.execute("INSERT INTO wake (agent, at, via, messages, ok, detail) VALUES (?, ?, ?, ?, ?, ?)",
                 (agent, now, way.value, count, ok, detail))


def wait_before_next(hub: Hub, agent: str) -> float:
    """Seconds until `agent` may be woken again under delivery.wakes_per_minute (0: now)."""
    bound = hub.team.delivery.wakes_per_minute
    now = hub.clock.now()
    since = (now - timedelta(seconds=WINDOW)).isoformat(timespec="microseconds")
    rows = hub.store.query("SELECT at FROM wake WHERE agent = ? AND ok = ? AND at > ? ORDER BY id DESC LIMIT ?",
                           (agent, True, since, bound))
    if len(rows) < bound:
        return 0.0
    oldest = parse_iso(rows[-1]["at"])
    return max(0.0, WINDOW - (now - oldest).total_seconds())


def prune(hub: Hub, older_than: str) -> int:
    with hub.store.write() as conn:
        return conn.execute("DELETE FROM wake WHERE at < ?", (older_than,)).rowcount
