"""Escalations: a message that matches a pattern of team.yaml needs a human decision; the people named are told."""

from __future__ import annotations

from team_table import audit, events, limits, members, templates
from team_table.config_base import Notify
from team_table.delivery import deliver
from team_table.errors import Conflict, Invalid, NotFound
from team_table.event_kinds import EscalationChange, K
from team_table.hub import Hub
from team_table.models import Caller, Escalation
from team_table.names import HUB_SENDER
from team_table.store import Tx


def detect(conn: Tx, hub: Hub, message_id: int, sender: str, recipient: str, content: str,
           now: str) -> list[str]:
    """Open an escalation for every rule the message matches; call inside the send's transaction.

    Returns the names of the rules that matched."""
    matched = []
    for rule, (pattern, notify) in hub.team.escalation_rules().items():
        if pattern.search(content):
            matched.append(rule)
            escalate(conn, hub, message_id, sender, recipient, rule, notify, now)
    return matched


def escalate(conn: Tx, hub: Hub, message_id: int | None, sender: str, agent: str, rule: str,
             notify: Notify, now: str, notice_template: str | None = None, reason: str = "",
             task_id: int | None = None) -> int:
    """Record an escalation, tell the sender a person was asked, and tell the people `notify` names (a message
    and an `escalation` event each). Auto-replies for `agent` wait until it is resolved. A hub's own escalation
    about a task names the task (`task_id`), so the person can open it, and fix it, from the escalation."""
    escalation_id = conn.execute(
        "INSERT INTO escalation (at, message_id, sender, agent, rule, status, reason, task_id)"
        " VALUES (?, ?, ?, ?, ?, 'open', ?, ?) RETURNING id",
        (now, message_id, sender, agent, rule, reason or None, task_id),
    ).fetchone()[0]
    if sender != HUB_SENDER:
        notice = templates.render(notice_template, templates.ESCALATION_NOTICE, {
            "agent": agent, "sender": sender, "rule": rule, "escalation_id": escalation_id, "count": 1,
            "messages": []})
        deliver(conn, now, HUB_SENDER, sender, notice, reply_to=message_id,  # in the thread of the question
                kind="escalation_notice")
    people = (set(notify.agents) | set(members.holding(conn, hub, notify.roles))) - {sender, HUB_SENDER}
    alert = templates.render(None, templates.ESCALATION_ALERT, {
        "escalation_id": escalation_id, "rule": rule, "sender": sender, "agent": agent, "message_id": message_id})
    if reason:  # the hub's own escalations (workflows) say why, as no message of an agent does
        alert = (f"[AUTO] A decision is needed (escalation {escalation_id}, rule {rule}): {reason}. Resolve it with "
                 f"resolve_escalation or `team-table resolve {escalation_id}`.")
    for person in sorted(people):
        sent = deliver(conn, now, HUB_SENDER, person, alert, kind="escalation")
        conn.execute("INSERT INTO escalation_alert (escalation_id, message_id) VALUES (?, ?)", (escalation_id, sent.id))
        events.emit(conn, now, K.ESCALATION, EscalationChange(id=escalation_id, rule=rule, message_id=message_id,
                                                        sender=sender, agent=agent), to=person)
    audit.record(conn, now, HUB_SENDER, "escalate", "message", message_id,
                 {"rule": rule, "escalation": escalation_id, "notified": sorted(people), "reason": reason or None})
    return escalation_id


def open_for(conn: Tx, agent: str) -> bool:
    """Is a person's decision pending for messages to `agent`? (Its auto-replies wait until it is resolved.)"""
    return conn.execute("SELECT 1 FROM escalation WHERE agent = ? AND status = 'open' LIMIT 1", (agent,)).fetchone() \
        is not None


def listing(hub: Hub, caller: Caller, status: str = "open", *, oldest_first: bool = False) -> list[Escalation]:
    """Escalations, newest first (or the 200 that waited longest); for members with resolve_escalation."""
    caller.require("resolve_escalation")
    if status not in ("open", "resolved", ""):
        raise Invalid(f"Unknown status {status!r}; use open, resolved, or leave it empty for all.")
    sql = "SELECT * FROM escalation" + (" WHERE status = ?" if status else "") + \
        f" ORDER BY id {'ASC' if oldest_first else 'DESC'} LIMIT 200"
    return [Escalation(**dict(r)) for r in hub.store.query(sql, (status,) if status else ())]


def resolve(hub: Hub, caller: Caller, escalation_id: int, note: str = "") -> Escalation:
    """Close an escalation with the decision (`note`); the agent's auto-replies resume, the sender and the agent
    are told, and the alerts the people got about it are marked read."""
    caller.require("resolve_escalation")
    if not note.strip():
        raise Invalid(f"Say what you decided about escalation {escalation_id}: it is what the sender and the agent "
                      "are told.")
    limits.text(note, hub.team.limits.sizes.message, "note")
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
        for person in sorted({row["sender"], row["agent"]} - {HUB_SENDER}):
            deliver(conn, now, HUB_SENDER, person, answer, reply_to=row["message_id"], kind="escalation_resolved")
            events.emit(conn, now, K.ESCALATION, EscalationChange(id=escalation_id, status="resolved", by=caller.name),
                        to=person)
        if {row["sender"], row["agent"]} == {HUB_SENDER}:  # nobody to tell: open pages still hear it closed
            events.emit(conn, now, K.ESCALATION, EscalationChange(id=escalation_id, status="resolved", by=caller.name),
                        to=caller.name)
        conn.execute("UPDATE delivery SET read_at = COALESCE(read_at, ?) WHERE message_id IN"
                     " (SELECT message_id FROM escalation_alert WHERE escalation_id = ?)", (now, escalation_id))
    return Escalation(**dict(row))
