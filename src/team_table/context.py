"""Shared context: a key-value board every member reads; 'owner/...' keys belong to that member."""

from __future__ import annotations

import unicodedata

from team_table import audit, limits
from team_table.errors import Forbidden, Invalid, NotFound
from team_table.hub import Hub
from team_table.models import Caller, ContextEntry
from team_table.names import is_valid_name


def owner_of(key: str) -> str | None:
    """The member a key belongs to: the part before the first '/', when that is a member name."""
    head, slash, _ = key.partition("/")
    return head if slash and is_valid_name(head) else None


# Control, format (zero-width, bidi), separator and private-use characters: invisible, or not what they look like.
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def check_key(key: str) -> str:
    """A key that reads as what it is: no hidden characters, no look-alike forms, no path tricks (so that a key
    which looks like 'p2/...' is p2's)."""
    problem = None
    if key != key.strip():
        problem = "it starts or ends with a space"
    elif any(unicodedata.category(c) in _HIDDEN or (unicodedata.category(c) == "Zs" and c != " ") for c in key):
        problem = "it holds an invisible or control character"
    elif unicodedata.normalize("NFKC", key) != key:
        problem = f"it holds look-alike characters (its plain form is {unicodedata.normalize('NFKC', key)!r})"
    elif any(part in ("", ".", "..") or part != part.strip() for part in key.split("/")):
        problem = "it has an empty, '.' or '..' part, or a part with spaces at its ends"
    if problem:
        raise Invalid(f"The context key {key!r} is refused: {problem}. Use plain parts separated by '/', "
                      "e.g. 'yourname/notes' or 'release/plan'.")
    return key


def share(hub: Hub, caller: Caller, key: str, value: str) -> ContextEntry:
    sizes = hub.team.limits.sizes
    limits.text(key, sizes.context_key, "context key")
    check_key(key)
    limits.text(value, sizes.context_value, "context value", required=False)
    owner = owner_of(key)
    if owner is not None and owner != caller.name and not caller.may("write_others_context"):
        raise Forbidden(
            f"The key {key!r} belongs to {owner} (keys '{owner}/...' are theirs, registered or not); "
            f"write under '{caller.name}/...' or a key without a '/'."
        )
    if owner != caller.name:  # one's own keys are always one's own to write
        caller.require("write_context", key)
    now = hub.now()
    with hub.store.write() as conn:
        limits.take(conn, hub, caller, "share_context")
        before = conn.execute("SELECT set_by FROM context_entry WHERE key = ?", (key,)).fetchone()
        conn.execute(
            "INSERT INTO context_entry (key, value, set_by, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value, set_by = excluded.set_by,"
            " updated_at = excluded.updated_at",
            (key, value, caller.name, now),
        )
        audit.record(conn, now, caller.name, "share_context", "context", key,
                     {"previous_set_by": before["set_by"]} if before else None)
    return ContextEntry(key=key, value=value, set_by=caller.name, updated_at=now)


def read(hub: Hub, caller: Caller, key: str = "") -> ContextEntry | list[ContextEntry]:
    """One entry, or all of them without a key; every member reads the whole board."""
    return get(hub, key) if key else entries(hub)


def get(hub: Hub, key: str) -> ContextEntry:
    rows = hub.store.query("SELECT * FROM context_entry WHERE key = ?", (key,))
    if not rows:
        raise NotFound(f"No shared context under {key!r}; call get_shared_context without a key to list all.")
    return ContextEntry(**dict(rows[0]))


def entries(hub: Hub) -> list[ContextEntry]:
    return [ContextEntry(**dict(r)) for r in hub.store.query("SELECT * FROM context_entry ORDER BY key")]
