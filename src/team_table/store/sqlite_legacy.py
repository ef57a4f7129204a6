"""Carrying a team-table 0.2.1 SQLite database over to this schema (migration 2): its members, tokens, messages
and read state, tasks, shared context and audit, with its own tables kept under a `legacy_` prefix."""

from __future__ import annotations

import sqlite3


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone()
    return row is not None


def import_0_2_1(conn: sqlite3.Connection) -> None:
    """Carry a team-table 0.2.1 database over: members, tokens, messages and read state, tasks, context, audit.

    0.2.1 kept one row per broadcast with per-reader side tables; here each reader has a delivery row.
    A broadcast is delivered to the members known at import time, with the state they had.
    The old tables are kept, renamed with a `legacy_` prefix, so nothing is lost.
    """
    if not (_has_table(conn, "members") and _has_table(conn, "messages")):
        return
    conn.execute(
        "INSERT OR IGNORE INTO member SELECT name, role, capabilities, status, registered_at, last_heartbeat"
        " FROM members"
    )
    if _has_table(conn, "auth_tokens"):
        conn.execute(
            "INSERT OR IGNORE INTO token (hash, member, source, created_at, revoked_at)"
            " SELECT token_hash, agent_name, 'issued', created_at, revoked_at FROM auth_tokens"
        )
    conn.execute(
        "INSERT INTO message (id, sender, recipient, content, created_at)"
        " SELECT id, sender, recipient, content, created_at FROM messages"
    )
    # Direct messages: 0.2.1 kept read and archived on the message itself.
    conn.execute(
        "INSERT INTO delivery (agent, message_id, read_at, archived_at)"
        " SELECT recipient, id, CASE WHEN read THEN created_at END, archived_at"
        " FROM messages WHERE recipient != '*'"
    )
    reads = "broadcast_reads" if _has_table(conn, "broadcast_reads") else None
    hidden = "broadcast_hidden" if _has_table(conn, "broadcast_hidden") else None
    read_expr = (
        f"CASE WHEN EXISTS (SELECT 1 FROM {reads} r WHERE r.message_id=m.id AND r.agent_name=mb.name)"
        " THEN m.created_at END"
        if reads
        else "NULL"
    )
    hidden_expr = (
        f"CASE WHEN EXISTS (SELECT 1 FROM {hidden} h WHERE h.message_id=m.id AND h.agent_name=mb.name)"
        " THEN m.created_at ELSE m.archived_at END"
        if hidden
        else "m.archived_at"
    )
    conn.execute(
        f"INSERT INTO delivery (agent, message_id, read_at, archived_at)"
        f" SELECT mb.name, m.id, {read_expr}, {hidden_expr}"
        f" FROM messages m JOIN members mb ON mb.name != m.sender WHERE m.recipient = '*'"
    )
    if _has_table(conn, "tasks"):
        conn.execute("INSERT INTO task SELECT * FROM tasks")
    if _has_table(conn, "shared_context"):
        conn.execute("INSERT INTO context_entry SELECT key, value, set_by, updated_at FROM shared_context")
    if _has_table(conn, "audit_log"):
        conn.execute(
            "INSERT INTO audit (id, at, actor, action, target_type, target_id, details)"
            " SELECT id, timestamp, agent_name, action, target_type, target_id, details FROM audit_log"
        )
    for table in ("members", "messages", "tasks", "shared_context", "broadcast_reads",
                  "broadcast_hidden", "audit_log", "auth_tokens"):
        if _has_table(conn, table):
            conn.execute(f"ALTER TABLE {table} RENAME TO legacy_{table}")
