"""Messages: direct and broadcast, one delivery row per reader, exactly-once reads."""

from __future__ import annotations

from team_table import audit, delivery, escalations, limits, members, notices, receipts
from team_table.clock import parse_iso
from team_table.delivery import BROADCAST, deliver
from team_table.delivery_policy import MAX_ANSWER_WITHIN
from team_table.delivery_states import UNREAD, in_inbox, kept, seen_by
from team_table.errors import Forbidden, Invalid, NotFound
from team_table.hub import Hub
from team_table.message_kinds import Kind
from team_table.models import Caller, InboxItem, Message, MessageChange
from team_table.names import HUB_SENDER, check_name
from team_table.store import Tx, placeholders


def send(hub: Hub, caller: Caller, recipient: str, content: str, reply_to: int | None = None,
         answer_within: int | None = None) -> Message:
    """A direct message; a recipient of '*' is a broadcast. `reply_to` answers a message the caller can see;
    `answer_within` (seconds) asks for an answer by then (team.yaml's delivery.answer_within gives a default)."""
    if answer_within is not None and not 1 <= answer_within <= MAX_ANSWER_WITHIN:
        raise Invalid(f"answer_within_seconds is {answer_within}; give 1 to {MAX_ANSWER_WITHIN} (a week).")
    if recipient == BROADCAST:
        return broadcast(hub, caller, content, reply_to, answer_within)
    check_name(recipient, "recipient")
    caller.require("send")
    limits.text(content, hub.team.limits.sizes.message, "message content")
    now = hub.now()
    with hub.store.write() as conn:
        _check_visible(conn, caller, reply_to)
        limits.take(conn, hub, caller, "send_message")
        sent = deliver(conn, now, caller.name, recipient, content, reply_to=reply_to, audit_action="send_message",
                       audit_details={"recipient": recipient, **({"reply_to": reply_to} if reply_to else {})},
                       due_at=notices.due(hub, now, Kind.MESSAGE, answer_within))
        matched = escalations.detect(conn, hub, sent.id, caller.name, recipient, content, now)
        warning = None if _at_table(conn, recipient) else (
            f"Nobody named {recipient} is at the table now; the message waits in their inbox and is read if "
            f"{recipient} joins. list_members shows who is here.")
    return Message(id=sent.id, sender=caller.name, recipient=recipient, content=content, created_at=now,
                   thread_id=sent.thread_id, reply_to=reply_to, escalated=matched or None, warning=warning)


def about_task(hub: Hub, recipient: str, text: str, task_id: int) -> int:
    """A message of the hub's own to `recipient` about a task, in that task's thread (workflows send these)."""
    check_name(recipient, "recipient")
    now = hub.now()
    with hub.store.write() as conn:
        sent = delivery.about_task(conn, now, HUB_SENDER, recipient, text, task_id)
        audit.record(conn, now, HUB_SENDER, "send_message", "message", sent.id,
                     {"recipient": recipient, "task": task_id})
    return sent.id


def _check_visible(conn: Tx, caller: Caller, message_id: int | None) -> None:
    """A reply answers a message its sender can see (sent or received it)."""
    if message_id is None:
        return
    if not conn.execute(f"SELECT 1 FROM message m WHERE m.id = ? AND {seen_by()}",
                        (message_id, caller.name, caller.name)).fetchone():
        raise NotFound(f"No message {message_id} that {caller.name} sent or received; reply_to names one of those.")


def _at_table(conn: Tx, name: str) -> bool:
    return conn.execute("SELECT 1 FROM member WHERE name = ? AND status = 'active'", (name,)).fetchone() is not None


def broadcast(hub: Hub, caller: Caller, content: str, reply_to: int | None = None,
              answer_within: int | None = None) -> Message:
    """One message to every other active member, each of whom reads, archives or deletes it for itself."""
    caller.require("broadcast")
    limits.text(content, hub.team.limits.sizes.message, "message content")
    now = hub.now()
    with hub.store.write() as conn:
        _check_visible(conn, caller, reply_to)
        limits.take(conn, hub, caller, "broadcast")
        sent = deliver(conn, now, caller.name, BROADCAST, content, reply_to=reply_to,
                       due_at=notices.due(hub, now, Kind.BROADCAST, answer_within))
        audit.record(conn, now, caller.name, "broadcast", "message", sent.id, {"readers": sent.readers})
    return Message(id=sent.id, sender=caller.name, recipient=BROADCAST, content=content, created_at=now,
                   thread_id=sent.thread_id, reply_to=reply_to)


