"""Where a message stands with one reader (its delivery row), as SQL conditions: the one definition of each.
The inbox, waits, wakes, hooks, catch_up, auto-replies, the runner and the dashboard all read them from here
(standard library only: the client hooks read them too).

    unread     not read, archived or deleted by the reader
    in inbox   not archived or deleted (read or not)
    kept       not deleted (archived or not)
    unpushed   unread, and no way has pushed it to the reader yet (what a wake may claim)

`alias` is the delivery table's alias in the query ("d" unless said; "" for the bare table of an UPDATE).
"""

from __future__ import annotations


def _columns(alias: str) -> str:
    return f"{alias}." if alias else ""


def kept(alias: str = "d") -> str:
    return f"{_columns(alias)}deleted_at IS NULL"


def in_inbox(alias: str = "d") -> str:
    return f"{_columns(alias)}archived_at IS NULL AND {kept(alias)}"


def unread(alias: str = "d") -> str:
    return f"{_columns(alias)}read_at IS NULL AND {in_inbox(alias)}"


def unpushed(alias: str = "d") -> str:
    return f"{unread(alias)} AND {_columns(alias)}pushed_at IS NULL"


UNREAD = unread()


def seen_by(message: str = "m") -> str:
    """A message a member may see: one it sent, or one delivered to it and not deleted (parameters: the member,
    twice)."""
    return (f"({message}.sender = ? OR EXISTS (SELECT 1 FROM delivery v WHERE v.message_id = {message}.id"
            f" AND v.agent = ? AND {kept('v')}))")
