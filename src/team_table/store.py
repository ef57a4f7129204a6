"""The SQLite store: one connection per process, WAL, short BEGIN IMMEDIATE writes, recorded migrations."""

from __future__ import annotations

import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from team_table.errors import Busy
from team_table.migrations import MIGRATIONS

log = logging.getLogger(__name__)

# How long a writer waits for the lock in total (busy_timeout, then our own retries) before giving up.
BUSY_TIMEOUT_MS = 5000
_RETRIES = 6


class Store:
    """A SQLite database file shared by every hub process on this machine."""

    def __init__(self, path: Path, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._lock = threading.RLock()
        self._conn = _connect(path, synchronous)
        self.on_commit: Callable[[], None] | None = None  # e.g. wake the push fan-out

    @classmethod
    def open(cls, path: Path, *, synchronous: str = "NORMAL") -> Store:
        """Open (creating if needed) the database at `path` and bring its schema up to date."""
        path = path.expanduser()
        _private_dir(path.parent)
        # Create the file owner-only before SQLite does: its -wal and -shm files copy its mode.
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        store = cls(path, synchronous=synchronous)
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        _private_files(path)
        return store

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        """Run one read statement."""
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken with BEGIN IMMEDIATE so it never fails on a stale snapshot.

        A write opened inside another on the same thread joins it: the outer one commits both, or neither
        (the workflow engine runs several domain changes as one step this way)."""
        with self._lock:
            if self._conn.in_transaction:
                yield self._conn
                return
            _begin_immediate(self._conn)
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        if self.on_commit is not None:
            self.on_commit()

    @contextmanager
    def rehearse(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that is always rolled back: for showing what would happen (dry runs)."""
        with self._lock:
            _begin_immediate(self._conn)
            try:
                yield self._conn
            finally:
                self._conn.execute("ROLLBACK")

    def migrate(self) -> list[str]:
        """Apply every migration not yet recorded; safe when several processes start at once."""
        applied: list[str] = []
        with self.write() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migration ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migration")}
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                migration.apply(conn)
                conn.execute(
                    "INSERT INTO schema_migration (version, name, applied_at)"
                    " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))",
                    (migration.version, migration.name),
                )
                applied.append(migration.name)
        if applied:
            log.info("database %s upgraded: %s", self.path, ", ".join(applied))
        return applied

    def checkpoint(self) -> None:
        """Fold the WAL back into the database file (on shutdown)."""
        with self._lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.row_factory = sqlite3.Row
    # Switching a new file to WAL takes an exclusive lock and may fail at once, without the busy
    # handler, when several hub processes open the same new file together: retry it.
    _retry_busy(lambda: conn.execute("PRAGMA journal_mode=WAL"), "PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    return conn


def _begin_immediate(conn: sqlite3.Connection) -> None:
    # busy_timeout already waits; the retries only cover the rare case where SQLite
    # returns SQLITE_BUSY without calling the busy handler (e.g. during WAL recovery).
    _retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"), "BEGIN IMMEDIATE")


def _retry_busy(step: Callable[[], object], what: str) -> None:
    for attempt in range(_RETRIES):
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            log.warning("database busy on %s (attempt %d)", what, attempt + 1)
            time.sleep(0.01 * (2**attempt) * (1 + random.random()))
    raise Busy("The hub's database is busy right now; nothing was changed. Try the call again.")


def _private_dir(folder: Path) -> None:
    """Create the folder owner-only; a folder that already exists is the user's to keep as it is."""
    try:
        folder.mkdir(parents=True, mode=0o700)
    except FileExistsError:  # it was there, or another hub process made it a moment ago
        return
    os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask


def _private_files(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            os.chmod(candidate, 0o600)
