"""Digests: for each target of team.yaml's `notifications:`, the items since its place in the event log, sent as
one message once things are quiet (or the oldest item waited long enough), so a burst of fifty escalations is one
digest. A target that fails is retried with a doubling pause (logged, counted); after MAX_TRIES the digest is
given up (logged as an error) so one dead target never holds the others. The place of each target is kept in the
database: a hub that restarts, or a replica that takes the job over, goes on where it was.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from team_table import events
from team_table.clock import iso, parse_iso
from team_table.config.notifications import NotificationTarget
from team_table.hub import Hub
from team_table.notify import items

log = logging.getLogger("team_table.notify")

MAX_TRIES = 8
LONGEST_PAUSE = 600.0
READ = 2000  # events read per look
SHOWN = 20  # items written out in one digest (the rest are counted)
FRESH = 300.0  # seconds: what a new target is still told about
Send = Callable[[list[str], str, str], str | None]  # urls, title, body -> None when sent, else what went wrong


def target_key(target: NotificationTarget) -> str:
    return hashlib.sha256(repr((target.urls, target.on)).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Outcome:
    target: str
    result: str  # sent, failed, dropped, waiting
    items: int


def step(hub: Hub, send: Send, base_url: str, environ: Mapping[str, str]) -> list[Outcome]:
    """One look for every target: send what is due. Returns what happened (nothing when nothing was due)."""
    done = []
    for target in hub.team.notifications:
        outcome = _one(hub, target, send, base_url, environ)
        if outcome is not None:
            done.append(outcome)
    return done


def _state(hub: Hub, key: str) -> dict:
    rows = hub.store.query("SELECT * FROM notify_state WHERE target = ?", (key,))
    if rows:
        return dict(rows[0])
    # A new target starts with what happened in the last few minutes (a hub starting, or a target just declared,
    # loses nothing that is still news), never with the whole log.
    since = iso(hub.clock.now() - timedelta(seconds=FRESH))
    with hub.store.write() as conn:
        start = conn.execute("SELECT COALESCE(MAX(id), 0) FROM event WHERE at < ?", (since,)).fetchone()[0]
        conn.execute("INSERT INTO notify_state (target, cursor) VALUES (?, ?) ON CONFLICT (target) DO NOTHING",
                     (key, start))
    return dict(hub.store.query("SELECT * FROM notify_state WHERE target = ?", (key,))[0])


def _one(hub: Hub, target: NotificationTarget, send: Send, base_url: str,
         environ: Mapping[str, str]) -> Outcome | None:
    key = target_key(target)
    state = _state(hub, key)
    now_at = hub.clock.now()
    if state["next_try_at"] and parse_iso(state["next_try_at"]) > now_at:
        return None  # pausing after a failure
    read = events.tail(hub.store, state["cursor"], READ)
    if not read:
        return None
    batch = [e for e in read if e.kind in items.EVENT_KINDS]
    found = [i for i in items.of(hub, batch) if i.kind in target.on]
    if not found:  # nothing for this target in what happened: its place moves on
        _move(hub, key, read[-1].id, state["failures"], None, state["last_error"])
        return None
    times = [parse_iso(r["at"]) for r in hub.store.query(
        "SELECT at FROM event WHERE id IN (?, ?)", (batch[0].id, batch[-1].id))]
    oldest, newest = min(times), max(times)
    quiet = (now_at - newest).total_seconds() >= target.quiet_seconds
    waited = (now_at - oldest).total_seconds() >= target.max_wait_seconds
    if not quiet and not waited:
        return Outcome(key, "waiting", len(found))
    title, body = digest(found, base_url)
    problem = send([_expand(url, environ) for url in target.urls], title, body)
    if problem is None:
        _move(hub, key, read[-1].id, 0, None, None)
        log.info("notification sent to target %s: %d item(s)", key, len(found))
        return Outcome(key, "sent", len(found))
    tries = state["failures"] + 1
    if tries >= MAX_TRIES:
        _move(hub, key, read[-1].id, 0, None, problem)
        log.error("notification target %s failed %d times: a digest of %d item(s) was given up (%s)", key, tries,
                  len(found), problem)
        return Outcome(key, "dropped", len(found))
    pause = min(LONGEST_PAUSE, target.retry_seconds * 2 ** (tries - 1))
    _move(hub, key, state["cursor"], tries, iso(now_at + timedelta(seconds=pause)), problem)
    log.warning("notification target %s failed (try %d, again in %.0f s): %s", key, tries, pause, problem)
    return Outcome(key, "failed", len(found))


def _move(hub: Hub, key: str, cursor: int, failures: int, next_try_at: str | None, error: str | None) -> None:
    with hub.store.write() as conn:
        conn.execute("UPDATE notify_state SET cursor = ?, failures = ?, next_try_at = ?, last_error = ?"
                     " WHERE target = ?", (cursor, failures, next_try_at, error, key))


def digest(found: list[items.Item], base_url: str) -> tuple[str, str]:
    """The title and body of one digest: what needs the people, each with its link."""
    counts: dict[str, int] = {}
    for item in found:
        counts[item.kind] = counts.get(item.kind, 0) + 1
    words = {"escalation": "escalation", "question": "question", "question_deadline": "question past its deadline",
             "workflow_failed": "failed workflow", "task_blocked": "blocked task"}
    title = "team-table: " + ", ".join(f"{n} {words[k]}{'s' if n > 1 and not words[k].endswith('deadline') else ''}"
                                       for k, n in counts.items())
    lines = [f"- {item.line}\n  {base_url}{item.path}" for item in found[:SHOWN]]
    if len(found) > SHOWN:
        lines.append(f"… and {len(found) - SHOWN} more: {base_url}/ui")
    return title, "\n".join(lines)


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(url: str, environ: Mapping[str, str]) -> str:
    """An Apprise URL with ${NAME} taken from the hub's environment (secrets never sit in team.yaml)."""
    return _VARIABLE.sub(lambda m: environ.get(m.group(1), ""), url)
