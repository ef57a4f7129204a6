"""The store: private files, recorded migrations, and carrying over a team-table 0.2.1 database."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from team_table import members, messages, tasks
from team_table.config import EMPTY_TEAM
from team_table.runtime import open_table
from team_table.settings import resolve
from team_table.store.sqlite import SqliteStore as Store
from team_table.store.sqlite_schema import MIGRATIONS
from team_table.tokens import digest

pytestmark = pytest.mark.sqlite_only  # the SQLite file itself (its modes, WAL, indexes, the 0.2.1 import)


def test_a_new_database_folder_is_0700_and_its_files_0600(tmp_path: Path):
    path = tmp_path / "fresh" / "team.db"
    Store.open(path).close()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    for file in path.parent.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file


def test_every_migration_is_recorded_once_and_reopening_applies_nothing(tmp_path: Path):
    path = tmp_path / "team.db"
    store = Store.open(path)
    versions = [r[0] for r in store.query("SELECT version FROM schema_migration ORDER BY version")]
    assert versions == [m.version for m in MIGRATIONS]
    store.close()
    again = Store.open(path)
    assert again.migrate() == []
    again.close()


def test_the_database_runs_in_wal_mode_with_foreign_keys(tmp_path: Path):
    store = Store.open(tmp_path / "team.db")
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.query("PRAGMA foreign_keys")[0][0] == 1
    store.close()


def test_the_queries_the_tools_make_use_indexes(tmp_path: Path):
    store = Store.open(tmp_path / "team.db")
    plans = {
        "inbox": "SELECT 1 FROM delivery d WHERE d.agent = 'a' AND d.read_at IS NULL AND d.archived_at IS NULL"
                 " AND d.deleted_at IS NULL LIMIT 1",
        "tasks by status": "SELECT * FROM task WHERE status = 'pending' ORDER BY id",
        "tasks by assignee": "SELECT * FROM task WHERE assignee = 'a' ORDER BY id",
        "audit by agent": "SELECT * FROM audit WHERE actor = 'a' ORDER BY id DESC LIMIT 5",
        "audit by action": "SELECT * FROM audit WHERE action = 'x' ORDER BY id DESC LIMIT 5",
        "tokens": "SELECT * FROM token WHERE hash = 'h'",
        "rate": "SELECT COUNT(*) FROM rate_event WHERE actor = 'a' AND family = 'write'",
    }
    for what, sql in plans.items():
        plan = " ".join(r["detail"] for r in store.query("EXPLAIN QUERY PLAN " + sql))
        assert "USING" in plan and "SCAN" not in plan.replace("SCAN d USING", ""), f"{what}: {plan}"
    store.close()


OLD_SCHEMA = """
CREATE TABLE members (name TEXT PRIMARY KEY, role TEXT NOT NULL DEFAULT 'agent',
  capabilities TEXT NOT NULL DEFAULT '[]', status TEXT NOT NULL DEFAULT 'active',
  registered_at TEXT NOT NULL, last_heartbeat TEXT NOT NULL);
CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL, recipient TEXT NOT NULL,
  content TEXT NOT NULL, created_at TEXT NOT NULL, read INTEGER NOT NULL DEFAULT 0, archived_at TEXT);
CREATE TABLE tasks (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, description TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending', priority TEXT NOT NULL DEFAULT 'medium', creator TEXT NOT NULL,
  assignee TEXT, result TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE TABLE shared_context (key TEXT PRIMARY KEY, value TEXT NOT NULL, set_by TEXT NOT NULL,
  updated_at TEXT NOT NULL);
CREATE TABLE broadcast_reads (agent_name TEXT NOT NULL, message_id INTEGER NOT NULL,
  PRIMARY KEY (agent_name, message_id), FOREIGN KEY (message_id) REFERENCES messages(id));
CREATE TABLE broadcast_hidden (agent_name TEXT NOT NULL, message_id INTEGER NOT NULL,
  PRIMARY KEY (agent_name, message_id));
CREATE TABLE audit_log (id INTEGER PRIMARY KEY AUTOINCREMENT, timestamp TEXT NOT NULL, agent_name TEXT NOT NULL,
  action TEXT NOT NULL, target_type TEXT, target_id TEXT, details TEXT NOT NULL DEFAULT '{}');
CREATE TABLE auth_tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, agent_name TEXT NOT NULL, token_hash TEXT NOT NULL,
  created_at TEXT NOT NULL, last_used_at TEXT, revoked_at TEXT);
