"""Path reservations: which member may edit which files of the repository, why, for which task, until when.

A reservation is a gitignore-style pattern (see overlap.py) held by one member, exclusively (editing) or shared
(depending on it), until it lapses; the hub renews it while its holder is active (reservation_leases.py). A
request is granted whole or not at all: an exclusive one collides with any overlapping reservation of another
member, a shared one with their exclusive ones.

Conflicts are decided in the database as claims are. Every change to reservations first takes the transaction lock
`reservations` (PostgreSQL: an advisory transaction lock on a key derived from that name; SQLite: BEGIN IMMEDIATE
serializes every write already), then looks and writes: of two overlapping exclusive requests, on any number of
hub processes or replicas, one is granted. Where a change also touches a task, the task's row is written first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from team_table import audit, events, limits, overlap
from team_table.clock import iso
from team_table.delivery import deliver
from team_table.errors import Conflict, HeldPaths, Invalid, NotFound
from team_table.event_kinds import K, Reservations
from team_table.hub import Hub
from team_table.message_kinds import Kind
from team_table.models import Caller, Holder, Reservation
from team_table.names import HUB_SENDER, check_name
from team_table.store import Tx, placeholders
from team_table.task_states import FINISHED

LOCK = "reservations"
MAX_PER_CALL = 50  # patterns in one call
MAX_HELD = 500  # live reservations of one member
MAX_WATCHES = 100  # patterns one member waits for at once
REASON = 500  # characters of a reason
SHOWN = 1000  # reservations list_reservations answers at most
HOLDERS = 50  # holders a refusal names for one pattern (one is enough to refuse)
Query = Callable[[str, Sequence[Any]], list]


def patterns(paths: Any, *, allow_empty: bool = False) -> list[str]:
    """The patterns of a call, checked (refused `invalid`, naming the first bad one), without repeats."""
    if not isinstance(paths, list):
        raise Invalid("paths must be a list of gitignore-style patterns, e.g. [\"src/api/**\", \"README.md\"].")
    if len(paths) > MAX_PER_CALL:
        raise Invalid(f"{len(paths)} patterns given; at most {MAX_PER_CALL} per call. Nothing was changed.")
    if not paths and not allow_empty:
        raise Invalid("Give at least one pattern, e.g. [\"src/api/**\"].")
    checked: list[str] = []
    for value in paths:
        try:
            pattern = overlap.check(value)
        except ValueError as exc:
            shown = repr(value)[:60] if isinstance(value, str) else type(value).__name__
            raise Invalid(f"The pattern {shown} is refused: {exc}. Nothing was changed.") from None
        if pattern not in checked:
            checked.append(pattern)
    return checked


def ttl(hub: Hub, seconds: Any) -> int:
    bound = hub.team.reservations.max_ttl_seconds
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= bound:
        raise Invalid(f"ttl_seconds must be a whole number from 1 to {bound} (team.yaml reservations.max_ttl_seconds)"
                      f"; got {seconds!r}.")
    return seconds


def epoch(hub: Hub) -> float:
    return hub.clock.now().timestamp()


def at(seconds: float) -> str:
    return iso(datetime.fromtimestamp(seconds, UTC))


def reading(conn: Tx) -> Query:
    return lambda sql, params: conn.execute(sql, params).fetchall()


def near(anchor: str) -> tuple[str, list]:
    """SQL, and its parameters, for the rows whose pattern may meet a pattern anchored at `anchor`: those anchored
    on the way there, and those anchored under it (an index range: 'src/' < anchor < 'src0')."""
    way, way_params = _on_the_way(anchor)
    under, under_params = _under(anchor)
    return f"({way} OR ({under}))", [*way_params, *under_params]


def _on_the_way(anchor: str) -> tuple[str, list]:
    ups = overlap.anchors_within(anchor) if anchor else [""]
    return f"anchor IN ({placeholders(ups)})", ups


def _under(anchor: str) -> tuple[str, list]:
    return ("anchor > ? AND anchor < ?", [anchor + "/", anchor + "0"]) if anchor else ("anchor > ?", [""])


def record(row) -> Reservation:
    return Reservation(id=row["id"], agent=row["agent"], pattern=row["pattern"], exclusive=bool(row["exclusive"]),
                       reason=row["reason"], task_id=row["task_id"], created_at=row["created_at"],
                       expires_at=at(row["expires"]))


def holder(wanted: str, row) -> Holder:
    return Holder(wanted=wanted, agent=row["agent"], pattern=row["pattern"], exclusive=bool(row["exclusive"]),
                  task_id=row["task_id"], expires_at=at(row["expires"]), reason=row["reason"])


_HOLDING = "SELECT id, agent, pattern, exclusive, task_id, expires, reason FROM reservation"


def in_the_way(query: Query, agent: str | None, pattern: str, exclusive: bool, now: float,
               limit: int = HOLDERS) -> list[Holder]:
    """The live reservations of others that a request for `pattern` collides with (the first `limit`). Candidates
    come from the anchors; a request for everything under its anchor ('src/**') overlaps every row anchored under it,
    so of those the database hands over only the first `limit`."""
    model = overlap.shape(pattern)
    live = "agent IS DISTINCT FROM ? AND expires > ?" + ("" if exclusive else " AND exclusive = 1")
    way, way_params = _on_the_way(model.anchor)
    under, under_params = _under(model.anchor)
    bound = limit if overlap.everything_under(model) else 10**9
    rows = query(f"{_HOLDING} WHERE {live} AND {way} UNION ALL SELECT * FROM ({_HOLDING} WHERE {live} AND {under}"
                 " ORDER BY id LIMIT ?) AS below", [agent, now, *way_params, agent, now, *under_params, bound])
    found: list[Holder] = []
    for row in sorted(rows, key=lambda row: row["id"]):
        if overlap.overlaps(pattern, row["pattern"]):
            found.append(holder(pattern, row))
            if len(found) >= limit:
                break
    return found


def described(holders: list[Holder]) -> str:
    """'src/api/** overlaps src/** held exclusively by alice (task 7, until ...: why)', one per holder."""
    parts = []
    for h in holders[:10]:
        task = f"task {h.task_id}, " if h.task_id else ""
        why = f": {h.reason[:80]}" if h.reason else ""
        kind = "exclusively" if h.exclusive else "shared"
        parts.append(f"{h.wanted} overlaps {h.pattern} held {kind} by {h.agent} ({task}until {h.expires_at}{why})")
    more = f"; and {len(holders) - 10} more" if len(holders) > 10 else ""
    return "; ".join(parts) + more


def grant(conn: Tx, hub: Hub, agent: str, wanted: list[str], *, exclusive: bool, seconds: int, reason: str,
          task_id: int | None, now: str, partial: bool = False) -> tuple[list[Reservation], list[Holder]]:
    """Reserve `wanted` for `agent`: all of it, or (refused `conflict`) nothing; with `partial`, what is free, and
    the holders of the rest. Call inside the write transaction."""
    conn.lock(LOCK)
    clock = epoch(hub)
    blocked = {pattern: in_the_way(reading(conn), agent, pattern, exclusive, clock) for pattern in wanted}
    holders = [h for found in blocked.values() for h in found]
    if holders and not partial:
        raise HeldPaths(f"Not reserved: {described(holders)}. Nothing was reserved. Ask the holder (send_message), "
                        "or watch_paths to be told when it frees.", holders)
    free = [pattern for pattern in wanted if not blocked[pattern]]
    if free:
        _within_bound(conn, agent, free, clock)
    granted = [record(conn.execute(
        "INSERT INTO reservation (agent, pattern, anchor, exclusive, reason, task_id, ttl_seconds, created_at,"
        " expires, warned) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (agent, pattern) DO UPDATE SET"
        " exclusive = excluded.exclusive, ttl_seconds = excluded.ttl_seconds, expires = excluded.expires, warned = 0,"
        " reason = CASE WHEN excluded.reason = '' THEN reservation.reason ELSE excluded.reason END,"
        " task_id = COALESCE(excluded.task_id, reservation.task_id) RETURNING *",
        (agent, pattern, overlap.shape(pattern).anchor, int(exclusive), reason, task_id, seconds, now,
         clock + seconds)).fetchone()) for pattern in free]
    if granted:
        events.emit(conn, now, K.RESERVATIONS, Reservations(agent=agent, change="reserved",
                                                            patterns=[r.pattern for r in granted]), exclude=agent)
    return granted, holders


def _within_bound(conn: Tx, agent: str, adding: list[str], now: float) -> None:
    held = conn.execute(f"SELECT COUNT(*) FROM reservation WHERE agent = ? AND expires > ? AND pattern NOT IN"
                        f" ({placeholders(adding)})", (agent, now, *adding)).fetchone()[0]
    if held + len(adding) > MAX_HELD:
        raise Invalid(f"{agent} holds {held} reservations; at most {MAX_HELD} at once. Release some "
                      "(release_paths) first. Nothing was reserved.")


def free(conn: Tx, hub: Hub, rows: list, now: str, *, by: str, change: str, because: str = "") -> None:
    """After reservations went (`change`: released, lapsed, broken, freed): their holders told why (`because`),
    unless they did it themselves; whoever waits for what they covered told when nothing else holds it. Inside the
    transaction."""
    if not rows:
        return
    by_holder: dict[str, list] = {}
    for row in rows:
        by_holder.setdefault(row["agent"], []).append(row)
    for agent, theirs in by_holder.items():
        events.emit(conn, now, K.RESERVATIONS, Reservations(agent=agent, change=change,
                                                            patterns=[r["pattern"] for r in theirs]), exclude=by)
        if agent != by:
            several = len(theirs) > 1
            listed = ", ".join(r["pattern"] for r in theirs[:10]) + (" ..." if len(theirs) > 10 else "")
            deliver(conn, now, HUB_SENDER, agent, f"[AUTO] Your reservation{'s' if several else ''} of {listed} "
                                                  f"ended: {because}.", kind=Kind.RESERVATION_ENDED.value)
    _tell_watchers(conn, hub, rows, now)


def _tell_watchers(conn: Tx, hub: Hub, gone: list, now: str) -> None:
    clock = epoch(hub)
    told: set[int] = set()
    for row in gone:
        where, params = near(row["anchor"])
        for watch in conn.execute(f"SELECT * FROM reservation_watch WHERE expires > ? AND {where} ORDER BY id",
                                  (clock, *params)).fetchall():
            if watch["id"] in told or not overlap.overlaps(watch["pattern"], row["pattern"]):
                continue
            if in_the_way(reading(conn), watch["agent"], watch["pattern"], bool(watch["exclusive"]), clock):
                continue
            told.add(watch["id"])
            if conn.execute("DELETE FROM reservation_watch WHERE id = ?", (watch["id"],)).rowcount:
                deliver(conn, now, HUB_SENDER, watch["agent"],
                        f"[AUTO] {watch['pattern']} is free now: {row['agent']}'s reservation of {row['pattern']} "
                        "ended. reserve_paths to take it.", kind=Kind.PATH_FREE.value)


def reserve(hub: Hub, caller: Caller, paths: Any, exclusive: bool = True, ttl_seconds: Any = 3600,
            reason: str = "", task_id: int | None = None) -> dict:
    """Reserve patterns for the caller, all or nothing. Renewed while the caller is active; reserving a pattern
    the caller holds again renews it (and may change its kind, time, reason or task)."""
    caller.require("reserve_paths")
    wanted = patterns(paths)
    seconds = ttl(hub, ttl_seconds)
    limits.text(reason, REASON, "reason", required=False)
    now = hub.now()
    with hub.store.write() as conn:
        if task_id is not None:
            row = conn.execute("SELECT status FROM task WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                raise NotFound(f"No task {task_id}; list_tasks shows the board.")
            if row["status"] in FINISHED:
                raise Conflict(f"Task {task_id} is {row['status']}: its reservations would end at once. Reserve "
                               "without task_id, or for an open task.")
        granted, _ = grant(conn, hub, caller.name, wanted, exclusive=bool(exclusive), seconds=seconds,
                           reason=reason, task_id=task_id, now=now)
        audit.record(conn, now, caller.name, "reserve_paths", "reservation", None,
                     {"paths": wanted, "exclusive": bool(exclusive), "ttl_seconds": seconds, "task_id": task_id})
        return {"reserved": granted}


def release(hub: Hub, caller: Caller, paths: Any = None) -> dict:
    """Give back the caller's own reservations of these patterns (as reserved), or all of them when none given."""
    wanted = patterns(paths if paths is not None else [], allow_empty=True)
    now = hub.now()
    with hub.store.write() as conn:
        conn.lock(LOCK)
        sql, params = "DELETE FROM reservation WHERE agent = ?", [caller.name]
        if wanted:
            sql, params = sql + f" AND pattern IN ({placeholders(wanted)})", params + wanted
        gone = conn.execute(sql + " RETURNING *", params).fetchall()
        if gone:
            audit.record(conn, now, caller.name, "release_paths", "reservation", None,
                         {"paths": [r["pattern"] for r in gone]})
            free(conn, hub, gone, now, by=caller.name, change="released")
        released = [r["pattern"] for r in gone]
        return {"released": released, "not_held": [p for p in wanted if p not in released]}


