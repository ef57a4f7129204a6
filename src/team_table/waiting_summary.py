"""What waits for an agent right now, in a few words: unread messages by sender, the hub's notices about tasks,
tasks awaiting its review.

Read through any `query(sql, params)`: the hub's store for its HTTP route, a bare connection for the client hooks
(which must answer within a fraction of a second, so this module imports only the standard library's worth).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from team_table.delivery_states import UNREAD
from team_table.message_kinds import TASK_NOTICES, Kind
from team_table.task_states import S

Query = Callable[[str, Sequence[Any]], list]

_NOTICE_KINDS = ", ".join(f"'{kind.value}'" for kind in sorted(TASK_NOTICES))
NOTICE_WORDS = {Kind.TASK_ASSIGNED: "assigned to you", Kind.TASK_REASSIGNED: "given to someone else",
          Kind.REVIEW_REQUESTED: "needs your review", Kind.SENT_BACK: "came back from review",
          Kind.TASK_COMMENT: "has a new comment", Kind.TASK_CANCELLED: "was cancelled",
          Kind.TASK_REOPENED: "was reopened"}


def waiting_for(query: Query, agent: str) -> dict:
    """{"unread": {sender: count}, "notices": [[kind, task id], ...], "review": [task ids], "ids": [message ids]}
    for `agent`: `ids` are the unread messages the summary speaks of (a hook that shows it surfaces them)."""
    rows = query(
        "SELECT m.id, m.sender, m.kind, t.id AS task FROM delivery d JOIN message m ON m.id = d.message_id"
        " LEFT JOIN task t ON t.thread_id = m.thread_id AND m.kind IN (" + _NOTICE_KINDS + ")"
        f" WHERE d.agent = ? AND {UNREAD} ORDER BY m.id", (agent,))
    unread: dict[str, int] = {}
    notices: list[list] = []
    for row in rows:
        if row[2] in TASK_NOTICES and row[3] is not None:
            notices.append([row[2], row[3]])
        else:
            unread[row[1]] = unread.get(row[1], 0) + 1
    review = query(f"SELECT id FROM task WHERE reviewer = ? AND status = '{S.AWAITING_REVIEW}' ORDER BY id", (agent,))
    return {"unread": unread, "notices": notices, "review": [row[0] for row in review],
            "ids": [row[0] for row in rows]}


def in_words(waiting: dict) -> str:
    """'2 unread from bob, 1 from carol; task 4 assigned to you; task 7 waits for your review', or '' when nothing
    waits."""
    parts = []
    unread = list(waiting["unread"].items())
    if unread:
        (who, n), *rest = unread
        parts.append(", ".join([f"{n} unread from {who}", *(f"{count} from {sender}" for sender, count in rest)]))
    told = set()
    for kind, task in waiting.get("notices", ()):
        if (kind, task) not in told and not (kind == Kind.REVIEW_REQUESTED and task in waiting["review"]):
            told.add((kind, task))
            parts.append(f"task {task} {NOTICE_WORDS.get(kind, kind)}")
    review = waiting["review"]
    if review:
        several = len(review) > 1
        parts.append(f"task{'s' if several else ''} {', '.join(map(str, review))} wait{'' if several else 's'} "
                     "for your review")
    return "; ".join(parts)