def thread(hub: Hub, caller: Caller, message_id: int) -> list[InboxItem]:
    """The thread of a message, oldest first: those of its messages the caller sent or received (and did not
    delete). Marks nothing read."""
    root = hub.store.query("SELECT COALESCE(thread_id, id) FROM message WHERE id = ?", (message_id,))
    rows = [] if not root else hub.store.query(
        f"{_THREAD} WHERE (m.id = ? OR m.thread_id = ?) AND (m.sender = ? OR (d.agent IS NOT NULL"
        f" AND {kept()})) ORDER BY m.id", (caller.name, root[0][0], root[0][0], caller.name))
    if not any(r["id"] == message_id for r in rows):
        raise NotFound(f"No message {message_id} that {caller.name} sent or received.")
    states = receipts.states_in(hub, caller.name, [r["id"] for r in rows])
    return [_item(r, read=True if r["sender"] == caller.name else None).model_copy(
        update={"receipts": states.get(r["id"], {})}) for r in rows]


_THREAD = ("SELECT m.*, d.agent, d.read_at, d.archived_at FROM message m"
           " LEFT JOIN delivery d ON d.message_id = m.id AND d.agent = ?")


# One answer carries at most this much: what does not fit stays unread for the next call (the 0.2.1 contract's
# array is kept; a wait says how many more wait, and so does catch_up).
PAGE_MESSAGES = 100
PAGE_CHARACTERS = 256 * 1024  # of message content; the first message of a page always fits


def inbox(hub: Hub, caller: Caller, include_read: bool = False, include_archived: bool = False) -> list[InboxItem]:
    """The caller's messages, oldest first, one page of them; what was unread and is returned is marked read, so
    it is returned exactly once. With include_read or include_archived, the newest page of them."""
    if not include_read and not include_archived:
        return take_unread(hub, caller.name)
    shown = [in_inbox() if include_read else UNREAD]
    if include_archived:
        shown.append(f"d.archived_at IS NOT NULL AND {kept()}")
    where = f"d.agent = ? AND ({' OR '.join(shown)})"
    now = hub.now()
    with hub.store.write() as conn:
        newest = conn.execute(f"SELECT d.message_id, {_SIZE} FROM delivery d WHERE {where}"
                              " ORDER BY d.message_id DESC LIMIT ?", (caller.name, PAGE_MESSAGES)).fetchall()
        ids = sorted(_fitting(newest))  # the newest that fit, oldest first
        rows = conn.execute(f"{_ITEMS} WHERE d.agent = ? AND d.message_id IN ({placeholders(ids)})"
                            " ORDER BY d.message_id", (caller.name, *ids)).fetchall() if ids else []
        mark_read(conn, caller.name, now, [r["id"] for r in rows if r["read_at"] is None])
    return [_item(r, read=True) for r in rows]


_SIZE = "(SELECT LENGTH(content) FROM message WHERE id = d.message_id) AS size"


def _fitting(rows: list) -> list[int]:
    """The ids of the first rows (id, size) that fit one page."""
    picked, total = [], 0
    for row in rows:
        if picked and (len(picked) == PAGE_MESSAGES or total + row[1] > PAGE_CHARACTERS):
            break
        picked.append(row[0])
        total += row[1]
    return picked


def has_unread(hub: Hub, agent: str) -> bool:
    """A read, without the write lock: the common poll that finds nothing never writes."""
    return bool(hub.store.query(
        f"SELECT 1 FROM delivery d {hub.store.dialect.unread_index} WHERE d.agent = ? AND {UNREAD} LIMIT 1",
        (agent,)))


def take_unread(hub: Hub, agent: str, *, surfaced: receipts.Shown | None = None) -> list[InboxItem]:
    """The agent's oldest unread messages, one page of them, marked read in the same step: two readers racing never
    both get one, and what is not taken stays unread. A wait that returns them has also pushed and surfaced them
    (`surfaced`)."""
    return take_page(hub, agent, surfaced=surfaced)[0]


