"""What the hub tells an agent about a task it is part of: a task assigned to it, its review asked, its work sent
back, a comment, the task reassigned, cancelled or reopened. Each is a message of the hub's, in the task's one
thread, through the one delivery path: so it wakes the agent, waits in its inbox, and carries a receipt, like any
message. Written in the transaction of the change it tells of; nobody is told of their own action."""

from __future__ import annotations

from datetime import timedelta

from team_table import delivery
from team_table.clock import parse_iso
from team_table.hub import Hub
from team_table.message_kinds import Kind
from team_table.names import HUB_SENDER
from team_table.store import Tx

PREVIEW = 160  # characters of a comment or note a notice quotes


def due(hub: Hub, now: str, kind: Kind, seconds: float | None = None) -> str | None:
    """When an answer to a message of `kind` is due: `seconds` from now if given, else team.yaml's default."""
    within = seconds if seconds is not None else hub.team.delivery.answer_within.get(kind)
    if within is None:
        return None
    return (parse_iso(now) + timedelta(seconds=within)).isoformat(timespec="microseconds")


def tell(conn: Tx, hub: Hub, now: str, to: str | None, by: str, task_id: int, kind: Kind, text: str) -> None:
    """One notice to `to` about a task (none when `to` is nobody, the hub, or who acted)."""
    if not to or to in (by, HUB_SENDER):
        return
    delivery.about_task(conn, now, HUB_SENDER, to, f"[AUTO] {text}", task_id, kind=kind.value,
                        due_at=due(hub, now, kind))


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW else text[: PREVIEW - 1] + "…"


def assigned(conn: Tx, hub: Hub, now: str, task: dict, assignee: str, by: str) -> None:
    tell(conn, hub, now, assignee, by, task["id"], Kind.TASK_ASSIGNED,
         f"{by} gave you task {task['id']} ({task['title']}). See get_task({task['id']}); claim_task or next_task "
         "takes it.")


def reassigned(conn: Tx, hub: Hub, now: str, task: dict, was: str | None, to: str, by: str) -> None:
    if was and was != to:
        tell(conn, hub, now, was, by, task["id"], Kind.TASK_REASSIGNED,
             f"{by} gave task {task['id']} ({task['title']}) to {to}; it is no longer yours.")


def review_requested(conn: Tx, hub: Hub, now: str, task: dict, reviewer: str, by: str) -> None:
    author = task.get("assignee") or task.get("creator")
    tell(conn, hub, now, reviewer, by, task["id"], Kind.REVIEW_REQUESTED,
         f"Your review is asked for task {task['id']} ({task['title']}) by {author}. See get_task({task['id']}), "
         "then review_task.")


def sent_back(conn: Tx, hub: Hub, now: str, task: dict, by: str, note: str) -> None:
    tell(conn, hub, now, task.get("assignee"), by, task["id"], Kind.SENT_BACK,
         f"{by} sent task {task['id']} ({task['title']}) back: {_quote(note)}. Set it to awaiting_review again "
         "when it is fixed.")


def commented(conn: Tx, hub: Hub, now: str, task: dict, readers: list[str], by: str, text: str) -> None:
    for reader in readers:
        tell(conn, hub, now, reader, by, task["id"], Kind.TASK_COMMENT,
             f"{by} commented on task {task['id']} ({task['title']}): {_quote(text)}")


def cancelled(conn: Tx, hub: Hub, now: str, task: dict, by: str) -> None:
    tell(conn, hub, now, task.get("assignee"), by, task["id"], Kind.TASK_CANCELLED,
         f"{by} cancelled task {task['id']} ({task['title']}); stop working on it.")


def reopened(conn: Tx, hub: Hub, now: str, task: dict, by: str, reason: str) -> None:
    tell(conn, hub, now, task.get("assignee") or task.get("reserved_for"), by, task["id"], Kind.TASK_REOPENED,
         f"{by} reopened task {task['id']} ({task['title']}): {_quote(reason)}.")
