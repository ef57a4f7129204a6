"""What waits for an agent right now, in a few words: unread messages by sender, tasks awaiting its review.

Read only, through any `query(sql, params)`: the hub's store for its HTTP route, a bare read-only connection for
the client hooks (which must answer within a fraction of a second, so this module imports nothing heavy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Query = Callable[[str, Sequence[Any]], list]


def waiting_for(query: Query, agent: str) -> dict:
    """{"unread": {sender: count}, "review": [task ids]} for `agent`."""
    senders = query(
        "SELECT m.sender, COUNT(*) AS n FROM delivery d JOIN message m ON m.id = d.message_id WHERE d.agent = ?"
        " AND d.read_at IS NULL AND d.archived_at IS NULL AND d.deleted_at IS NULL GROUP BY m.sender"
        " ORDER BY MIN(m.id)", (agent,))
    review = query("SELECT id FROM task WHERE reviewer = ? AND status = 'awaiting_review' ORDER BY id", (agent,))
    return {"unread": {row[0]: row[1] for row in senders}, "review": [row[0] for row in review]}


def in_words(waiting: dict) -> str:
    """'2 unread from bob, 1 from carol; task 7 waits for your review', or '' when nothing waits."""
    parts = []
    unread = list(waiting["unread"].items())
    if unread:
        (who, n), *rest = unread
        parts.append(", ".join([f"{n} unread from {who}", *(f"{count} from {sender}" for sender, count in rest)]))
    review = waiting["review"]
    if review:
        several = len(review) > 1
        parts.append(f"task{'s' if several else ''} {', '.join(map(str, review))} wait{'' if several else 's'} "
                     "for your review")
    return "; ".join(parts)
