"""Messages as a person reads them on the dashboard: the threads one is in, the whole table's traffic (for
those with read_messages), and one thread, which opening marks read for the reader."""

from __future__ import annotations

from dataclasses import dataclass

from team_table import messages, receipts
from team_table.delivery_states import kept, seen_by, unread
from team_table.errors import NotFound
from team_table.hub import Hub
from team_table.models import Caller

PAGE = 100


@dataclass(frozen=True)
class ThreadLine:
    """One thread in a list: its first message's id and words, who is in it, how many, how many unread."""

    thread: int
    subject: str
    people: list[str]
    messages: int
    unread: int
    last_at: str
    last_id: int = 0


@dataclass(frozen=True)
class Line:
    id: int
    thread: int
    sender: str
    recipient: str
    content: str
    created_at: str
    unread: bool = False
    receipts: tuple = ()  # how far it got with each reader (receipts.Receipt), for the people who may see it


# A message the member sent, or one delivered to it and not deleted (parameters: the member, twice).
_MINE = seen_by()


def threads_for(hub: Hub, caller: Caller, *, everyone: bool = False, limit: int = 50,
                before: int | None = None) -> list[ThreadLine]:
    """The threads the caller is in (every thread, with `everyone` and read_messages), latest activity first;
    with `before`, those whose latest message is older than that message id (the next page)."""
    if everyone:
        caller.require("read_messages")
    me = caller.name
    rows = hub.store.query(
        "SELECT COALESCE(m.thread_id, m.id) AS thread, COUNT(*) AS n, MAX(m.created_at) AS last_at,"
        " MAX(m.id) AS last_id,"
        " SUM(CASE WHEN EXISTS (SELECT 1 FROM delivery u WHERE u.message_id = m.id AND u.agent = ?"
        f"  AND {unread('u')}) THEN 1 ELSE 0 END) AS unread"
        f" FROM message m {'' if everyone else 'WHERE ' + _MINE}"
        " GROUP BY COALESCE(m.thread_id, m.id)" + (" HAVING MAX(m.id) < ?" if before else "") +
        " ORDER BY MAX(m.id) DESC LIMIT ?",
        (me, *(() if everyone else (me, me)), *((before,) if before else ()), limit))
    found = []
    for row in rows:
        thread = row["thread"]
        first = hub.store.query("SELECT content FROM message WHERE id = ?", (thread,))
        people = hub.store.query("SELECT sender, recipient FROM message WHERE id = ? OR thread_id = ?",
                                 (thread, thread))
        subject = " ".join(first[0]["content"].split())[:80] if first else ""
        found.append(ThreadLine(thread, subject, sorted({p for r in people for p in r}), row["n"], row["unread"] or 0,
                                row["last_at"], row["last_id"]))
    return found


def read_thread(hub: Hub, caller: Caller, thread: int, *, before: int | None = None,
                limit: int = PAGE) -> list[Line]:
    """The latest `limit` messages of one thread (before message `before`, for an earlier page), oldest first, that
    the caller may see (all, with read_messages); those delivered to the caller are marked read."""
    me = caller.name
    mine = "" if caller.may("read_messages") else f" AND {_MINE}"
    older = " AND m.id < ?" if before else ""
    rows = hub.store.query(
        "SELECT m.*, d.agent AS reader, d.read_at FROM message m LEFT JOIN delivery d ON d.message_id = m.id"
        f" AND d.agent = ? AND {kept()} WHERE (m.id = ? OR m.thread_id = ?){mine}{older}"
        " ORDER BY m.id DESC LIMIT ?",
        (me, thread, thread, *(() if not mine else (me, me)), *((before,) if before else ()), limit))[::-1]
    if not rows:
        raise NotFound(f"No thread {thread} that {me} is in.")
    states = receipts.by_message(hub, [r["id"] for r in rows], me, caller.may("read_messages"))
    lines = [Line(r["id"], thread, r["sender"], r["recipient"], r["content"], r["created_at"],
                  r["reader"] is not None and r["read_at"] is None, tuple(states.get(r["id"], ())))
             for r in rows]
    unread = [line.id for line in lines if line.unread]
    if unread:
        now = hub.now()
        with hub.store.write() as conn:
            messages.mark_read(conn, me, now, unread)
    return lines


def traffic(hub: Hub, caller: Caller, *, before_id: int | None = None, limit: int = PAGE) -> list[Line]:
    """Every message on the table, newest first (read_messages: leads and admins)."""
    caller.require("read_messages")
    rows = hub.store.query("SELECT * FROM message" + (" WHERE id < ?" if before_id else "") + " ORDER BY id DESC"
                           " LIMIT ?", (*((before_id,) if before_id else ()), limit))
    return [Line(r["id"], r["thread_id"] or r["id"], r["sender"], r["recipient"], r["content"], r["created_at"])
            for r in rows]
