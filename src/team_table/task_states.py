"""A task's statuses and priorities, and the groups and order the hub's rules speak of, in Python and as SQL: the one
definition of each (standard library only: the client hooks read what waits for review).

    finished   done or cancelled: nothing more happens to it
    working    its assignee is on it (in progress, blocked, or awaiting its review)
    to do      its assignee has it to do (pending, in progress or blocked: not finished, not with a reviewer)
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class TaskStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    BLOCKED = "blocked"
    AWAITING_REVIEW = "awaiting_review"
    DONE = "done"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


S = TaskStatus
FINISHED = frozenset({S.DONE, S.CANCELLED})
WORKING = frozenset({S.IN_PROGRESS, S.BLOCKED, S.AWAITING_REVIEW})
TO_DO = frozenset({S.PENDING, S.IN_PROGRESS, S.BLOCKED})


def sql(statuses: Iterable[TaskStatus]) -> str:
    """A group as an SQL list, for `status IN ...` / `status NOT IN ...`: "('cancelled', 'done')". (One status is
    written f"status = '{S.PENDING}'": a StrEnum formats as its value.)"""
    return "(" + ", ".join(f"'{status.value}'" for status in sorted(statuses)) + ")"


FINISHED_SQL = sql(FINISHED)
WORKING_SQL = sql(WORKING)
TO_DO_SQL = sql(TO_DO)


def by_priority(column: str = "priority") -> str:
    """An SQL sort key: high, then medium, then low (follow it with the tie-breaker)."""
    return f"CASE {column} WHEN '{Priority.HIGH}' THEN 0 WHEN '{Priority.MEDIUM}' THEN 1 ELSE 2 END"