def take_page(hub: Hub, agent: str, *, surfaced: receipts.Shown | None = None) -> tuple[list[InboxItem], int]:
    """take_unread(), and how many unread messages it left for the next call (0 when it took them all)."""
    if not has_unread(hub, agent):
        return [], 0
    now = hub.now()
    dialect = hub.store.dialect
    with hub.store.write() as conn:
        # The oldest unread, locked (another reader of this agent's skips them and takes the next page), then taken.
        candidates = conn.execute(
            f"SELECT d.message_id, {_SIZE} FROM delivery d {dialect.unread_index} WHERE d.agent = ? AND {UNREAD}"
            f" ORDER BY d.message_id LIMIT ?{dialect.skip_locked}", (agent, PAGE_MESSAGES + 1)).fetchall()
        page = _fitting(candidates)
        taken = [row[0] for row in conn.execute(
            f"UPDATE delivery AS d SET read_at = ? WHERE d.agent = ? AND d.message_id IN ({placeholders(page)})"
            f" AND {UNREAD} RETURNING message_id",
            (now, agent, *page))] if page else []
        if not taken:
            return [], 0
        if surfaced is not None:
            receipts.surfaced(conn, now, agent, taken, surfaced)
        rows = conn.execute(f"{_ITEMS} WHERE d.agent = ? AND d.message_id IN ({placeholders(taken)})"
                            " ORDER BY d.message_id", (agent, *taken)).fetchall()
        more = conn.execute(f"SELECT COUNT(*) FROM delivery d {dialect.unread_index} WHERE d.agent = ? AND {UNREAD}",
                            (agent,)).fetchone()[0] if len(candidates) > len(page) else 0
    return [_item(r, read=True) for r in rows], more


def put_back(hub: Hub, agent: str, ids: list[int]) -> None:
    """Unread again: messages taken for an answer that was never delivered (its wait was cancelled)."""
    if ids:
        with hub.store.write() as conn:
            conn.execute(f"UPDATE delivery SET read_at = NULL WHERE agent = ? AND message_id IN ({placeholders(ids)})",
                         (agent, *ids))


def mark_read(conn: Tx, agent: str, now: str, ids: list[int]) -> None:
    """These of `agent`'s messages are read now (those it had not read yet)."""
    if ids:
        conn.execute(f"UPDATE delivery SET read_at = ? WHERE agent = ? AND read_at IS NULL"
                     f" AND message_id IN ({placeholders(ids)})", (now, agent, *ids))


_ITEMS = "SELECT m.*, d.read_at, d.archived_at FROM delivery d JOIN message m ON m.id = d.message_id"


def _item(row, read: bool | None = None) -> InboxItem:
    return InboxItem(id=row["id"], sender=row["sender"], recipient=row["recipient"], content=row["content"],
                     created_at=row["created_at"], read=row["read_at"] is not None if read is None else read,
                     archived_at=row["archived_at"], thread_id=row["thread_id"], reply_to=row["reply_to"],
                     kind=row["kind"] or None)


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
            f" WHERE {scope_sql} AND {kept('')}",
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
            f" WHERE agent = ? AND {in_inbox('')}{only}",
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
    where = f"d.agent = ? AND {kept()}" + ("" if include_all else f" AND {UNREAD}")
    return [_item(r) for r in hub.store.query(f"{_ITEMS} WHERE {where} ORDER BY d.message_id", (agent,))]


def send_to_role(hub: Hub, caller: Caller, role: str, content: str) -> list[Message]:
    """One direct message to each active member holding `role` (the caller aside): each arrives as any message
    does (its push, its channel note, a wait that returns). Like a broadcast, it needs the broadcast permission."""
    caller.require("broadcast")
    if role not in hub.team.all_roles():
        raise Invalid(f"Unknown role {role!r}; choose one of: {', '.join(sorted(hub.team.all_roles()))}.")
    limits.text(content, hub.team.limits.sizes.message, "message content")
    now = hub.now()
    with hub.store.write() as conn:
        readers = [name for name in members.holding(conn, hub, {role}) if name != caller.name]
        if not readers:
            raise NotFound(f"Nobody at the table holds the role {role}; the team page shows who holds what.")
        limits.take(conn, hub, caller, "send_message")
        sent = []
        for name in readers:
            one = deliver(conn, now, caller.name, name, content, audit_action="send_message",
                          audit_details={"recipient": name, "role": role})
            escalations.detect(conn, hub, one.id, caller.name, name, content, now)
            sent.append(Message(id=one.id, sender=caller.name, recipient=name, content=content, created_at=now))
    return sent
