"""Limits on what agents send: sizes (checked before anything is touched) and the write rate (kept in the DB)."""

from __future__ import annotations

import json

from team_table.config.limits import FAMILY_OF, WRITES, RateLimit, Sizes
from team_table.errors import Invalid, RateLimited
from team_table.hub import Hub
from team_table.models import Caller
from team_table.names import HUB_SENDER
from team_table.store import Tx

MAX_INT = 2**63 - 1  # the largest id the database holds; anything larger is refused as invalid, not crashed on


def text(value: str, limit: int, what: str, *, required: bool = True) -> str:
    """Refuse a blank (when required) or over-long text."""
    if not isinstance(value, str):
        raise Invalid(f"The {what} must be text.")
    if required and not value.strip():
        raise Invalid(f"The {what} is empty; write something.")
    if len(value) > limit:
        raise Invalid(f"The {what} is {len(value)} characters long; at most {limit} are allowed.")
    return value


def whole(raw: str, what: str, *, least: int = 1) -> int:
    """A whole number from outside the tools (a URL, a header, a form field): ASCII digits only (not '²' or '٣'),
    from `least` to the largest id the database holds; anything else is refused as invalid, never crashed on."""
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= len(str(MAX_INT))) \
            or not least <= int(raw) <= MAX_INT:
        shown = raw[:20] + ("..." if len(raw) > 20 else "") if isinstance(raw, str) else raw
        raise Invalid(f"{what} must be a whole number from {least} to {MAX_INT}; got {shown!r}.")
    return int(raw)


CAPABILITIES_TEXT = 8192  # characters of a capabilities argument given as text, read before it is parsed


def capabilities(raw: str | list, sizes: Sizes) -> list[str]:
    """Parse the capabilities argument: a JSON array of short strings."""
    if isinstance(raw, list):
        caps = raw
    else:
        if isinstance(raw, str) and len(raw) > CAPABILITIES_TEXT:
            raise Invalid(f"capabilities is {len(raw)} characters long; a JSON array of at most {sizes.capabilities} "
                          f"short strings is far shorter (at most {CAPABILITIES_TEXT}).")
        try:
            caps = json.loads(raw or "[]")
        except (ValueError, TypeError, RecursionError):
            raise Invalid(f'capabilities must be a JSON array of strings, like \'["python", "review"]\'; '
                          f"got {str(raw)[:40]!r}.") from None
    if not isinstance(caps, list):
        raise Invalid('capabilities must be a JSON array of strings, like \'["python", "review"]\'.')
    if len(caps) > sizes.capabilities:
        raise Invalid(f"{len(caps)} capabilities given; at most {sizes.capabilities} are allowed.")
    for cap in caps:
        if not isinstance(cap, str) or not cap.strip():
            raise Invalid(f"Each capability must be non-empty text; got {cap!r}.")
        if len(cap) > sizes.capability:
            raise Invalid(f"The capability {cap[:20]!r}... is too long; at most {sizes.capability} characters.")
    return caps


def take(conn: Tx, hub: Hub, caller: Caller, tool: str) -> None:
    """Count one write by `caller`, or refuse if a window it counts against is full. Call inside the write
    transaction: the counts live in the database, so every hub process on it shares one limit."""
    if caller.name == HUB_SENDER:  # the hub's own actions (workflows, jobs) are not an agent's writes
        return
    conn.lock(f"rate:{caller.name}")  # the count and the new row are one step across hub processes
    now = hub.clock.now().timestamp()
    for bucket, rate in hub.team.limits.rates_for(caller.name, caller.roles, FAMILY_OF.get(tool)):
        _count(conn, caller.name, bucket, rate, now)


def _count(conn: Tx, actor: str, bucket: str, rate: RateLimit, now: float) -> None:
    start = now - rate.window_seconds
    conn.execute("DELETE FROM rate_event WHERE actor = ? AND family = ? AND at <= ?", (actor, bucket, start))
    row = conn.execute(
        "SELECT COUNT(*), MIN(at) FROM rate_event WHERE actor = ? AND family = ?", (actor, bucket)
    ).fetchone()
    if row[0] >= rate.writes:
        retry = max(0.0, row[1] + rate.window_seconds - now)
        scope = "writes" if bucket == WRITES else f"{bucket} writes"
        raise RateLimited(
            f"Rate limit reached: {actor} made {rate.writes} {scope} in the last {rate.window_seconds:g} seconds. "
            f"Nothing was changed; try again in {retry:.0f} s.",
            retry_after=retry,
        )
    conn.execute("INSERT INTO rate_event (actor, family, at) VALUES (?, ?, ?)", (actor, bucket, now))
