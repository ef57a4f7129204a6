"""What is worth a notification, read from the event log: each item says what happened, in a line, with a link to
it on the dashboard. Events that repeat one thing (an escalation told to each person) give one item."""

from __future__ import annotations

from dataclasses import dataclass

from team_table.config.notifications import NotifyKind
from team_table.event_kinds import K
from team_table.events import Event
from team_table.hub import Hub
from team_table.task_states import S

EVENT_KINDS = frozenset({K.ESCALATION, K.QUESTION, K.QUESTION_ANSWERED, K.WORKFLOW, K.TASK_UPDATED})
EXCERPT = 140


@dataclass(frozen=True)
class Item:
    kind: NotifyKind
    key: str  # the same thing twice is one item
    line: str
    path: str  # where it is on the dashboard


def _short(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= EXCERPT else text[: EXCERPT - 1] + "…"


def of(hub: Hub, events: list[Event]) -> list[Item]:
    """The items in a run of events, in order, each once."""
    found: dict[str, Item] = {}
    for event in events:
        item = _item(hub, event)
        if item is not None and item.key not in found:
            found[item.key] = item
    return list(found.values())


def _item(hub: Hub, event: Event) -> Item | None:
    data = event.data
    if event.kind == K.ESCALATION and "status" not in data:
        rows = hub.store.query("SELECT e.rule, e.sender, e.agent, e.reason, m.content FROM escalation e LEFT JOIN"
                               " message m ON m.id = e.message_id WHERE e.id = ?", (data["id"],))
        if not rows:
            return None
        r = rows[0]
        said = _short(r["content"] or r["reason"])
        return Item("escalation", f"escalation:{data['id']}", f"Escalation {data['id']} ({r['rule']}): {r['sender']} "
                    f"→ {r['agent']}: {said}", f"/ui#escalation-{data['id']}")
    if event.kind == K.QUESTION and data.get("status") == "open":
        rows = hub.store.query("SELECT asker, text, kind, options FROM question WHERE id = ?", (data["id"],))
        if not rows:
            return None
        r = rows[0]
        return Item("question", f"question:{data['id']}", f"Question {data['id']} from {r['asker']}: "
                    f"{_short(r['text'])}", f"/ui#question-{data['id']}")
    if event.kind == K.QUESTION_ANSWERED and data.get("by") == "team-table":
        return Item("question_deadline", f"deadline:{data['id']}", f"Question {data['id']}: nobody answered by the "
                    "deadline", "/ui")
    if event.kind == K.WORKFLOW and data.get("status") == "failed":
        task = data.get("task_id")
        return Item("workflow_failed", f"workflow:{event.id}", f"Workflow {data.get('workflow')} failed"
                    + (f" on task {task}" if task else "") + f": {_short(data.get('error'))}",
                    f"/ui/tasks/{task}" if task else "/ui/workflows")
    if event.kind == K.TASK_UPDATED and data.get("status") == S.BLOCKED and data.get("was") != S.BLOCKED:
        return Item("task_blocked", f"blocked:{event.id}", f"Task {data['id']} is blocked ({data.get('by')})",
                    f"/ui/tasks/{data['id']}")
    return None
