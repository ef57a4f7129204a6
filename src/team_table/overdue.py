"""Answers that are late: a message sent with an answer due (send_message(answer_within_seconds=...), or
delivery.answer_within for its kind) that passes its time without being acted on. The hub then takes the steps
of delivery.overdue, one at a time, `every_seconds` apart: wake the agent again through the next way it has
(`rewake`), tell the sender (`tell_sender`), ask a person (`escalate`). Each step is audited and recorded on the
delivery (overdue_step), so none is taken twice, in any process; an answer stops them.
"""

from __future__ import annotations

from datetime import timedelta

from team_table import audit, escalations, events
from team_table.clock import parse_iso
from team_table.delivery import deliver
from team_table.delivery_policy import Step
from team_table.delivery_states import kept
from team_table.event_kinds import K, Rewake
from team_table.hub import Hub
from team_table.message_kinds import Kind
from team_table.names import HUB_SENDER
from team_table.store import Tx

BATCH = 100  # overdue deliveries handled per run (the next run takes the rest)
RULE = "overdue"  # the escalation rule an overdue answer is raised under


def any_due(hub: Hub) -> bool:
    """Is an answer overdue now? One indexed read: an idle hub writes nothing to find out."""
    due = next_due(hub)
    return due is not None and due <= hub.now()


def next_due(hub: Hub) -> str | None:
    """When the next answer falls due (or None): one read of a partial index; an idle hub writes nothing."""
    rows = hub.store.query("SELECT MIN(due_at) FROM delivery WHERE due_at IS NOT NULL AND acted_at IS NULL")
    return rows[0][0] if rows else None


def sweep(hub: Hub) -> int:
    """Take the next step for every delivery whose answer is overdue now; returns how many steps were taken."""
    policy = hub.team.delivery.overdue
    now = hub.now()
    taken = 0
    with hub.store.write() as conn:
        rows = conn.execute(
            "SELECT d.agent, d.message_id, d.overdue_step, d.due_at, d.read_at, d.pushed_via, m.sender,"
            " m.created_at, COALESCE(m.thread_id, m.id) AS thread FROM delivery d JOIN message m"
            " ON m.id = d.message_id WHERE d.due_at IS NOT NULL AND d.acted_at IS NULL AND d.due_at <= ?"
            f" AND {kept()} ORDER BY d.due_at LIMIT ?", (now, BATCH)).fetchall()
        for row in rows:
            step = row["overdue_step"]
            later = (parse_iso(now) + timedelta(seconds=policy.every_seconds)).isoformat(timespec="microseconds")
            if step >= len(policy.steps):
                conn.execute("UPDATE delivery SET due_at = NULL WHERE agent = ? AND message_id = ?",
                             (row["agent"], row["message_id"]))
                continue
            _take(conn, hub, now, row, policy.steps[step])
            more = step + 1 < len(policy.steps)
            conn.execute("UPDATE delivery SET overdue_step = ?, due_at = ? WHERE agent = ? AND message_id = ?"
                         " AND overdue_step = ?",
                         (step + 1, later if more else None, row["agent"], row["message_id"], step))
            taken += 1
    return taken


def _take(conn: Tx, hub: Hub, now: str, row, step: Step) -> None:
    agent, message_id, sender = row["agent"], row["message_id"], row["sender"]
    late = f"message {message_id} from {sender}, sent {row['created_at'][:16].replace('T', ' ')} UTC"
    if step == Step.REWAKE:
        text = (f"team-table: {sender} is waiting for your answer to message {message_id}; read it with "
                "get_messages (include_read=true if you read it already) and answer with send_message(reply_to=...).")
        events.emit(conn, now, K.REWAKE, Rewake(ids=[message_id], text=text, after=row["pushed_via"]), to=agent)
        detail = {"message": message_id, "step": step.value}
    elif step == Step.TELL_SENDER and sender != HUB_SENDER:
        state = "read it" if row["read_at"] else "has not read it"
        deliver(conn, now, HUB_SENDER, sender, f"[AUTO] {agent} has not answered {late} in time ({agent} {state}); "
                f"message_status([{message_id}]) shows how far it got.", thread_id=row["thread"],
                kind=Kind.OVERDUE.value)
        detail = {"message": message_id, "step": step.value, "told": sender}
    elif step == Step.ESCALATE:
        notify = hub.team.delivery.overdue.notify or hub.team.escalation.notify
        escalations.escalate(conn, hub, message_id, sender, agent, RULE, notify, now,
                             reason=f"{agent} has not answered {late}")
        detail = {"message": message_id, "step": step.value}
    else:
        detail = {"message": message_id, "step": step.value, "skipped": "the sender is the hub itself"}
    audit.record(conn, now, HUB_SENDER, "overdue", "message", message_id, {"agent": agent, **detail})
