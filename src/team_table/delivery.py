"""The one way a message reaches someone: its row, a delivery row per reader, its push event, its audit entry.

Every sender goes through `deliver`: agents (send_message, broadcast) and the hub itself (escalation notices,
auto-replies, released claims, workflow messages). A wait, a push stream and a channel notification all
start from the event it writes, in the same transaction as the message.

Threads: a reply carries `reply_to` (the message it answers) and `thread_id` (the first message of the
thread, which then carries it too). The hub's own messages about a task share one thread per task.

Receipts (receipts.py) start here: each delivery row is `queued` as it is written, with the answer's deadline if
one is asked; and a message an agent sends answers (`acted`) what it was sent in that thread.
"""

from __future__ import annotations

from dataclasses import dataclass

from team_table import audit, events, receipts
from team_table.event_kinds import BroadcastPointer, K, MessagePointer
from team_table.names import HUB_SENDER
from team_table.store import Tx

BROADCAST = "*"


@dataclass(frozen=True, slots=True)
class Delivered:
    id: int
    readers: int
    thread_id: int | None = None


def deliver(conn: Tx, now: str, sender: str, recipient: str, content: str, *, reply_to: int | None = None,
            thread_id: int | None = None, audit_action: str | None = None, audit_details: dict | None = None,
            kind: str = "", due_at: str | None = None) -> Delivered:
    """Write one message from `sender`. A direct message is read by `recipient`; a broadcast (recipient '*') by
    every other active member. A reply joins the thread of the message it answers. `kind` names a notice of the
    hub's; `due_at` asks for an answer by then. With `audit_action`, the send is audited too."""
    if reply_to is not None and thread_id is None:
        thread_id = thread_of(conn, reply_to)
        conn.execute("UPDATE message SET thread_id = id WHERE id = ? AND thread_id IS NULL", (thread_id,))
    message_id = conn.execute(
        "INSERT INTO message (sender, recipient, content, created_at, thread_id, reply_to, kind)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id", (sender, recipient, content, now, thread_id, reply_to, kind),
    ).fetchone()[0]
    extra = {**({"thread_id": thread_id} if thread_id else {}), **({"kind": kind} if kind else {})}
    if recipient == BROADCAST:
        count = conn.execute(
            "INSERT INTO delivery (agent, message_id, due_at) SELECT name, ?, ? FROM member"
            " WHERE status = 'active' AND name != ?", (message_id, due_at, sender)).rowcount
        events.emit(conn, now, K.BROADCAST, BroadcastPointer(id=message_id, sender=sender, **extra), exclude=sender)
    else:
        conn.execute("INSERT INTO delivery (agent, message_id, due_at) VALUES (?, ?, ?)",
                     (recipient, message_id, due_at))
        count = 1
        events.emit(conn, now, K.MESSAGE, MessagePointer(id=message_id, sender=sender, recipient=recipient, **extra),
                    to=recipient)
    if sender != HUB_SENDER and (thread_id is not None or recipient != BROADCAST):
        receipts.answered(conn, now, sender, recipient, thread_id)
    if audit_action is not None:
        audit.record(conn, now, sender, audit_action, "message", message_id, audit_details)
    return Delivered(message_id, count, thread_id)


def thread_of(conn: Tx, message_id: int) -> int | None:
    """The thread a message belongs to: the first message's id (the message itself when it started one)."""
    row = conn.execute("SELECT id, thread_id FROM message WHERE id = ?", (message_id,)).fetchone()
    return None if row is None else row["thread_id"] or row["id"]


def about_task(conn: Tx, now: str, sender: str, recipient: str, content: str, task_id: int, *, kind: str = "",
               due_at: str | None = None) -> Delivered:
    """A message of the hub's about a task, in the task's one thread (its first such message starts it)."""
    row = conn.execute("SELECT thread_id FROM task WHERE id = ?", (task_id,)).fetchone()
    sent = deliver(conn, now, sender, recipient, content, thread_id=row["thread_id"] if row else None, kind=kind,
                   due_at=due_at)
    if row is not None and row["thread_id"] is None:
        conn.execute("UPDATE message SET thread_id = id WHERE id = ?", (sent.id,))
        conn.execute("UPDATE task SET thread_id = ? WHERE id = ? AND thread_id IS NULL", (sent.id, task_id))
        return Delivered(sent.id, sent.readers, sent.id)
    return sent
