"""Escalations: a message that matches a pattern of team.yaml needs a human decision; the people named are told."""

from __future__ import annotations

import sqlite3

from team_table import audit, events
from team_table.config import Notify
from team_table.hub import Hub

HUB_SENDER = "team-table"  # the name [AUTO] messages come from; no member may take it


def detect(conn: sqlite3.Connection, hub: Hub, message_id: int, sender: str, recipient: str, content: str,
           now: str) -> list[str]:
    """Open an escalation for every rule the message matches; call inside the send's transaction.

    Returns the names of the rules that matched."""
    matched = []
    for rule, (pattern, notify) in hub.team.escalation_rules().items():
        if not pattern.search(content):
            continue
        matched.append(rule)
        escalation_id = conn.execute(
            "INSERT INTO escalation (at, message_id, sender, agent, rule, status) VALUES (?, ?, ?, ?, ?, 'open')",
            (now, message_id, sender, recipient, rule),
        ).lastrowid
        people = _people(conn, hub, notify) - {sender}
        notice = (f"[AUTO] A decision is needed (escalation {escalation_id}, rule {rule}): {sender} wrote to "
                  f"{recipient} in message {message_id}. Read it with get_messages or `team-table inbox {recipient}`.")
        for person in sorted(people):
            notice_id = conn.execute(
                "INSERT INTO message (sender, recipient, content, created_at) VALUES (?, ?, ?, ?)",
                (HUB_SENDER, person, notice, now),
            ).lastrowid
            conn.execute("INSERT INTO delivery (agent, message_id) VALUES (?, ?)", (person, notice_id))
            events.emit(conn, now, "escalation", {"id": escalation_id, "rule": rule, "message_id": message_id,
                                                  "sender": sender, "agent": recipient}, to=person)
        audit.record(conn, now, HUB_SENDER, "escalate", "message", message_id,
                     {"rule": rule, "escalation": escalation_id, "notified": sorted(people)})
    return matched


def _people(conn: sqlite3.Connection, hub: Hub, notify: Notify) -> set[str]:
    """The named agents, and every active member holding one of the named roles."""
    people = set(notify.agents)
    if notify.roles:
        wanted = set(notify.roles)
        declared = hub.team.agents
        for row in conn.execute("SELECT name, role FROM member WHERE status = 'active'"):
            member_roles = declared[row["name"]].all_roles if row["name"] in declared else (row["role"],)
            if wanted & set(member_roles):
                people.add(row["name"])
    return people
