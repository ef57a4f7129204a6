"""Keeping a member out and letting it back in: revoking every token of a member (it leaves the table and stays
out), readmitting it, and who is kept out; by the operator, or by a member with the revoke_tokens permission."""

from __future__ import annotations

from team_table import audit, events, member_tokens, members, tokens
from team_table.errors import Conflict, Forbidden, NotFound
from team_table.event_kinds import K, MemberChange
from team_table.hub import Hub
from team_table.models import Caller
from team_table.names import OPERATOR, check_name
from team_table.store import Tx


def revoke(hub: Hub, name: str, actor: str = OPERATOR) -> int:
    """Revoke every token of `name` (issued ones, and the hashes team.yaml declares). Returns how many."""
    check_name(name)
    now = hub.now()
    declared = hub.team.agents.get(name)
    with hub.store.write() as conn:
        if conn.execute("SELECT 1 FROM member WHERE name = ?", (name,)).fetchone() is None and not declared:
            raise NotFound(f"No member named {name}.")
        count = member_tokens.revoke_declared(conn, name, declared.token_hashes if declared else (), now)
        # It leaves the table and stays out: neither register nor a new hash brings it back, only readmit.
        count += members.retire(conn, hub, name, now, "its tokens were revoked")
        conn.execute("INSERT INTO member (name, role, capabilities, status, registered_at, last_heartbeat)"
                     " VALUES (?, ?, '[]', 'revoked', ?, ?) ON CONFLICT(name) DO UPDATE SET status = 'revoked'",
                     (name, declared.all_roles[0] if declared else "agent", now, now))
        audit.record(conn, now, actor, "revoke_tokens", "member", name, {"count": count})
    return count


def readmit(hub: Hub, name: str, actor: str = OPERATOR) -> str:
    """Let a revoked member back in: a declared member with token hashes is at the table again (a hash revoked
    with it stays revoked: a new one must be declared), any other may register again. Returns what follows."""
    check_name(name)
    declared = hub.team.agents.get(name)
    now = hub.now()
    with hub.store.write() as conn:
        back = "active" if declared is not None and declared.token_hashes else "inactive"
        if not conn.execute("UPDATE member SET status = ? WHERE name = ? AND status = 'revoked'",
                            (back, name)).rowcount:
            raise Conflict(f"{name} is not revoked: there is nobody to let back in.")
        audit.record(conn, now, actor, "readmit", "member", name, {"status": back})
        events.emit(conn, now, K.MEMBER, MemberChange(agent=name, readmitted=True), exclude=name)
        return _after_readmit(conn, name, declared)


def revoked(hub: Hub) -> list[dict]:
    """The members kept out, with who revoked them and when (the newest first)."""
    rows = hub.store.query("SELECT name FROM member WHERE status = 'revoked' ORDER BY name")
    found = []
    for row in rows:
        last = hub.store.query("SELECT actor, at FROM audit WHERE action = 'revoke_tokens' AND target_type = 'member'"
                               " AND target_id = ? ORDER BY id DESC LIMIT 1", (row["name"],))
        declared = hub.team.agents.get(row["name"])
        found.append({"name": row["name"], "by": last[0]["actor"] if last else None,
                      "at": last[0]["at"] if last else None,
                      "then": "Its new declared token then works." if declared and declared.token_hashes
                      else "It may then register again."})
    return sorted(found, key=lambda r: r["at"] or "", reverse=True)


def revoke_as(hub: Hub, caller: Caller, name: str) -> int:
    """revoke(), by a member with the revoke_tokens permission (from the dashboard)."""
    _may_lock(hub, caller, name, "revoke")
    return revoke(hub, name, actor=caller.name)


def readmit_as(hub: Hub, caller: Caller, name: str) -> str:
    """readmit(), by a member with the revoke_tokens permission (from the dashboard)."""
    _may_lock(hub, caller, name, "readmit")
    return readmit(hub, name, actor=caller.name)


def _may_lock(hub: Hub, caller: Caller, name: str, what: str) -> None:
    """A member with revoke_tokens may revoke or readmit `name`, unless `name` holds a privileged role the caller
    lacks (an admin, for a lead): that only the operator, or a member holding it, may do."""
    caller.require("revoke_tokens")
    check_name(name)
    rows = hub.store.query("SELECT role FROM member WHERE name = ?", (name,))
    if not rows and name not in hub.team.agents:
        raise NotFound(f"No member named {name}.")
    held = hub.roles_of(name, rows[0]["role"] if rows else "agent")
    above = [role for role in held if hub.team.is_privileged(role) and role not in caller.roles]
    if above:
        raise Forbidden(f"{name} holds {', '.join(above)}, which {caller.name} does not: only the operator "
                        f"(`team-table {what} {name}`) or a member holding it may {what} {name}.")


def _after_readmit(conn: Tx, name: str, declared) -> str:
    if declared is None or not declared.token_hashes:
        return f"{name} may register again (it gets a new token)."
    live = [h for h in declared.token_hashes if not member_tokens.is_revoked(conn, h.removeprefix(tokens.PREFIX))]
    return (f"{name}'s token declared in team.yaml works again." if live else
            f"{name}'s declared token stays revoked: mint a new one (`team-table token {name}`) and put its hash "
            "in team.yaml.")
