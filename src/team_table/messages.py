"""Messages: direct and broadcast, one delivery row per reader, exactly-once reads."""

from __future__ import annotations

import json
import sqlite3

from team_table import audit, escalations, events, limits
from team_table.clock import parse_iso
from team_table.errors import Forbidden, Invalid, NotFound
from team_table.hub import Hub
from team_table.models import Caller, InboxItem, Message, MessageChange
from team_table.names import check_name

BROADCAST = "*"


def send(hub: Hub, caller: Caller, recipient: str, content: str) -> Message:
    """A direct message; a recipient of '*' is a broadcast."""
    if recipient == BROADCAST:
        return broadcast(hub, caller, content)
    check_name(recipient, "recipient")
    caller.require("send")
    limits.text(content, hub.team.limits.sizes.message, "message content")
    now = hub.now()
    with hub.store.write() as conn:
        limits.take(conn, hub, caller, "send_message")
        message_id = _insert(conn, caller.name, recipient, content, now)
        conn.execute("INSERT INTO delivery (agent, message_id) VALUES (?, ?)", (recipient, message_id))
        audit.record(conn, now, caller.name, "send_message", "message", message_id, {"recipient": recipient})
        events.emit(conn, now, "message", {"id": message_id, "sender": caller.name, "recipient": recipient},
                    to=recipient)
        matched = escalations.detect(conn, hub, message_id, caller.name, recipient, content, now)
    return Message(id=message_id, sender=caller.name, recipient=recipient, content=content, created_at=now,
                   escalated=matched or None)


def broadcast(hub: Hub, caller: Caller, content: str) -> Message:
    """One message to every other active member, each of whom reads, archives or deletes it for itself."""
    caller.require("broadcast")
    limits.text(content, hub.team.limits.sizes.message, "message content")
    now = hub.now()
    with hub.store.write() as conn:
        limits.take(conn, hub, caller, "broadcast")
        message_id = _insert(conn, caller.name, BROADCAST, content, now)
        readers = conn.execute(
            "INSERT INTO delivery (agent, message_id)"
            " SELECT name, ? FROM member WHERE status = 'active' AND name != ?",
            (message_id, caller.name),
        ).rowcount
        audit.record(conn, now, caller.name, "broadcast", "message", message_id, {"readers": readers})
        events.emit(conn, now, "broadcast", {"id": message_id, "sender": caller.name}, exclude=caller.name)
    return Message(id=message_id, sender=caller.name, recipient=BROADCAST, content=content, created_at=now)


def _insert(conn: sqlite3.Connection, sender: str, recipient: str, content: str, now: str) -> int:
    return conn.execute(
        "INSERT INTO message (sender, recipient, content, created_at) VALUES (?, ?, ?, ?)",
        (sender, recipient, content, now),
    ).lastrowid


_UNREAD = "d.read_at IS NULL AND d.archived_at IS NULL AND d.deleted_at IS NULL"


def inbox(hub: Hub, caller: Caller, include_read: bool = False, include_archived: bool = False) -> list[InboxItem]:
    """The caller's messages, oldest first; what was unread is marked read, so it is returned exactly once."""
    if not include_read and not include_archived:
        # The common poll finds nothing: answer from a read, without taking the write lock.
        probe = hub.store.query(
            f"SELECT 1 FROM delivery d INDEXED BY delivery_unread WHERE d.agent = ? AND {_UNREAD} LIMIT 1",
            (caller.name,),
        )
        if not probe:
            return []
    if include_read or include_archived:
        shown = ["d.archived_at IS NULL" if include_read else "d.read_at IS NULL AND d.archived_at IS NULL"]
        if include_archived:
            shown.append("d.archived_at IS NOT NULL")
        where, index = f"d.agent = ? AND d.deleted_at IS NULL AND ({' OR '.join(shown)})", ""
    else:
        # Only unread rows are in the partial index; the planner cannot tell it is the smaller one.
        where, index = f"d.agent = ? AND {_UNREAD}", " INDEXED BY delivery_unread"
    now = hub.now()
    with hub.store.write() as conn:
        rows = conn.execute(
            f"SELECT m.*, d.read_at, d.archived_at FROM delivery d{index} JOIN message m ON m.id = d.message_id"
            f" WHERE {where} ORDER BY d.message_id",
            (caller.name,),
        ).fetchall()
        unread = [r["id"] for r in rows if r["read_at"] is None]
        if unread:
            conn.execute(
                "UPDATE delivery SET read_at = ? WHERE agent = ? AND read_at IS NULL"
                " AND message_id IN (SELECT value FROM json_each(?))",
                (now, caller.name, json.dumps(unread)),
            )
    return [
        InboxItem(id=r["id"], sender=r["sender"], recipient=r["recipient"], content=r["content"],
                  created_at=r["created_at"], read=r["read_at"] is not None, archived_at=r["archived_at"])
        for r in rows
    ]


