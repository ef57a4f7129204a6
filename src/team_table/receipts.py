"""Receipts: what became of each thing addressed to an agent, recorded on its delivery row as it happens.

    queued   the delivery row is written (with the message, in one transaction)
    pushed   a way to reach the agent took it (stream, channel, socket, hook, monitor, or a wait that returned it)
    surfaced it was put in front of the model (a hook added it as context, a wait returned it, a run started with it)
    read     get_messages or a wait handed it over
    acted    the agent answered in its thread, or acted on the task the thread is about (claim, status, review, comment)

Each state is a timestamp that is set once and never moves back (a message put back unread by a cancelled wait keeps
its other states). Everything an agent is told by the hub (a task assigned, a review asked, work sent back, an
escalation decided) is a message of the hub's (notices.py), so one row type carries every receipt.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from team_table.delivery_states import UNREAD, unpushed
from team_table.errors import Invalid, NotFound
from team_table.hub import Hub
from team_table.models import Caller, Receipt, ReceiptReport
from team_table.store import Tx, placeholders

MAX_IDS = 100  # message_status: ids per call
MAX_READERS = 50  # readers listed per message (a broadcast to more gives the counts, and the first 50)


class Via(StrEnum):
    """How a delivery was pushed."""

    STREAM = "stream"  # the agent's /events stream carried it
    CHANNEL = "channel"  # a Claude Code channel note
    SOCKET = "socket"  # a line on the Claude Code session's messaging socket
    MONITOR = "monitor"  # a line from the agent's monitor (a Claude Code plugin)
    HOOK = "hook"  # an asyncRewake hook that was waiting
    WAIT = "wait"  # wait_for_messages returned it


class Shown(StrEnum):
    """How a delivery was surfaced to the model."""

    HOOK = "hook"  # SessionStart / UserPromptSubmit / Stop added it as context
    WAIT = "wait"  # a wait returned it
    RUN = "run"  # a run the hub started had it in its prompt


class Acted(StrEnum):
    REPLY = "reply"
    CLAIM = "claim"
    STATUS = "status"
    REVIEW = "review"
    COMMENT = "comment"


STATES = ("queued", "pushed", "surfaced", "read", "acted")


def claim_push(conn: Tx, now: str, agent: str, via: Via, only: Iterable[int] | None = None) -> list[int]:
    """Mark what waits for `agent` and was not pushed yet as pushed `via` (all of it, or `only` these ids); returns
    the ids. Of two ways racing for one delivery, in any process, exactly one gets it."""
    ids = list(only) if only is not None else None
    extra = f" AND message_id IN ({placeholders(ids)})" if ids else ""
    if ids is not None and not ids:
        return []
    return sorted(row[0] for row in conn.execute(
        f"UPDATE delivery SET pushed_at = ?, pushed_via = ? WHERE agent = ? AND {unpushed('')}{extra}"
        " RETURNING message_id", (now, via.value, agent, *(ids or ()))))


def unclaim_push(conn: Tx, agent: str, ids: list[int], via: Via) -> None:
    """A push that did not go out: the deliveries wait for the next way."""
    if ids:
        conn.execute(f"UPDATE delivery SET pushed_at = NULL, pushed_via = NULL WHERE agent = ? AND pushed_via = ?"
                     f" AND message_id IN ({placeholders(ids)})", (agent, via.value, *ids))


def surfaced(conn: Tx, now: str, agent: str, ids: Iterable[int], how: Shown) -> None:
    """These deliveries were put in front of the model `how` (a way that surfaces them pushed them, too)."""
    ids = list(ids)
    if ids:
        conn.execute(f"UPDATE delivery SET surfaced_at = COALESCE(surfaced_at, ?),"
                     " surfaced_via = COALESCE(surfaced_via, ?), pushed_at = COALESCE(pushed_at, ?),"
                     " pushed_via = COALESCE(pushed_via, ?)"
                     f" WHERE agent = ? AND message_id IN ({placeholders(ids)})",
                     (now, how.value, now, how.value, agent, *ids))


def shown(hub: Hub, agent: str, ids: list[int], how: Shown) -> None:
    """`surfaced`, in a transaction of its own (a hook showed the agent what waits)."""
    if ids:
        with hub.store.write() as conn:
            surfaced(conn, hub.now(), agent, ids, how)


def acted_in_thread(conn: Tx, now: str, agent: str, thread_id: int, how: Acted) -> None:
    """`agent` acted in a thread: what it was sent there is answered."""
    conn.execute("UPDATE delivery SET acted_at = ?, acted_how = ? WHERE agent = ? AND acted_at IS NULL"
                 " AND message_id IN (SELECT id FROM message WHERE id = ? OR thread_id = ?)",
                 (now, how.value, agent, thread_id, thread_id))


def answered(conn: Tx, now: str, sender: str, recipient: str, thread_id: int | None) -> None:
    """A message from `sender` to `recipient` answers what `recipient` sent `sender`: in its thread when it replies,
    else the newest thread `recipient` opened with `sender` (agents do not always say reply_to)."""
    if thread_id is None:
        row = conn.execute("SELECT COALESCE(thread_id, id) FROM message WHERE sender = ? AND recipient = ?"
                           " ORDER BY id DESC LIMIT 1", (recipient, sender)).fetchone()
        if row is None:
            return
        thread_id = int(row[0])
    acted_in_thread(conn, now, sender, thread_id, Acted.REPLY)


def acted_on_task(conn: Tx, now: str, agent: str, task_id: int, how: Acted) -> None:
    """`agent` claimed, moved, reviewed or commented on a task: the hub's notices about it (its thread) are answered."""
    row = conn.execute("SELECT thread_id FROM task WHERE id = ?", (task_id,)).fetchone()
    if row is not None and row[0] is not None:
        acted_in_thread(conn, now, agent, row[0], how)


