"""Members of the table: who a caller is (a name and its token), joining and leaving, who is at the table and with
which roles (declared in team.yaml, or granted by the operator), and the seat of an agent the hub runs.

The tokens themselves are member_tokens.py; keeping a member out and letting it back in, revocations.py."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Collection

from team_table import audit, events, limits, member_tokens, presence, reservations, tokens
from team_table.errors import NOT_AUTHENTICATED, Conflict, Forbidden, Invalid, NotFound, Unauthorized
from team_table.event_kinds import K, MemberChange, Revoked, RolesChanged
from team_table.hub import Hub
from team_table.member_tokens import ISSUED, RUN
from team_table.models import Caller, Member, MemberStatus, Registration
from team_table.names import OPERATOR, check_name, check_new_member, is_valid_name
from team_table.store import Tx

log = logging.getLogger("team_table.members")
_MEMBER_AND_TOKEN = (
    "SELECT m.role, m.status, t.member AS token_member, t.revoked_at, t.source"
    " FROM member m LEFT JOIN token t ON t.hash = ? WHERE m.name = ?"
)


def authenticate(hub: Hub, name: str, token: str) -> Caller:
    """The caller behind a name and token, or one refusal that does not say what was wrong. Reads only."""
    return authenticate_digest(hub, name, tokens.digest(token) if token else None)


def authenticate_digest(hub: Hub, name: str, token_digest: str | None) -> Caller:
    """authenticate(), given the token's digest (None: no token): what a dashboard session keeps, so that a
    revoked token, a removed or disabled member ends the session at its next request."""
    if not name or not is_valid_name(name):
        raise Unauthorized(NOT_AUTHENTICATED)
    rows = hub.store.query(_MEMBER_AND_TOKEN, (token_digest or tokens.digest(""), name))
    if not rows or rows[0]["status"] != MemberStatus.ACTIVE:
        raise Unauthorized(NOT_AUTHENTICATED)
    row = rows[0]
    declared = hub.team.agents.get(name)
    if declared is not None and not declared.enabled:
        raise Unauthorized(NOT_AUTHENTICATED)
    if hub.settings.require_tokens and not _token_ok(name, token_digest, row, declared):
        raise Unauthorized(NOT_AUTHENTICATED)
    return hub.caller(name, hub.roles_of(name, row["role"]))


def may_join(hub: Hub, name: str) -> bool:
    """Whether `name` can still join with register, needing no token now: not at the table, not declared with a
    token, not disabled in team.yaml. Reads only."""
    declared = hub.team.agents.get(name)
    if declared is not None and (declared.token_hashes or not declared.enabled):
        return False
    rows = hub.store.query("SELECT status FROM member WHERE name = ?", (name,))
    return not rows or rows[0]["status"] != MemberStatus.ACTIVE


def identify(hub: Hub, token: str) -> str | None:
    """The agent a token belongs to (an issued token, or a hash declared in team.yaml), or None. Reads only."""
    if not token:
        return None
    token_digest = tokens.digest(token)
    rows = hub.store.query("SELECT member, source, revoked_at FROM token WHERE hash = ?", (token_digest,))
    if rows and rows[0]["revoked_at"] is not None:
        return None
    if rows and rows[0]["source"] == RUN:
        return rows[0]["member"]
    if rows and rows[0]["source"] == ISSUED:
        declared = hub.team.agents.get(rows[0]["member"])
        return None if declared and declared.token_hashes else rows[0]["member"]
    return hub.team.agent_with_hash(token_digest)


def _token_ok(name, token_digest, row, declared) -> bool:
    if token_digest is None:
        return False
    if row["revoked_at"] is not None:
        return False
    if row["source"] == RUN:  # minted by the hub for one run of this agent (runner/runs.py)
        return row["token_member"] is not None and hmac.compare_digest(row["token_member"], name)
    if declared is not None and declared.token_hashes:
        return tokens.matches_any(token_digest, declared.token_hashes)
    return row["token_member"] is not None and hmac.compare_digest(row["token_member"], name) \
        and row["source"] == ISSUED


def register(hub: Hub, name: str, role: str, capabilities: str | list[str], token: str) -> Registration:
    """Join the table, or re-join with a fresh token (revoking the old ones)."""
    check_new_member(name)
    team = hub.team
    if role not in team.all_roles():
        raise Invalid(f"Unknown role {role!r}; choose one of: {', '.join(sorted(team.all_roles()))}.")
    caps = limits.capabilities(capabilities, team.limits.sizes)
    declared = team.agents.get(name)
    now = hub.now()
    with hub.store.write() as conn:
        conn.lock(f"member:{name}")  # two registrations of one name, on any replicas: one after the other
        row = conn.execute("SELECT * FROM member WHERE name = ?", (name,)).fetchone()
        if row is not None and row["status"] == MemberStatus.REVOKED:
            raise Forbidden(f"{name} was revoked and stays out until a person lets it back in (the dashboard's Team "
                            f"page, or `team-table readmit {name}`).")
        current = row if row is not None and row["status"] == MemberStatus.ACTIVE else None  # registered now
        active = current is not None
        if declared is not None and declared.token_hashes:
            if hub.settings.require_tokens and not _declared_token_ok(conn, token, declared.token_hashes):
                raise Unauthorized(
                    f"{name} is declared in team.yaml with a token: register with that token "
                    "(your operator has it, from `team-table token`)."
                )
            role, caps, new_token = declared.all_roles[0], list(declared.capabilities) or caps, token
        else:
            if active:
                _check_reregistration(conn, hub, name, token)
            if declared is not None:
                role, caps = declared.all_roles[0], list(declared.capabilities) or caps
            else:
                role = _self_assigned_role(hub, name, role, current["role"] if current is not None else None)
            member_tokens.revoke(conn, name, now, ISSUED)
            new_token = member_tokens.issue(conn, name, ISSUED, now)
        registered_at = current["registered_at"] if current is not None else now
        conn.execute(
            "INSERT INTO member (name, role, capabilities, status, registered_at, last_heartbeat)"
            " VALUES (?, ?, ?, 'active', ?, ?) ON CONFLICT(name) DO UPDATE SET role = excluded.role,"
            " capabilities = excluded.capabilities, status = 'active',"
            " registered_at = excluded.registered_at, last_heartbeat = excluded.last_heartbeat",
            (name, role, json.dumps(caps), registered_at, now),
        )
        audit.record(conn, now, name, "register", "member", name,
                     {"role": role, "rejoined": active})
        events.emit(conn, now, K.MEMBER, MemberChange(agent=name, joined=not active, role=role), exclude=name)
    return Registration(name=name, role=role, roles=list(declared.all_roles) if declared else [role],
                        capabilities=caps, status=MemberStatus.ACTIVE,
                        registered_at=registered_at, last_heartbeat=now, token=new_token)


def _declared_token_ok(conn: Tx, token: str, hashes: tuple[str, ...]) -> bool:
    if not token:
        return False
    token_digest = tokens.digest(token)
    return not member_tokens.is_revoked(conn, token_digest) and tokens.matches_any(token_digest, hashes)


def _check_reregistration(conn: Tx, hub: Hub, name: str, token: str) -> None:
    if not hub.settings.require_tokens:
        return  # tokens off: the token check is skipped, nothing else (docs/compatibility.md §3)
    holder = member_tokens.issued_to(conn, tokens.digest(token or ""))
    if not token or holder is None or not hmac.compare_digest(holder, name):
        raise Unauthorized(
            f"{name} is already at the table; re-registering needs its current token "
            "(or pick another name)."
        )


def _self_assigned_role(hub: Hub, name: str, wanted: str, current: str | None) -> str:
    """Roles that permit more than a member's work come from the operator or the config, never from the caller."""
    if hub.team.is_elevated(wanted) and current != wanted and name not in hub.settings.admins:
        raise Forbidden(
            f"The {wanted} role is granted by the operator (`team-table grant {name} {wanted}`) "
            "or declared in team.yaml; it cannot be self-assigned. Register with another role."
        )
    if current is not None and hub.team.is_elevated(current) and not hub.team.is_elevated(wanted):
        return current  # re-registering does not quietly drop a granted role
    return wanted


