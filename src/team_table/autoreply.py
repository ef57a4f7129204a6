"""Auto-reply: while an agent is away, the hub acknowledges its new messages, and asks a person instead when a
message needs a decision or the reply cap is reached. The agent's messages stay unread for the agent itself."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from team_table import audit, escalations, presence, templates
from team_table.config.agents import AutoReply
from team_table.config_base import Notify
from team_table.delivery import deliver
from team_table.delivery_states import UNREAD
from team_table.hub import Hub
from team_table.names import HUB_SENDER
from team_table.presence import ACTIVE
from team_table.store import Tx

log = logging.getLogger("team_table.autoreply")

AUTO = "[AUTO]"
REPLY_CAP = "reply_cap"

# The question patterns of 0.2.1's poll daemon: the defaults when team.yaml names no escalation patterns.
QUESTION_PATTERNS = {
    "question": r"\?\s*$",
    "asks_us": r"(?i)^(should|could|would|can) (we|you|i)\b",
    "opinion": r"(?i)\b(what do you think|your (thoughts|opinion|preference))\b",
    "decision": r"(?i)\b(decide|choose|pick|approve|confirm)\b",
    "escalate": r"(?i)\b(escalat\w*|ask the user|check with|need (your|human))\b",
}


@dataclass
class Outcome:
    """What one run for one agent did."""

    replied: dict[str, int] = field(default_factory=dict)  # sender -> messages acknowledged
    escalated: list[int] = field(default_factory=list)  # escalation ids
    skipped: str | None = None  # why nothing was looked at


def run(hub: Hub, agent: str, policy: AutoReply, *, default_patterns: bool = False) -> Outcome:
    """One pass of the poll job for `agent`: every new message gets exactly one outcome, recorded once."""
    team = hub.team
    now = hub.now()
    rules = team.escalation_rules() or (_question_rules(team) if default_patterns else {})
    if not hub.store.query(_NEW + " LIMIT 1", (agent, agent, agent, HUB_SENDER)):
        return Outcome(skipped="nothing new")  # a read: an idle agent's policy costs no write
    with hub.store.write() as conn:
        skipped = _why_not(conn, hub, agent, policy)
        if skipped:
            return Outcome(skipped=skipped)
        outcome = Outcome()
        sent = conn.execute("SELECT COUNT(*) FROM auto_reply WHERE agent = ? AND outcome = 'ack' AND at > ?",
                            (agent, _away_since(conn, hub, agent))).fetchone()[0]
        by_sender: dict[str, list] = {}
        for message in _new_messages(conn, agent, policy):
            if _already_escalated(conn, message["id"]):  # a person was asked when it was sent
                _mark(conn, message, agent, now, "escalated")
                continue
            matched = _first_match(rules, message["content"])
            if matched or sent >= policy.max_replies:
                escalation_id = _escalate(conn, hub, agent, message, matched or REPLY_CAP, rules, now, policy)
                outcome.escalated.append(escalation_id)
                _mark(conn, message, agent, now, "escalated")
                break  # auto-replies wait for the person; the rest stay new (and unread), handled after
            by_sender.setdefault(message["sender"], []).append(message)
        for sender, batch in by_sender.items():
            if sent >= policy.max_replies:
                break
            _acknowledge(conn, hub, agent, sender, batch, policy, now)
            outcome.replied[sender] = len(batch)
            sent += 1
    return outcome


def _why_not(conn: Tx, hub: Hub, agent: str, policy: AutoReply) -> str | None:
    if not policy.enabled:
        return "disabled"
    if escalations.open_for(conn, agent):
        return "waiting for a person to resolve an escalation"
    if policy.pause_when_active:
        row = conn.execute("SELECT last_seen, last_heartbeat FROM member WHERE name = ?", (agent,)).fetchone()
        if presence.of(hub, agent, *(tuple(row) if row else ()))[0] == ACTIVE:
            return "the agent is active"
    return None


def _away_since(conn: Tx, hub: Hub, agent: str) -> str:
    row = conn.execute(f"SELECT {presence.last_sign(hub)} AS last FROM member WHERE name = ?", (agent,)).fetchone()
    return row["last"] if row and row["last"] else ""


_NEW = ("SELECT m.* FROM delivery d JOIN message m ON m.id = d.message_id"
        f" WHERE d.agent = ? AND {UNREAD}"
        " AND m.recipient = ? AND m.sender NOT IN (?, ?) AND m.content NOT LIKE '[AUTO]%'"
        " AND NOT EXISTS (SELECT 1 FROM auto_reply a WHERE a.message_id = m.id) ORDER BY m.id")


def _new_messages(conn: Tx, agent: str, policy: AutoReply) -> list:
    """Direct messages to `agent`, unread by it and not yet handled, never [AUTO] ones or its own, oldest first."""
    rows = conn.execute(_NEW, (agent, agent, agent, HUB_SENDER)).fetchall()
    return [r for r in rows if not policy.senders or r["sender"] in policy.senders]


def _question_rules(team) -> dict[str, tuple[re.Pattern, Notify]]:
    notify = team.escalation.notify
    return {name: (re.compile(pattern), notify) for name, pattern in QUESTION_PATTERNS.items()}


def _first_match(rules: dict, content: str) -> str | None:
    return next((name for name, (pattern, _) in rules.items() if pattern.search(content)), None)


def _already_escalated(conn: Tx, message_id: int) -> bool:
    return conn.execute("SELECT 1 FROM escalation WHERE message_id = ? LIMIT 1", (message_id,)).fetchone() is not None


def _escalate(conn, hub: Hub, agent: str, message, rule: str, rules: dict, now: str,
              policy: AutoReply) -> int:
    notify = rules[rule][1] if rule in rules else hub.team.escalation.notify
    escalation_id = escalations.escalate(conn, hub, message["id"], message["sender"], agent, rule, notify, now,
                                         policy.escalation_template)
    log.info("auto-reply for %s: escalated message %s from %s (rule %s)", agent, message["id"], message["sender"], rule)
    return escalation_id


def _acknowledge(conn, hub: Hub, agent: str, sender: str, batch: list, policy: AutoReply,
                 now: str) -> None:
    text = templates.render(policy.template, templates.AUTO_REPLY, {
        "agent": agent, "sender": sender, "count": len(batch), "messages": [_plain(m) for m in batch]})
    # From the away agent itself, so the conversation reads naturally; [AUTO] so it is never answered in turn.
    deliver(conn, now, agent, sender, text if text.startswith(AUTO) else f"{AUTO} {text}",
            reply_to=batch[-1]["id"])
    for message in batch:
        _mark(conn, message, agent, now, "ack")
    audit.record(conn, now, agent, "auto_reply", "messages", None,
                 {"to": sender, "messages": [m["id"] for m in batch]})
    log.info("auto-reply for %s: acknowledged %d message(s) from %s", agent, len(batch), sender)


def _mark(conn: Tx, message, agent: str, now: str, outcome: str) -> None:
    conn.execute("INSERT INTO auto_reply (message_id, agent, sender, at, outcome) VALUES (?, ?, ?, ?, ?)"
                 " ON CONFLICT DO NOTHING", (message["id"], agent, message["sender"], now, outcome))


def _plain(message) -> dict:
    return {"id": message["id"], "sender": message["sender"], "content": message["content"],
            "created_at": message["created_at"]}
