"""What a message is: an agent's own, or one of the hub's notices (standard library only: the client hooks read it)."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a message is: an agent's (direct or broadcast), or one of the hub's notices."""

    MESSAGE = "message"
    BROADCAST = "broadcast"
    TASK_ASSIGNED = "task_assigned"
    TASK_REASSIGNED = "task_reassigned"
    REVIEW_REQUESTED = "review_requested"
    SENT_BACK = "sent_back"
    TASK_COMMENT = "task_comment"
    TASK_CANCELLED = "task_cancelled"
    TASK_REOPENED = "task_reopened"
    ESCALATION = "escalation"
    ESCALATION_NOTICE = "escalation_notice"
    ESCALATION_RESOLVED = "escalation_resolved"
    OVERDUE = "overdue"
    WORKFLOW = "workflow"
    RESERVATION_LAPSING = "reservation_lapsing"  # a path reservation of an idle holder is about to lapse
    RESERVATION_ENDED = "reservation_ended"  # it lapsed, or someone else (or a task's end) ended it
    PATH_FREE = "path_free"  # a path someone watched is free


# The hub's notices about a task (notices.py): catch_up and hooks count them, the task lists say what they are.
TASK_NOTICES = frozenset({Kind.TASK_ASSIGNED, Kind.TASK_REASSIGNED, Kind.REVIEW_REQUESTED, Kind.SENT_BACK,
                          Kind.TASK_COMMENT, Kind.TASK_CANCELLED, Kind.TASK_REOPENED})