def deregister(hub: Hub, caller: Caller) -> dict:
    """Leave the table: the member becomes inactive and its issued tokens are revoked."""
    now = hub.now()
    with hub.store.write() as conn:
        audit.record(conn, now, caller.name, "deregister", "member", caller.name)
        retire(conn, hub, caller.name, now, "it left the table", issued_only=True)
    return {"status": "deregistered", "name": caller.name}


def retire(conn: Tx, hub: Hub, name: str, now: str, why: str, *, issued_only: bool = False) -> int:
    """Take a member off the table: inactive, its tokens revoked (issued ones, or all), its claims released,
    its streams closed. Returns how many tokens were revoked."""
    conn.lock(f"member:{name}")
    count = member_tokens.revoke(conn, name, now, ISSUED if issued_only else None)
    conn.execute("UPDATE member SET status = 'inactive' WHERE name = ?", (name,))
    presence.release_all_of(conn, hub, name, now, why)
    reservations.drop_all_of(conn, hub, name, now, why)
    events.emit(conn, now, K.REVOKED, Revoked(agent=name), to=name)
    return count


def holding(conn: Tx, hub: Hub, wanted: Collection[str]) -> list[str]:
    """Active members holding any of the `wanted` roles (declared in team.yaml, else stored), by name."""
    if not wanted:
        return []
    wanted = set(wanted)
    return sorted(row["name"] for row in conn.execute("SELECT name, role FROM member WHERE status = 'active'")
                  if wanted & set(hub.roles_of(row["name"], row["role"])))


