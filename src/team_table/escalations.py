"""Escalations: a message that matches a pattern of team.yaml needs a human decision; the people named are told."""

from __future__ import annotations

import sqlite3

from team_table import audit, events, limits, templates
from team_table.config import Notify
from team_table.errors import Conflict, Invalid, NotFound
from team_table.hub import Hub
from team_table.models import Caller, Escalation
from team_table.names import HUB_SENDER


def detect(conn: sqlite3.Connection, hub: Hub, message_id: int, sender: str, recipient: str, content: str,
           now: str) -> list[str]:
    """Open an escalation for every rule the message matches; call inside the send's transaction.

    Returns the names of the rules that matched."""
    matched = []
    for rule, (pattern, notify) in hub.team.escalation_rules().items():
        if pattern.search(content):
            matched.append(rule)
            escalate(conn, hub, message_id, sender, recipient, rule, notify, now)
    return matched


def escalate(conn: sqlite3.Connection, hub: Hub, message_id: int | None, sender: str, agent: str, rule: str,
             notify: Notify, now: str, notice_template: str | None = None, reason: str = "") -> int:
    """Record an escalation, tell the sender a person was asked, and tell the people `notify` names (a message
    and an `escalation` event each). Auto-replies for `agent` wait until it is resolved."""
    escalation_id = conn.execute(
        "INSERT INTO escalation (at, message_id, sender, agent, rule, status) VALUES (?, ?, ?, ?, ?, 'open')",
        (now, message_id, sender, agent, rule),
    ).lastrowid
    if sender != HUB_SENDER:
        notice = templates.render(notice_template, templates.ESCALATION_NOTICE, {
            "agent": agent, "sender": sender, "rule": rule, "escalation_id": escalation_id, "count": 1,
            "messages": []})
        _notify(conn, sender, notice, now)
    people = _people(conn, hub, notify) - {sender}
    alert = templates.render(None, templates.ESCALATION_ALERT, {
        "escalation_id": escalation_id, "rule": rule, "sender": sender, "agent": agent, "message_id": message_id})
    if reason:  # the hub's own escalations (workflows) say why, as no message of an agent does
        alert = (f"[AUTO] A decision is needed (escalation {escalation_id}, rule {rule}): {reason}. Resolve it with "
                 f"resolve_escalation or `team-table resolve {escalation_id}`.")
    for person in sorted(people):
        _notify(conn, person, alert, now)
        events.emit(conn, now, "escalation", {"id": escalation_id, "rule": rule, "message_id": message_id,
                                              "sender": sender, "agent": agent}, to=person)
    audit.record(conn, now, HUB_SENDER, "escalate", "message", message_id,
                 {"rule": rule, "escalation": escalation_id, "notified": sorted(people), "reason": reason or None})
    return escalation_id


def _people(conn: sqlite3.Connection, hub: Hub, notify: Notify) -> set[str]:
    """The named agents, and every active member holding one of the named roles."""
    people = set(notify.agents)
    if notify.roles:
        wanted = set(notify.roles)
        for row in conn.execute("SELECT name, role FROM member WHERE status = 'active'"):
            if wanted & set(hub.roles_of(row["name"], row["role"])):
                people.add(row["name"])
    return people


def open_for(conn: sqlite3.Connection, agent: str) -> bool:
    """Is a person's decision pending for messages to `agent`? (Its auto-replies wait until it is resolved.)"""
    return conn.execute("SELECT 1 FROM escalation WHERE agent = ? AND status = 'open' LIMIT 1", (agent,)).fetchone() \
        is not None


def listing(hub: Hub, caller: Caller, status: str = "open") -> list[Escalation]:
    """Escalations, newest first; for members with the resolve_escalation permission."""
    caller.require("resolve_escalation")
    if status not in ("open", "resolved", ""):
        raise Invalid(f"Unknown status {status!r}; use open, resolved, or leave it empty for all.")
    sql = "SELECT * FROM escalation" + (" WHERE status = ?" if status else "") + " ORDER BY id DESC LIMIT 200"
    return [Escalation(**dict(r)) for r in hub.store.query(sql, (status,) if status else ())]


def resolve(hub: Hub, caller: Caller, escalation_id: int, note: str = "") -> Escalation:
    """Close an escalation with a note; the agent's auto-replies resume, and the sender is told."""
    caller.require("resolve_escalation")
    limits.text(note, hub.team.limits.sizes.message, "note", required=False)
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute(
            "UPDATE escalation SET status = 'resolved', resolved_by = ?, resolved_at = ?, note = ?"
            " WHERE id = ? AND status = 'open' RETURNING *",
            (caller.name, now, note, escalation_id),
        ).fetchone()
        if row is None:
            exists = conn.execute("SELECT status FROM escalation WHERE id = ?", (escalation_id,)).fetchone()
            if exists is None:
                raise NotFound(f"No escalation {escalation_id}; list_escalations shows the open ones.")
            raise Conflict(f"Escalation {escalation_id} is already resolved.")
        audit.record(conn, now, caller.name, "resolve_escalation", "escalation", escalation_id, {"note": note})
        answer = f"[AUTO] {caller.name} resolved escalation {escalation_id} (rule {row['rule']})" + \
            (f": {note}" if note else ".")
        for person in {row["sender"], row["agent"]} - {HUB_SENDER}:
            _notify(conn, person, answer, now)
            events.emit(conn, now, "escalation", {"id": escalation_id, "status": "resolved",
                                                  "by": caller.name}, to=person)
    return Escalation(**dict(row))


def _notify(conn: sqlite3.Connection, person: str, text: str, now: str) -> int:
    message_id = conn.execute("INSERT INTO message (sender, recipient, content, created_at) VALUES (?, ?, ?, ?)",
                              (HUB_SENDER, person, text, now)).lastrowid
    conn.execute("INSERT INTO delivery (agent, message_id) VALUES (?, ?)", (person, message_id))
    return message_id
