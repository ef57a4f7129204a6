"""The audit log: every change is appended in the same transaction that makes it."""

from __future__ import annotations

import json
from typing import Any

from team_table.clock import parse_iso
from team_table.errors import Forbidden, Invalid
from team_table.hub import Hub
from team_table.models import AuditEntry, Caller
from team_table.names import check_name
from team_table.store import Tx

MAX_LIMIT = 200


def record(
    conn: Tx,
    at: str,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry; call inside the write transaction of the change it records."""
    conn.execute(
        "INSERT INTO audit (at, actor, action, target_type, target_id, details) VALUES (?, ?, ?, ?, ?, ?)",
        (at, actor, action, target_type, None if target_id is None else str(target_id),
         json.dumps(details or {}, separators=(",", ":"))),
    )


def entries(
    hub: Hub,
    caller: Caller | None,
    agent_name: str = "",
    action: str = "",
    since: str = "",
    limit: int = 50,
    *,
    before_id: int | None = None,
) -> list[AuditEntry]:
    """Newest first (older than `before_id`, for paging). With read_audit (and the operator, caller None)
    everything; otherwise one's own."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be between 1 and {MAX_LIMIT}; got {limit}.")
    where, params = [], []
    if agent_name:
        check_name(agent_name)
        where.append("actor = ?")
        params.append(agent_name)
    if action:
        where.append("action = ?")
        params.append(action)
    if since:
        try:
            since_at = parse_iso(since)
        except ValueError:
            raise Invalid(f"since {since!r} is not an ISO 8601 date, e.g. 2026-01-15 or 2026-01-15T09:30:00Z.") \
                from None
        where.append("at >= ?")
        params.append(since_at.isoformat(timespec="microseconds"))
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    if caller is not None and not caller.may("read_audit"):
        if agent_name and agent_name != caller.name:
            raise Forbidden(
                f"{caller.name} may read only audit entries about itself; "
                "reading another member's needs the read_audit permission (admin and lead have it)."
            )
        where.append("(actor = ? OR (target_type = 'member' AND target_id = ?))")
        params += [caller.name, caller.name]
    sql = "SELECT * FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    rows = hub.store.query(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
    return [
        AuditEntry(
            id=r["id"], timestamp=r["at"], agent_name=r["actor"], action=r["action"],
            target_type=r["target_type"], target_id=r["target_id"], details=r["details"],
        )
        for r in rows
    ]