"""
T0 = "2026-10-01T10:00:00.000000+00:00"


def make_0_2_1_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(OLD_SCHEMA)
    for name in ("alice", "bob", "carol"):
        conn.execute("INSERT INTO members VALUES (?, 'agent', '[]', 'active', ?, ?)", (name, T0, T0))
    conn.execute("INSERT INTO auth_tokens (agent_name, token_hash, created_at) VALUES ('alice', ?, ?)",
                 (digest("alice-old-token"), T0))
    conn.execute("INSERT INTO messages (sender, recipient, content, created_at, read) VALUES"
                 " ('alice', 'bob', 'read one', ?, 1), ('alice', 'bob', 'unread one', ?, 0),"
                 " ('alice', '*', 'to all', ?, 0)", (T0, T0, T0))
    conn.execute("INSERT INTO broadcast_reads VALUES ('bob', 3)")
    conn.execute("INSERT INTO tasks (title, creator, created_at, updated_at) VALUES ('old task', 'alice', ?, ?)",
                 (T0, T0))
    conn.execute("INSERT INTO shared_context VALUES ('k', 'v', 'alice', ?)", (T0,))
    conn.execute("INSERT INTO audit_log (timestamp, agent_name, action) VALUES (?, 'alice', 'register')", (T0,))
    conn.commit()
    conn.close()


def test_a_0_2_1_database_is_carried_over_with_tokens_and_read_state(tmp_path: Path):
    path = tmp_path / "team_table.db"
    make_0_2_1_database(path)
    settings = resolve({"db": str(path)}, {}, EMPTY_TEAM, None)
    with open_table(settings, EMPTY_TEAM) as hub:
        alice = members.authenticate(hub, "alice", "alice-old-token")  # the old token still works
        bob = hub.caller("bob", ("agent",))
        assert [m.content for m in messages.inbox(hub, bob)] == ["unread one"]  # bob had read the broadcast
        carol = hub.caller("carol", ("agent",))
        assert [m.content for m in messages.inbox(hub, carol)] == ["to all"]
        assert [t.title for t in tasks.listing(hub)] == ["old task"]
        assert messages.send(hub, alice, "bob", "after the upgrade").id == 4  # ids continue
        tables = {r[0] for r in hub.store.query("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "legacy_messages" in tables and "messages" not in tables


def test_a_write_that_would_wait_on_the_event_loop_says_so_before_writing_anything(tmp_path: Path):
    from team_table.store import WouldWait

    store = Store.open(tmp_path / "team.db")
    other = sqlite3.connect(tmp_path / "team.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with store.without_waiting():
            assert store.query("SELECT COUNT(*) FROM member")[0][0] == 0  # reads go ahead
            with pytest.raises(WouldWait), store.write() as conn:
                conn.execute("INSERT INTO member (name, role, capabilities, status, registered_at, last_heartbeat)"
                             " VALUES ('ghost', 'agent', '[]', 'active', 'now', 'now')")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.query("SELECT COUNT(*) FROM member")[0][0] == 0
    assert store.query("PRAGMA busy_timeout")[0][0] == 5000  # waiting restored for the worker thread
    store.close()


def test_on_the_event_loop_a_read_goes_ahead_of_a_thread_s_write_and_a_write_does_not_wait_for_it(tmp_path: Path):
    import threading

    from team_table.store import WouldWait

    store = Store.open(tmp_path / "team.db")
    writing, release = threading.Event(), threading.Event()

    def job() -> None:
        with store.write() as conn:
            conn.execute("INSERT INTO member (name, role, capabilities, status, registered_at, last_heartbeat)"
                         " VALUES ('slow', 'agent', '[]', 'active', 'now', 'now')")
            writing.set()
            release.wait(10)

    worker = threading.Thread(target=job)
    worker.start()
    try:
        assert writing.wait(10)
        with store.without_waiting():
            assert store.query("SELECT COUNT(*) FROM member")[0][0] == 0  # what is committed, at once
            with pytest.raises(WouldWait), store.write():
                pass
    finally:
        release.set()
        worker.join(10)
    with store.without_waiting():
        assert store.query("SELECT name FROM member")[0]["name"] == "slow"
    store.close()


def test_on_the_event_loop_a_read_inside_a_write_sees_what_the_write_did(tmp_path: Path):
    store = Store.open(tmp_path / "team.db")
    with store.without_waiting(), store.write() as conn:
        conn.execute("INSERT INTO member (name, role, capabilities, status, registered_at, last_heartbeat)"
                     " VALUES ('new', 'agent', '[]', 'active', 'now', 'now')")
        assert [r["name"] for r in store.query("SELECT name FROM member")] == ["new"]
    store.close()
