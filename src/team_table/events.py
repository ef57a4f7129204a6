"""Events for push: written in the transaction of the change they announce, kept for replay by id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from team_table.clock import Clock, iso
from team_table.config.hub import HubSection
from team_table.event_kinds import EventKind, Payload
from team_table.store import Store, Tx

EVERYONE = "*"


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    kind: str
    recipient: str
    exclude: str | None
    data: dict[str, Any]

    def is_for(self, agent: str) -> bool:
        if self.recipient == EVERYONE:
            return agent != self.exclude
        return agent == self.recipient


def emit(conn: Tx, at: str, kind: EventKind, data: Payload, *, to: str = EVERYONE,
         exclude: str | None = None) -> None:
    """Record one event for one agent, or for everyone but `exclude`; call inside the change's transaction. Its
    payload is the kind's (event_kinds.PAYLOADS)."""
    conn.append("INSERT INTO event (at, kind, recipient, exclude, data) VALUES (?, ?, ?, ?, ?)",
                (at, kind, to, exclude, json.dumps(data, separators=(",", ":"))))


def _event(row) -> Event:
    return Event(row["id"], row["kind"], row["recipient"], row["exclude"], json.loads(row["data"]))


def for_agent(store: Store, agent: str, after_id: int, limit: int = 1000) -> list[Event]:
    """What `agent` missed after `after_id` (a reconnecting stream's Last-Event-ID)."""
    rows = store.query(
        "SELECT * FROM event WHERE id > ? AND (recipient = ? OR (recipient = '*' AND exclude IS DISTINCT FROM ?))"
        " ORDER BY id LIMIT ?",
        (after_id, agent, agent, limit),
    )
    return [_event(r) for r in rows]


def tail(store: Store, after_id: int, limit: int = 1000) -> list[Event]:
    """Every event after `after_id`, for the process that fans them out to streams."""
    return [_event(r) for r in store.query("SELECT * FROM event WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit))]


def last_id(store: Store) -> int:
    return store.query("SELECT COALESCE(MAX(id), 0) FROM event")[0][0]


def prune_old(store: Store, policy: HubSection, clock: Clock) -> int:
    """Drop the events past the age and count team.yaml keeps for replay."""
    return prune(store, iso(clock.now() - timedelta(seconds=policy.events_max_age_seconds)), policy.events_max_count)


def prune(store: Store, older_than: str, keep: int) -> int:
    """Drop events older than `older_than` and all but the newest `keep`. Returns how many went."""
    with store.write() as conn:
        gone = conn.execute("DELETE FROM event WHERE at < ?", (older_than,)).rowcount
        gone += conn.execute(
            "DELETE FROM event WHERE id <= (SELECT COALESCE(MAX(id), 0) FROM event) - ?", (keep,)
        ).rowcount
    return gone
