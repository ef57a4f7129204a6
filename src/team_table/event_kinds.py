"""The catalogue of events: each kind the hub writes to its event log (events.py), and the keys of its payload.

Events are what pushes, waits, wakes, workflows, notifications and the dashboard's live pages hear. Emitters build
the payload with its TypedDict (`events.emit(conn, now, K.TASK_UPDATED, TaskUpdated(...))`), readers compare kinds
with `EventKind`; PAYLOADS pairs each kind with its payload, and the tests check every event written against it.
Standard library only; its annotations are evaluated (no `from __future__ import annotations`), so that the
payloads' required keys are known at run time.
"""

from enum import StrEnum
from typing import Any, NotRequired, Required, TypedDict


class EventKind(StrEnum):
    MESSAGE = "message"  # a direct message, to its recipient
    BROADCAST = "broadcast"  # a broadcast, to everyone but its sender
    PRESENCE = "presence"  # a member went active, idle or offline
    MEMBER = "member"  # a member joined, came back, or was let back in
    REVOKED = "revoked"  # the member's tokens stopped working: its streams close
    ROLES_CHANGED = "roles_changed"  # a member's roles changed (its tool list may have)
    TASK_ASSIGNED = "task_assigned"  # a task was posted, given to someone, or given a reviewer
    TASK_UPDATED = "task_updated"  # a task moved (status, claim, release, review verdict)
    TASK_COMMENT = "task_comment"  # a comment on a task, to each of its people
    ESCALATION = "escalation"  # an escalation raised (to each person told) or resolved
    QUESTION = "question"  # an agent asked the people
    QUESTION_ANSWERED = "question_answered"  # a question was answered, or its deadline gave the default
    RESERVATIONS = "reservations"  # path reservations granted or ended
    REWAKE = "rewake"  # an answer is overdue: wake the agent again
    CONFIG_RELOADED = "config_reloaded"  # a new team.yaml is in force
    CONFIG_ERROR = "config_error"  # an edit of team.yaml was refused, to the admins
    WORKFLOW = "workflow"  # a workflow ran (done or failed)
    AGENT_RUN = "agent_run"  # the runner's state of an agent, or a person's request about it (to the hub)


K = EventKind


class MessagePointer(TypedDict):
    id: int
    sender: str
    recipient: str
    thread_id: NotRequired[int]
    kind: NotRequired[str]  # a notice of the hub's (message_kinds.Kind)


class BroadcastPointer(TypedDict):
    id: int
    sender: str
    thread_id: NotRequired[int]
    kind: NotRequired[str]


class Presence(TypedDict):
    agent: str
    status: str  # active, idle, offline
    was: str | None


class MemberChange(TypedDict):
    agent: str
    joined: NotRequired[bool]  # registered (True) or registered again while at the table (False)
    role: NotRequired[str]
    readmitted: NotRequired[bool]  # a person let a revoked member back in


class Revoked(TypedDict):
    agent: str


class RolesChanged(TypedDict):
    agent: str
    role: str


class TaskAssigned(TypedDict):
    id: int
    title: str
    creator: str
    assignee: str | None
    priority: str
    kind: NotRequired[str]
    new: NotRequired[bool]  # the task was just posted
    reviewer: NotRequired[str]  # it was given this reviewer


class TaskUpdated(TypedDict):
    id: int
    status: str
    was: str  # the status before (the same when only its assignee changed)
    assignee: str | None
    by: str
    reviewer: NotRequired[str]
    review: NotRequired[str]  # a verdict: approved or rework
    round: NotRequired[int]  # review rounds so far
    note: NotRequired[str]  # the reviewer's note
    released_from: NotRequired[str]  # the hub took it back from this member (offline past the claim lease)


class TaskComment(TypedDict):
    id: int
    comment: int
    author: str
    primary: bool  # the first of the comment's readers (workflows react to that one only)


class EscalationChange(TypedDict):
    id: int
    rule: NotRequired[str]  # raised: the rule, the message, who sent it to whom
    message_id: NotRequired[int | None]
    sender: NotRequired[str]
    agent: NotRequired[str]
    status: NotRequired[str]  # resolved: "resolved", and by whom
    by: NotRequired[str]


class QuestionAsked(TypedDict):
    id: int
    asker: str
    kind: str
    status: str


class QuestionAnswered(TypedDict):
    id: int
    by: str


class Reservations(TypedDict):
    agent: str
    change: str  # reserved, released, lapsed, broken, freed
    patterns: list[str]


class Rewake(TypedDict):
    ids: list[int]
    text: str
    after: str | None  # the way that pushed it before


class ConfigReloaded(TypedDict, total=False):
    file: Required[str]  # then what changed (reload.Change: the keys that changed only)
    agents_added: list[str]
    agents_removed: list[str]
    agents_disabled: list[str]
    agents_changed: list[str]
    roles_changed: list[str]
    limits_changed: bool
    escalation_changed: bool
    presence_changed: bool
    runner_changed: bool
    hub_changed: bool


class ConfigRefused(TypedDict):
    file: str
    problems: list[str]


class WorkflowRun(TypedDict):
    workflow: str
    trigger: str
    task_id: int | None
    status: str  # done or failed
    steps: list[str]  # the actions carried out
    error: NotRequired[str]


class AgentRun(TypedDict):
    agent: str
    state: NotRequired[str]  # the runner's state of it, with the run, why, and which hub process owns it
    run: NotRequired[int | None]
    detail: NotRequired[str | None]
    owner: NotRequired[str]
    requested: NotRequired[str | None]  # a person asked to start or stop it


Payload = (MessagePointer | BroadcastPointer | Presence | MemberChange | Revoked | RolesChanged | TaskAssigned
           | TaskUpdated | TaskComment | EscalationChange | QuestionAsked | QuestionAnswered | Reservations | Rewake
           | ConfigReloaded | ConfigRefused | WorkflowRun | AgentRun)

PAYLOADS: dict[EventKind, Any] = {
    K.MESSAGE: MessagePointer, K.BROADCAST: BroadcastPointer, K.PRESENCE: Presence, K.MEMBER: MemberChange,
    K.REVOKED: Revoked, K.ROLES_CHANGED: RolesChanged, K.TASK_ASSIGNED: TaskAssigned, K.TASK_UPDATED: TaskUpdated,
    K.TASK_COMMENT: TaskComment, K.ESCALATION: EscalationChange, K.QUESTION: QuestionAsked,
    K.QUESTION_ANSWERED: QuestionAnswered, K.RESERVATIONS: Reservations, K.REWAKE: Rewake,
    K.CONFIG_RELOADED: ConfigReloaded, K.CONFIG_ERROR: ConfigRefused, K.WORKFLOW: WorkflowRun, K.AGENT_RUN: AgentRun,
}


def problems(kind: str, data: dict[str, Any]) -> list[str]:
    """What is wrong with an event's payload for its kind (an unknown kind, a key missing or not declared)."""
    try:
        payload = PAYLOADS[EventKind(kind)]
    except ValueError:
        return [f"{kind!r} is not an event kind"]
    keys = set(payload.__annotations__)
    missing = sorted(payload.__required_keys__ - data.keys())
    unknown = sorted(data.keys() - keys)
    return [f"{kind}: {key} is missing" for key in missing] + [f"{kind}: {key} is not declared" for key in unknown]