def listing(hub: Hub, agent: str = "", path: str = "", *, caller: Caller | None = None) -> list[Reservation]:
    """Live reservations, oldest first: every member sees all of them. `path`: only those overlapping it."""
    where = ["expires > ?"]
    params: list[Any] = [epoch(hub)]
    if agent:
        check_name(agent, "agent")
        where.append("agent = ?")
        params.append(agent)
    wanted = patterns([path])[0] if path else None
    if wanted is not None:
        clause, more = near(overlap.shape(wanted).anchor)
        where.append(clause)
        params += more
    rows = hub.store.query(f"SELECT * FROM reservation WHERE {' AND '.join(where)} ORDER BY id", params)
    found = [record(r) for r in rows if wanted is None or overlap.overlaps(wanted, r["pattern"])]
    return found[:SHOWN]


def break_one(hub: Hub, caller: Caller, reservation_id: int, reason: str) -> Reservation:
    """A lead ends another member's reservation, with a reason: audited, and its holder told."""
    caller.require("break_reservations")
    limits.text(reason, REASON, "reason")
    now = hub.now()
    with hub.store.write() as conn:
        conn.lock(LOCK)
        row = conn.execute("DELETE FROM reservation WHERE id = ? RETURNING *", (reservation_id,)).fetchone()
        if row is None:
            raise NotFound(f"No reservation {reservation_id}; list_reservations shows who holds what.")
        audit.record(conn, now, caller.name, "break_reservation", "reservation", reservation_id,
                     {"agent": row["agent"], "pattern": row["pattern"], "task_id": row["task_id"], "reason": reason})
        free(conn, hub, [row], now, by=caller.name, change="broken", because=f"{caller.name} broke it ({reason})")
        return record(row)


