"""Which hub process runs an agent: a lease row per agent, taken and renewed by plain conditional writes, so that of
several replicas on one database exactly one runs each agent, and another takes over once the holder stops renewing.

A replica holds an agent's lease while it runs the agent or backs off before running it again; it renews all its
leases with one statement, and gives one up when it is done with the agent.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from team_table.hub import Hub
from team_table.store import Tx

LEASE_SECONDS = 15.0  # an agent of a replica that died is taken over within this long
RENEW_EVERY = LEASE_SECONDS / 3


@dataclass(frozen=True)
class Owner:
    """This hub process, as the leases and the runs' records name it."""

    id: str
    host: str

    @classmethod
    def here(cls) -> Owner:
        host = socket.gethostname()
        return cls(f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}", host)


def take(conn: Tx, agent: str, owner: str, now: float, seconds: float = LEASE_SECONDS) -> bool:
    """Hold `agent` for `seconds` unless another live owner holds it. One conditional write: one winner."""
    return conn.execute(
        "INSERT INTO agent_lease (agent, owner, until) VALUES (?, ?, ?) ON CONFLICT(agent) DO UPDATE SET"
        " owner = excluded.owner, until = excluded.until WHERE agent_lease.owner = excluded.owner"
        " OR agent_lease.until < ?",
        (agent, owner, now + seconds, now),
    ).rowcount == 1


def renew(hub: Hub, owner: str, seconds: float = LEASE_SECONDS) -> set[str]:
    """Extend every lease `owner` still holds; returns the agents it holds (one it lost is not among them)."""
    now = hub.clock.now().timestamp()
    with hub.store.write() as conn:
        return {row[0] for row in conn.execute("UPDATE agent_lease SET until = ? WHERE owner = ? AND until >= ?"
                                               " RETURNING agent", (now + seconds, owner, now))}


def release(conn: Tx, agent: str, owner: str) -> None:
    conn.execute("DELETE FROM agent_lease WHERE agent = ? AND owner = ?", (agent, owner))


def release_all(hub: Hub, owner: str) -> None:
    with hub.store.write() as conn:
        conn.execute("DELETE FROM agent_lease WHERE owner = ?", (owner,))


def gone(owner: str, host: str) -> bool:
    """Is `owner` a hub process of this machine that no longer runs? (Its leases need not run out first.)"""
    owner_host, _, rest = owner.rpartition(":")[0].rpartition(":")
    if owner_host != host or not rest.isdigit():
        return False
    try:
        os.kill(int(rest), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def drop_gone(conn: Tx, host: str) -> list[str]:
    """Give up the leases of this machine's hub processes that no longer run; returns their agents."""
    dropped = []
    for agent, owner in conn.execute("SELECT agent, owner FROM agent_lease").fetchall():
        if gone(owner, host):
            conn.execute("DELETE FROM agent_lease WHERE agent = ? AND owner = ?", (agent, owner))
            dropped.append(agent)
    return dropped


def live(conn: Tx, now: float) -> dict[str, str]:
    """Agent -> the owner holding its lease now."""
    return {row[0]: row[1] for row in conn.execute("SELECT agent, owner FROM agent_lease WHERE until >= ?", (now,))}


def holders(hub: Hub) -> dict[str, tuple[str, float]]:
    """Agent -> (owner, until) of every lease, live or expired."""
    return {row[0]: (row[1], row[2]) for row in hub.store.query("SELECT agent, owner, until FROM agent_lease")}