def state(row) -> str:
    """The furthest a delivery got."""
    for name in reversed(STATES[1:]):
        if row[f"{name}_at"] is not None:
            return name
    return "queued"


_RECEIPT = ("SELECT d.agent, d.message_id, m.created_at, d.pushed_at, d.pushed_via, d.surfaced_at, d.surfaced_via,"
            " d.read_at, d.acted_at, d.acted_how, d.due_at, d.overdue_step, d.archived_at, d.deleted_at"
            " FROM delivery d JOIN message m ON m.id = d.message_id")


def _receipt(row) -> Receipt:
    return Receipt(agent=row["agent"], state=state(row), queued_at=row["created_at"], pushed_at=row["pushed_at"],
                   pushed_via=row["pushed_via"], surfaced_at=row["surfaced_at"], surfaced_via=row["surfaced_via"],
                   read_at=row["read_at"], acted_at=row["acted_at"], acted_how=row["acted_how"],
                   due_at=row["due_at"], overdue_steps=row["overdue_step"],
                   set_aside="deleted" if row["deleted_at"] else "archived" if row["archived_at"] else None)


def status(hub: Hub, caller: Caller, ids: list[int]) -> list[ReceiptReport]:
    """How far each message got with each of its readers. Its sender sees every reader, a reader its own row,
    and a role with manage_messages (leads) everything."""
    ids = list(dict.fromkeys(ids))
    if not ids or len(ids) > MAX_IDS:
        raise Invalid(f"Give 1 to {MAX_IDS} message ids.")
    messages = {row["id"]: row for row in hub.store.query(
        f"SELECT id, sender, recipient, kind, created_at FROM message WHERE id IN ({placeholders(ids)})", ids)}
    everyone = caller.may("manage_messages")
    rows: dict[int, list] = {}
    for row in hub.store.query(f"{_RECEIPT} WHERE d.message_id IN ({placeholders(ids)}) ORDER BY d.message_id,"
                               " d.agent", ids):
        rows.setdefault(row["message_id"], []).append(row)
    reports = []
    for message_id in ids:
        message = messages.get(message_id)
        readers = rows.get(message_id, [])
        if message is None or not (everyone or message["sender"] == caller.name
                                   or any(r["agent"] == caller.name for r in readers)):
            raise NotFound(f"No message {message_id} that {caller.name} sent or received.")
        if not everyone and message["sender"] != caller.name:
            readers = [r for r in readers if r["agent"] == caller.name]
        counts: dict[str, int] = dict.fromkeys(STATES, 0)
        for r in readers:
            counts[state(r)] += 1
        reports.append(ReceiptReport(id=message_id, sender=message["sender"], recipient=message["recipient"],
                                     kind=message["kind"] or "message", created_at=message["created_at"],
                                     counts=counts, readers=[_receipt(r) for r in readers[:MAX_READERS]]))
    return reports


def states_in(hub: Hub, caller: str, ids: list[int]) -> dict[int, dict[str, str]]:
    """For get_thread: each message's state per reader, as its sender sees it ({id: {reader: state}}); for messages
    the caller received, its own state only."""
    if not ids:
        return {}
    found: dict[int, dict[str, str]] = {}
    for row in hub.store.query(
            f"{_RECEIPT} WHERE d.message_id IN ({placeholders(ids)}) AND (d.agent = ? OR m.sender = ?)"
            " ORDER BY d.message_id, d.agent", (*ids, caller, caller)):
        found.setdefault(row["message_id"], {})[row["agent"]] = state(row)
    return found


def by_message(hub: Hub, ids: list[int], viewer: str, everyone: bool) -> dict[int, list[Receipt]]:
    """For people reading a thread: each message's receipts, by reader (all of them for a viewer who may read every
    message, else those of messages the viewer sent, and the viewer's own)."""
    if not ids:
        return {}
    mine = "" if everyone else " AND (d.agent = ? OR m.sender = ?)"
    found: dict[int, list[Receipt]] = {}
    for row in hub.store.query(f"{_RECEIPT} WHERE d.message_id IN ({placeholders(ids)}){mine}"
                               " ORDER BY d.message_id, d.agent", (*ids, *(() if everyone else (viewer, viewer)))):
        found.setdefault(row["message_id"], []).append(_receipt(row))
    return found


def standing(query, names: list[str]) -> dict[str, dict]:
    """For people: each agent's unread messages (how many, since when) and its last wake (when, which way, whether
    it got through), in two queries for the whole team."""
    found = {name: {"unread": 0, "oldest_unread": None, "last_wake": None} for name in names}
    if not names:
        return found
    names_in = placeholders(names)
    for row in query("SELECT d.agent, COUNT(*) AS n, MIN(m.created_at) AS oldest FROM delivery d JOIN message m"
                     f" ON m.id = d.message_id WHERE d.agent IN ({names_in}) AND {UNREAD} GROUP BY d.agent",
                     names):
        found[row["agent"]].update(unread=row["n"], oldest_unread=row["oldest"])
    for row in query("SELECT w.agent, w.at, w.via, w.ok FROM wake w JOIN (SELECT agent, MAX(id) AS id FROM wake"
                     f" WHERE agent IN ({names_in}) GROUP BY agent) latest ON latest.id = w.id", names):
        found[row["agent"]]["last_wake"] = {"at": row["at"], "via": row["via"], "ok": bool(row["ok"])}
    return found