def archive(hub: Hub, caller: Caller, message_id: int) -> MessageChange:
    """Take a message out of the inbox, kept for include_archived; for a broadcast, out of the caller's only."""
    return _change(hub, caller, message_id, "archive_message")


def delete(hub: Hub, caller: Caller, message_id: int) -> MessageChange:
    """Delete a message from the inbox; for a broadcast, from the caller's inbox only."""
    return _change(hub, caller, message_id, "delete_message")


def _change(hub: Hub, caller: Caller, message_id: int, action: str) -> MessageChange:
    now = hub.now()
    column = "archived_at" if action == "archive_message" else "deleted_at"
    with hub.store.write() as conn:
        msg = conn.execute("SELECT * FROM message WHERE id = ?", (message_id,)).fetchone()
        if msg is None:
            raise NotFound(f"No message {message_id}.")
        # The sender takes a message back from everyone, as may a moderator (manage_messages);
        # a reader changes only its own inbox.
        everyone = msg["sender"] == caller.name or caller.may("manage_messages")
        if not everyone and msg["recipient"] not in (caller.name, BROADCAST):
            raise Forbidden(
                f"Message {message_id} is between {msg['sender']} and {msg['recipient']}; only they may archive "
                "or delete it (or a role with the manage_messages permission)."
            )
        scope_sql, params = ("message_id = ?", (message_id,)) if everyone else \
            ("message_id = ? AND agent = ?", (message_id, caller.name))
        changed = conn.execute(
            f"UPDATE delivery SET {column} = COALESCE({column}, ?), read_at = COALESCE(read_at, ?)"
            f" WHERE {scope_sql} AND deleted_at IS NULL",
            (now, now, *params),
        ).rowcount
        if changed == 0:
            raise NotFound(f"Message {message_id} is not in {caller.name}'s inbox (already deleted?).")
        scope = "everyone" if everyone else "own inbox"
        audit.record(conn, now, caller.name, action, "message", message_id, {"scope": scope})
    return MessageChange(
        id=message_id, sender=msg["sender"], recipient=msg["recipient"], archived_at=now,
        deleted_at=now if column == "deleted_at" else None, scope=scope,
    )


def clear(hub: Hub, caller: Caller, before_date: str = "", sender: str = "") -> dict:
    """Archive the caller's inbox, optionally only what is older than before_date and/or from sender."""
    where, params = [], []
    if before_date:
        where.append("m.created_at < ?")
        params.append(_iso_bound(before_date, "before_date"))
    if sender:
        check_name(sender, "sender")
        where.append("m.sender = ?")
        params.append(sender)
    only = f" AND message_id IN (SELECT m.id FROM message m WHERE {' AND '.join(where)})" if where else ""
    now = hub.now()
    with hub.store.write() as conn:
        count = conn.execute(
            "UPDATE delivery SET archived_at = ?, read_at = COALESCE(read_at, ?)"
            f" WHERE agent = ? AND archived_at IS NULL AND deleted_at IS NULL{only}",
            (now, now, caller.name, *params),
        ).rowcount
        audit.record(conn, now, caller.name, "clear_inbox", "messages", None,
                     {"archived_count": count, "before_date": before_date or None, "sender": sender or None})
    return {"archived_count": count, "agent_name": caller.name}


def purge(hub: Hub, caller: Caller, before_date: str) -> dict:
    """Delete everyone's messages older than before_date, for good (admin or lead)."""
    bound = _iso_bound(before_date, "before_date")
    caller.require("purge")
    now = hub.now()
    with hub.store.write() as conn:
        count = conn.execute("DELETE FROM message WHERE created_at < ?", (bound,)).rowcount
        audit.record(conn, now, caller.name, "purge_messages", "messages", None,
                     {"purged_count": count, "before_date": before_date})
    return {"purged_count": count, "before_date": before_date}


def _iso_bound(text: str, what: str) -> str:
    try:
        return parse_iso(text).isoformat(timespec="microseconds")
    except (ValueError, TypeError):
        raise Invalid(f"{what} {text!r} is not an ISO 8601 date, e.g. 2026-01-15 or 2026-01-15T09:30:00Z.") \
            from None


def peek(hub: Hub, agent: str, include_all: bool = False) -> list[InboxItem]:
    """An inbox as the operator sees it: nothing is marked read."""
    check_name(agent)
    where = "d.agent = ? AND d.deleted_at IS NULL" + ("" if include_all else f" AND {_UNREAD}")
    rows = hub.store.query(
        "SELECT m.*, d.read_at, d.archived_at FROM delivery d JOIN message m ON m.id = d.message_id"
        f" WHERE {where} ORDER BY d.message_id",
        (agent,),
    )
    return [
        InboxItem(id=r["id"], sender=r["sender"], recipient=r["recipient"], content=r["content"],
                  created_at=r["created_at"], read=r["read_at"] is not None, archived_at=r["archived_at"])
        for r in rows
    ]
