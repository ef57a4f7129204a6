"""The records the domain returns: frozen, with the keys CONTRACT.md gives them."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class MemberStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    DONE = "done"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Caller(Record):
    """Who is making a call, once authenticated."""

    name: str
    role: str


class Member(Record):
    name: str
    role: str
    capabilities: list[str]
    status: MemberStatus
    registered_at: str
    last_heartbeat: str


class Registration(Member):
    token: str


class Message(Record):
    id: int
    sender: str
    recipient: str
    content: str
    created_at: str


class InboxItem(Message):
    read: bool
    archived_at: str | None


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
