"""The records the domain returns: frozen, with the keys docs/compatibility.md gives them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from team_table.roles import allows, require
from team_table.task_states import Priority, TaskStatus


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


def plain(value: Any) -> Any:
    """Records (and lists of them) as JSON-ready data."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class MemberStatus(StrEnum):
    ACTIVE = "active"  # at the table
    INACTIVE = "inactive"  # deregistered
    REVOKED = "revoked"  # kept out: nothing lets it back but a person's readmit


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is making a call, once authenticated, and what its roles permit."""

    name: str
    roles: tuple[str, ...]
    granted: frozenset[str]

    @property
    def role(self) -> str:
        return self.roles[0]

    def may(self, action: str, key: str | None = None) -> bool:
        return allows(self.granted, action, key)

    def require(self, action: str, key: str | None = None) -> None:
        require(self.granted, action, self.name, key)


class Member(Record):
    name: str
    role: str
    roles: list[str]
    capabilities: list[str]
    status: MemberStatus
    registered_at: str
    last_heartbeat: str
    presence: str | None = None  # active, idle or offline, by the last call (None once deregistered)
    last_seen: str | None = None  # the last call or heartbeat


class Registration(Member):
    token: str


class Message(Record):
    id: int
    sender: str
    recipient: str
    content: str
    created_at: str
    thread_id: int | None = None  # the thread's first message (None for a message that is no reply)
    reply_to: int | None = None  # the message this one answers
    # The escalation rules a new message matched; shown only when there are some.
    escalated: list[str] | None = Field(default=None, exclude_if=lambda rules: not rules)
    # Something the sender should know (e.g. nobody by that name is at the table); shown only when set.
    warning: str | None = Field(default=None, exclude_if=lambda text: text is None)


class InboxItem(Message):
    read: bool
    archived_at: str | None
    kind: str | None = Field(default=None, exclude_if=lambda kind: not kind)  # a notice of the hub's: which
    # get_thread: how far the message got with each reader (its sender sees all, a reader its own state).
    receipts: dict[str, str] | None = Field(default=None, exclude_if=lambda states: states is None)


class Receipt(Record):
    """How far one delivery got: each state's time (None until reached), the way it was pushed and surfaced, how it
    was acted on, and an answer's deadline with the steps the hub took after it."""

    agent: str
    state: str  # queued, pushed, surfaced, read or acted: the furthest reached
    queued_at: str
    pushed_at: str | None
    pushed_via: str | None
    surfaced_at: str | None
    surfaced_via: str | None
    read_at: str | None
    acted_at: str | None
    acted_how: str | None
    due_at: str | None = None
    overdue_steps: int = 0
    set_aside: str | None = None  # archived or deleted by its reader


class ReceiptReport(Record):
    """message_status: one message, its readers' receipts, and how many readers are at each state."""

    id: int
    sender: str
    recipient: str
    kind: str
    created_at: str
    counts: dict[str, int]
    readers: list[Receipt]


class MessageChange(Record):
    """What archive_message and delete_message did, and for whom (`scope`)."""

    id: int
    sender: str
    recipient: str
    archived_at: str | None = None
    deleted_at: str | None = None
    read: bool = True
    scope: str


class Task(Record):
    id: int
    title: str
    description: str
    status: TaskStatus
    priority: Priority
    creator: str
    assignee: str | None
    result: str | None
    created_at: str
    updated_at: str
    kind: str = ""
    parent_id: int | None = None
    reviewer: str | None = None
    labels: list[str] = []
    depends_on: list[int] = []
    review_rounds: int = 0  # how many times review sent it back
    # The paths (gitignore-style patterns) the task will touch: claiming it reserves them. Shown only when declared.
    paths: list[str] = Field(default=[], exclude_if=lambda paths: not paths)


class Reservation(Record):
    """A path pattern a member holds, exclusively or shared, until it lapses (renewed while the member is active)."""

    id: int
    agent: str
    pattern: str
    exclusive: bool
    reason: str
    task_id: int | None
    created_at: str
    expires_at: str


class Holder(Record):
    """Who holds what a request overlaps: the pattern asked for, and the reservation in the way."""

    wanted: str
    agent: str
    pattern: str
    exclusive: bool
    task_id: int | None
    expires_at: str
    reason: str = ""


class ClaimedTask(Task):
    """A claimed task, with the declared paths that others hold (reported, not reserved: on_claim_conflict report)."""

    unreserved: list[Holder] = Field(default=[], exclude_if=lambda held: not held)


class Comment(Record):
    id: int
    task_id: int
    author: str
    text: str
    at: str


class ContextEntry(Record):
    key: str
    value: str
    set_by: str
    updated_at: str


class AuditEntry(Record):
    id: int
    timestamp: str
    agent_name: str
    action: str
    target_type: str | None
    target_id: str | None
    details: str


class Escalation(Record):
    """A message that needs a person's decision: who, which message, which rule, when, and its state."""

    id: int
    at: str
    message_id: int | None
    sender: str
    agent: str
    rule: str
    status: str
    resolved_by: str | None
    resolved_at: str | None
    note: str | None
    reason: str | None = None  # why the hub itself asked (a workflow), when no agent's message did
    task_id: int | None = None  # the task a hub's own escalation is about


class TaskDetail(Task):
    """get_task: the task with its comments, children, dependencies and history."""

    comments: list[Comment]
    children: list[Task]
    dependencies: list[Task]
    history: list[AuditEntry]


class QuestionStatus(StrEnum):
    OPEN = "open"
    ANSWERED = "answered"  # by a person
    DEFAULTED = "defaulted"  # nobody answered by the deadline: the default applied
    LAPSED = "lapsed"  # nobody answered by the deadline, and there was no default


class Question(Record):
    """A question an agent (or the hub, for an agent) asked the people, and its answer once there is one."""

    id: int
    at: str
    asker: str
    kind: str  # approve, yes_no, choice, text, permission
    text: str
    options: list[str]
    asked: list[str]  # who was asked (told, and on whose Needs you it waits)
    default_answer: str | None
    deadline: str | None
    task_id: int | None
    details: dict | None  # a permission request's tool, description and input
    message_id: int | None  # the question's message: its thread carries the answer
    status: QuestionStatus
    answer: str | None
    answered_by: str | None
    answered_at: str | None
