"""Leases that speak: a reservation is renewed while its holder is active, and one whose holder is idle is never
let go without a word: the holder is told before it lapses and when it lapses, each by a message written in the
transaction of the change. Watches past their time go too.

The hub's `reservations` job runs `sweep` every reservations.check_every_seconds, in one hub process at a time
(the job's lease). "Active" is the table's presence: a call or heartbeat within presence.idle_after_seconds. A
reservation is renewed (to a whole ttl again) once less than half of its ttl is left; its holder is warned once
less than warn_before_seconds (at most half the ttl) is left and it was not renewed. Reads come first: a quiet
table is not written to.
"""

from __future__ import annotations

from datetime import timedelta

from team_table import audit, presence, reservations
from team_table.clock import iso
from team_table.delivery import deliver
from team_table.hub import Hub
from team_table.message_kinds import Kind
from team_table.names import HUB_SENDER
from team_table.store import Tx, placeholders


def any_held(hub: Hub) -> bool:
    """Is there a reservation or a watch at all? One read: without any, the job has nothing to look after."""
    return bool(hub.store.query("SELECT 1 FROM reservation UNION ALL SELECT 1 FROM reservation_watch LIMIT 1"))


def sweep(hub: Hub) -> dict[str, int]:
    """Renew, warn, lapse; returns how many of each (empty when there was nothing to do)."""
    store = hub.store
    if not any_held(hub):
        return {}
    presence.flush(hub)
    now, clock = hub.now(), reservations.epoch(hub)
    active_since = iso(hub.clock.now() - timedelta(seconds=hub.team.presence.idle_after_seconds))
    warn = hub.team.reservations.warn_before_seconds
    renew = [r[0] for r in store.query(
        f"SELECT r.id FROM reservation r JOIN member m ON m.name = r.agent WHERE r.expires > ? AND m.status = 'active'"
        f" AND r.expires - ? < r.ttl_seconds / 2.0 AND {presence.last_sign(hub, 'm')} > ?",
        (clock, clock, active_since))]
    renewing = set(renew)
    warned = [r[0] for r in store.query(
        "SELECT id FROM reservation WHERE warned = 0 AND expires > ? AND expires - ? <= CASE WHEN ttl_seconds / 2.0"
        " < ? THEN ttl_seconds / 2.0 ELSE ? END", (clock, clock, warn, warn)) if r[0] not in renewing]
    lapsed = store.query("SELECT 1 FROM reservation WHERE expires <= ? LIMIT 1", (clock,))
    stale = store.query("SELECT 1 FROM reservation_watch WHERE expires <= ? LIMIT 1", (clock,))
    if not (renew or warned or lapsed or stale):
        return {}
    with store.write() as conn:
        conn.lock(reservations.LOCK)
        done = {"renewed": _renew(conn, renew, clock), "warned": _warn(conn, warned, clock, now),
                "lapsed": _lapse(conn, hub, clock, now)}
        conn.execute("DELETE FROM reservation_watch WHERE expires <= ?", (clock,))
    return {key: count for key, count in done.items() if count}


def _renew(conn: Tx, ids: list[int], clock: float) -> int:
    if not ids:
        return 0
    return conn.execute(f"UPDATE reservation SET expires = ? + ttl_seconds, warned = 0 WHERE id IN"
                        f" ({placeholders(ids)}) AND expires > ?", (clock, *ids, clock)).rowcount


def _warn(conn: Tx, ids: list[int], clock: float, now: str) -> int:
    count = 0
    for reservation_id in ids:
        row = conn.execute("UPDATE reservation SET warned = 1 WHERE id = ? AND warned = 0 AND expires > ?"
                           " RETURNING *", (reservation_id, clock)).fetchone()
        if row is None:
            continue
        task = f" (task {row['task_id']})" if row["task_id"] else ""
        deliver(conn, now, HUB_SENDER, row["agent"],
                f"[AUTO] Your reservation of {row['pattern']}{task} lapses at {reservations.at(row['expires'])}, in "
                f"{max(0, round(row['expires'] - clock))} s: you have been idle. Any call to the table renews it while "
                "you are active; release_paths if you are done with it.", kind=Kind.RESERVATION_LAPSING.value)
        count += 1
    return count


def _lapse(conn: Tx, hub: Hub, clock: float, now: str) -> int:
    gone = conn.execute("DELETE FROM reservation WHERE expires <= ? RETURNING *", (clock,)).fetchall()
    for row in gone:
        audit.record(conn, now, HUB_SENDER, "reservation_lapsed", "reservation", row["id"],
                     {"agent": row["agent"], "pattern": row["pattern"], "task_id": row["task_id"]})
    reservations.free(conn, hub, gone, now, by=HUB_SENDER, change="lapsed",
                      because="it lapsed while you were idle; reserve_paths to take it again if it is still free")
    return len(gone)