def listing(hub: Hub, include_inactive: bool = False, *, caller: Caller | None = None) -> list[Member]:
    """Members with their presence: active, idle or offline by their last call (inactive: deregistered).
    Every member may see who is at the table (caller None: the operator)."""
    sql = "SELECT * FROM member"
    if not include_inactive:
        sql += " WHERE status = 'active'"
    rows = hub.store.query(sql + " ORDER BY registered_at, name")
    found = []
    for row in rows:
        state, last = presence.of(hub, row["name"], row["last_seen"], row["last_heartbeat"])
        found.append(_member(row, hub.team.agents.get(row["name"]),
                             state if row["status"] == MemberStatus.ACTIVE else None, last))
    return found


def _member(row, declared=None, presence: str | None = None, last_seen: str | None = None) -> Member:
    member_roles = list(declared.all_roles) if declared else [row["role"]]
    return Member(
        name=row["name"], role=member_roles[0], roles=member_roles,
        capabilities=json.loads(row["capabilities"]), status=row["status"], presence=presence,
        registered_at=row["registered_at"], last_heartbeat=row["last_heartbeat"], last_seen=last_seen,
    )


def heartbeat(hub: Hub, caller: Caller) -> dict:
    with hub.store.write() as conn:
        conn.execute("UPDATE member SET last_heartbeat = ? WHERE name = ?", (hub.now(), caller.name))
    return {"status": "ok", "name": caller.name}


def sync_declared(hub: Hub) -> int:
    """Put agents declared with tokens, and those the hub runs, at the table, so their tokens work from the first
    call (and nobody else can register under the name of an agent the hub runs)."""
    now = hub.now()
    added = 0
    with hub.store.write() as conn:
        for name, spec in hub.team.agents.items():
            if not spec.token_hashes and spec.run is None:
                continue  # declared without a token: they join with `register`, the file fixes their role
            cur = conn.execute(
                "INSERT INTO member (name, role, capabilities, status, registered_at, last_heartbeat)"
                " VALUES (?, ?, ?, 'active', ?, ?) ON CONFLICT(name) DO NOTHING",
                (name, spec.all_roles[0], json.dumps(list(spec.capabilities)), now, now),
            )
            if cur.rowcount:
                added += 1
                audit.record(conn, now, OPERATOR, "declare", "member", name, {"roles": list(spec.all_roles)})
            else:  # declared again (after a removal, however short) it is back; revoked, it stays out
                back = conn.execute("UPDATE member SET role = ?, capabilities = ?, status = CASE status WHEN 'inactive'"
                                    " THEN 'active' ELSE status END WHERE name = ? RETURNING status",
                                    (spec.all_roles[0], json.dumps(list(spec.capabilities)), name)).fetchone()
                if back is not None and back["status"] == MemberStatus.REVOKED:
                    log.info("%s is declared in team.yaml but revoked: it stays out until a person lets it back in",
                             name)
    return added


def grant(hub: Hub, name: str, role: str, actor: str = OPERATOR) -> Member:
    """The operator sets a member's role (privileged roles included)."""
    check_name(name)
    if role not in hub.team.all_roles():
        raise Invalid(f"Unknown role {role!r}; choose one of: {', '.join(sorted(hub.team.all_roles()))}.")
    if name in hub.team.agents:
        raise Conflict(f"{name}'s role is declared in {hub.settings.config_path}; change it there.")
    now = hub.now()
    with hub.store.write() as conn:
        row = conn.execute("SELECT role FROM member WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise NotFound(f"No member named {name}; they must register first.")
        conn.execute("UPDATE member SET role = ? WHERE name = ?", (role, name))
        audit.record(conn, now, actor, "grant_role", "member", name, {"role": role, "was": row["role"]})
        events.emit(conn, now, K.ROLES_CHANGED, RolesChanged(agent=name, role=role), to=name)
        member = conn.execute("SELECT * FROM member WHERE name = ?", (name,)).fetchone()
    return _member(member)


def seat_for_run(conn: Tx, hub: Hub, name: str, now: str) -> str:
    """The hub is about to run `name`: it is at the table (seated again if it had left), with a token minted for
    this run alone (any earlier run's token revoked). Returns the token; only its hash is kept."""
    spec = hub.team.agents[name]
    conn.execute(
        "INSERT INTO member (name, role, capabilities, status, registered_at, last_heartbeat)"
        " VALUES (?, ?, ?, 'active', ?, ?) ON CONFLICT(name) DO UPDATE SET status = 'active', role = excluded.role",
        (name, spec.all_roles[0], json.dumps(list(spec.capabilities)), now, now))
    member_tokens.revoke(conn, name, now, RUN)
    return member_tokens.issue(conn, name, RUN, now)

