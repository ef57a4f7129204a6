"""The one way a message reaches someone: its row, a delivery row per reader, its push event, its audit entry.

Every sender goes through `deliver`: agents (send_message, broadcast) and the hub itself (escalation notices,
auto-replies, released claims, workflow messages). A wait, a push stream and a channel notification all
start from the event it writes, in the same transaction as the message.
"""

from __future__ import annotations

from dataclasses import dataclass

from team_table import audit, events
from team_table.store import Tx

BROADCAST = "*"


@dataclass(frozen=True, slots=True)
class Delivered:
    id: int
    readers: int


def deliver(conn: Tx, now: str, sender: str, recipient: str, content: str, *,
            audit_action: str | None = None, audit_details: dict | None = None) -> Delivered:
    """Write one message from `sender`. A direct message is read by `recipient`; a broadcast (recipient '*') by
    every other active member. With `audit_action`, the send is audited too."""
    message_id = conn.execute(
        "INSERT INTO message (sender, recipient, content, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        (sender, recipient, content, now),
    ).fetchone()[0]
    if recipient == BROADCAST:
        count = conn.execute(
            "INSERT INTO delivery (agent, message_id) SELECT name, ? FROM member"
            " WHERE status = 'active' AND name != ?", (message_id, sender)).rowcount
        events.emit(conn, now, "broadcast", {"id": message_id, "sender": sender}, exclude=sender)
    else:
        conn.execute("INSERT INTO delivery (agent, message_id) VALUES (?, ?)", (recipient, message_id))
        count = 1
        events.emit(conn, now, "message", {"id": message_id, "sender": sender, "recipient": recipient},
                    to=recipient)
    if audit_action is not None:
        audit.record(conn, now, sender, audit_action, "message", message_id, audit_details)
    return Delivered(message_id, count)