def watch(hub: Hub, caller: Caller, paths: Any, exclusive: bool = True) -> dict:
    """Be told (a message) when nothing of others' is in the way of reserving these patterns any more: exclusively
    (nobody else holds any of it) or shared (nobody else holds it exclusively). Free ones are answered at once."""
    caller.require("reserve_paths")
    wanted = patterns(paths)
    now, clock = hub.now(), epoch(hub)
    until = clock + hub.team.reservations.max_ttl_seconds
    with hub.store.write() as conn:
        conn.lock(LOCK)
        waiting, free_now = [], []
        for pattern in wanted:
            holders = in_the_way(reading(conn), caller.name, pattern, bool(exclusive), clock)
            if not holders:
                free_now.append(pattern)
                continue
            conn.execute("INSERT INTO reservation_watch (agent, pattern, anchor, exclusive, created_at, expires)"
                         " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (agent, pattern) DO UPDATE SET"
                         " exclusive = excluded.exclusive, expires = excluded.expires",
                         (caller.name, pattern, overlap.shape(pattern).anchor, int(bool(exclusive)), now, until))
            waiting.append({"pattern": pattern, "held_by": holders})
        count = conn.execute("SELECT COUNT(*) FROM reservation_watch WHERE agent = ? AND expires > ?",
                             (caller.name, clock)).fetchone()[0]
        if count > MAX_WATCHES:
            raise Invalid(f"{caller.name} would wait for {count} patterns; at most {MAX_WATCHES} at once.")
        return {"watching": waiting, "free": free_now, "until": at(until)}


def drop_all_of(conn: Tx, hub: Hub, agent: str, now: str, why: str) -> int:
    """End every reservation and watch of a member taken off the table (it left, or its tokens were revoked):
    whoever waits for what it held is told. Inside the transaction. Returns how many reservations ended."""
    if not conn.execute("SELECT 1 FROM reservation WHERE agent = ? UNION ALL SELECT 1 FROM reservation_watch"
                        " WHERE agent = ? LIMIT 1", (agent, agent)).fetchone():
        return 0
    conn.lock(LOCK)
    conn.execute("DELETE FROM reservation_watch WHERE agent = ?", (agent,))
    gone = conn.execute("DELETE FROM reservation WHERE agent = ? RETURNING *", (agent,)).fetchall()
    free(conn, hub, gone, now, by=agent, change="freed", because=why)
    return len(gone)
