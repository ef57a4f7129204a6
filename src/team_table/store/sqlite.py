"""The SQLite store: one connection per process, WAL, short BEGIN IMMEDIATE writes, recorded migrations."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from team_table.errors import Busy, Unavailable
from team_table.store.base import Dialect, WouldWait, refuse_nul
from team_table.store.sqlite_file import (
    BUSY_TIMEOUT_MS,
    begin_immediate,
    cannot_write,
    connect,
    file_problem,
    hold_in_use,
    os_problem,
    private_dir,
    private_files,
)
from team_table.store.sqlite_schema import MIGRATIONS

log = logging.getLogger(__name__)


SQLITE = Dialect(name="sqlite", greatest="MAX", unread_index="INDEXED BY delivery_unread", skip_locked="",
                 for_update="")


class SqliteTx:
    """A write transaction on the process's connection. SQLite has one writer at a time (BEGIN IMMEDIATE), so
    every transaction is already serialized with every other: `lock` has nothing to add, and appended rows are
    written at once (their ids follow commit order anyway)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] | dict = ()) -> sqlite3.Cursor:
        refuse_nul(params)
        return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        rows = list(rows)
        for row in rows:
            refuse_nul(row)
        return self._conn.executemany(sql, rows)

    def lock(self, key: str) -> None:
        return None

    def append(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.execute(sql, params)  # other processes see the commit in PRAGMA data_version (version())


class _Hurried:
    """The context of SqliteStore.without_waiting: this thread may not wait while it lasts."""

    __slots__ = ("_here",)

    def __init__(self, here: threading.local) -> None:
        self._here = here

    def __enter__(self) -> None:
        self._here.hurried = True

    def __exit__(self, *exc: object) -> None:
        self._here.hurried = False


class SqliteStore:
    """A SQLite database file shared by every hub process on this machine."""

    dialect = SQLITE
    parallel = 1  # one connection per process, used by one thread at a time

    def __init__(self, path: Path, *, synchronous: str = "full", read_only: bool = False) -> None:
        self.path = path
        self.url = str(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._here = threading.local()  # .hurried: this thread may not wait (see without_waiting); .writing
        self._hurried = _Hurried(self._here)
        self._patient = True  # the main connection's busy timeout is on (see _be_patient)
        self._in_use: int | None = None if read_only else hold_in_use(path)
        try:
            self._conn = connect(path, synchronous, read_only)
        except BaseException:
            if self._in_use is not None:
                os.close(self._in_use)
            raise
        self._tx = SqliteTx(self._conn)
        # A read-only connection of its own, never waiting on ours: for version(), and for the reads of a thread
        # that may not wait (a write in progress on ours, even one waiting for another process, never holds it up).
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self.last_commit = 0.0  # monotonic time of the last commit here, for the readiness probe
        self.unwritable: str | None = None  # why the last write failed, until one succeeds again
        self.on_commit: Callable[[], None] | None = None  # e.g. wake the push fan-out
        self._file_watch = None  # inotify on the file's folder, once watch() is called
        self.hear_others = False  # watch() starts it (open_store sets this for stdio hubs)

    @classmethod
    def open(cls, path: Path, *, synchronous: str = "full", read_only: bool = False) -> SqliteStore:
        """Open the database at `path` and bring its schema up to date (creating it if needed).

        Read-only, nothing is created or written: the file must exist with a current schema."""
        path = path.expanduser()
        if read_only:
            store = cls(path, read_only=True)
            try:
                store._check_current()
            except BaseException:
                store.close()
                raise
            return store
        try:
            private_dir(path.parent)
            # Create the file owner-only before SQLite does: its -wal and -shm files copy its mode.
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as exc:
            raise Unavailable(cannot_write(path, os_problem(exc))) from None
        store = cls(path, synchronous=synchronous)
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        private_files(path)
        return store

    def close(self) -> None:
        if self._file_watch is not None:
            self._file_watch.close()
        with self._lock:
            self._conn.close()
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
        if self._in_use is not None:
            os.close(self._in_use)  # the lock goes with it (and with the process, however it ends)
            self._in_use = None

    def without_waiting(self) -> _Hurried:
        """Work on the event loop. SQLite in WAL mode reads without waiting for writers: reads go ahead, on the
        reader connection. So does a write, unless it would wait for a lock: held by another thread of this process
        (a job, or a write handed over before), or by another process (BEGIN IMMEDIATE is tried once, without the
        busy timeout). Then WouldWait, before anything is written."""
        return self._hurried

    def _acquire(self) -> bool:
        """Take the connection's lock; whether this thread is hurried (may not wait). Raises WouldWait when it is
        and the lock is held."""
        hurried = getattr(self._here, "hurried", False)
        if not self._lock.acquire(blocking=not hurried):
            raise WouldWait
        return hurried

    def query(self, sql: str, params: Sequence[Any] | dict = ()) -> list[sqlite3.Row]:
        """Run one read statement (in a write of this thread, it sees what that write did)."""
        refuse_nul(params)
        here = self._here
        writing = getattr(here, "writing", False)
        if not writing and getattr(here, "hurried", False):
            return self._read_now(sql, params)
        with self._lock:
            if not (writing or self._patient):  # inside a write, nothing waits: its lock is held
                self._be_patient(True)
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._mapped_error(exc) from None

    def _read_now(self, sql: str, params: Sequence[Any] | dict) -> list[sqlite3.Row]:
        """A read on the reader connection, or WouldWait (it is busy, or SQLite asks to wait: WAL recovery)."""
        if not self._reader_lock.acquire(blocking=False):
            raise WouldWait
        try:
            return self._reading().execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise WouldWait from None
            raise self._mapped_error(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._mapped_error(exc) from None
        finally:
            self._reader_lock.release()

    def _reading(self) -> sqlite3.Connection:
        """The reader connection (call with its lock held), opened at first use."""
        if self._reader is None:
            self._reader = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=0,
                                           isolation_level=None, check_same_thread=False)
            self._reader.row_factory = sqlite3.Row
        return self._reader

    def _be_patient(self, patient: bool) -> None:
        """Whether a statement on the main connection waits for another process's lock (the busy timeout), or
        fails at once; switched only when it changes (a hurried write is the common case on a network hub)."""
        self._conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS if patient else 0}")
        self._patient = patient

    @contextmanager
    def write(self) -> Iterator[SqliteTx]:
        """One short write transaction, taken with BEGIN IMMEDIATE so it never fails on a stale snapshot.

        A write opened inside another on the same thread joins it: the outer one commits both, or neither
        (the workflow engine runs several domain changes as one step this way)."""
        hurried = self._acquire()
        try:
            if self._conn.in_transaction:
                yield self._tx
                return
            try:
                self._begin(hurried)
                self._here.writing = True
                try:
                    yield self._tx
                except BaseException:
                    if self._conn.in_transaction:  # SQLite may have rolled back itself (disk full)
                        self._conn.execute("ROLLBACK")
                    raise
                finally:
                    self._here.writing = False
                self._conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                raise self._mapped_error(exc) from None
            self.last_commit = time.monotonic()
            self.unwritable = None
        finally:
            self._lock.release()
        if self.on_commit is not None:
            self.on_commit()

    @contextmanager
    def rehearse(self) -> Iterator[SqliteTx]:
        """A write transaction that is always rolled back: for showing what would happen (dry runs)."""
        hurried = self._acquire()
        try:
            with self._mapped():
                self._begin(hurried)
                self._here.writing = True
                try:
                    yield self._tx
                finally:
                    self._here.writing = False
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
        finally:
            self._lock.release()

    def _begin(self, hurried: bool) -> None:
        """BEGIN IMMEDIATE on the main connection (its lock held). Hurried, it is tried once, without waiting: when
        another process holds the write lock, WouldWait."""
        if not hurried:
            if not self._patient:
                self._be_patient(True)
            begin_immediate(self._conn)
            return
        if self._patient:
            self._be_patient(False)
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise WouldWait from None
            raise

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        """SQLite's errors about the file itself become one refusal that says what to check."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            raise self._mapped_error(exc) from None

    def _mapped_error(self, exc: sqlite3.DatabaseError) -> BaseException:
        """What to raise for an error of SQLite: one refusal that says what to check when it is about the file
        itself (busy, full, read-only, damaged), else the error as it is."""
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError):
            if "locked" in text or "busy" in text:
                return Busy("The hub's database is busy right now; nothing was changed. Try the call again.")
            why = file_problem(text)
            if why is None:
                return exc
            self.unwritable = why
            log.error("the database %s cannot be written: %s", self.path, text)
            return Unavailable(cannot_write(self.path, why))
        if "malformed" not in text and "not a database" not in text:
            return exc
        return Unavailable(f"The hub's database {self.path} is damaged ({exc}); nothing was changed. Restore it "
                           "from a backup, or move it aside and start again.")

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
                migration.apply(self._conn)
                conn.execute(
                    "INSERT INTO schema_migration (version, name, applied_at)"
                    " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))",
                    (migration.version, migration.name),
                )
                applied.append(migration.name)
        if applied:
            log.info("database %s upgraded: %s", self.path, ", ".join(applied))
        return applied

    def _check_current(self) -> None:
        try:
            rows = self.query("SELECT MAX(version) FROM schema_migration")
        except sqlite3.OperationalError:
            rows = [(None,)]
        if rows[0][0] != MIGRATIONS[-1].version:
            raise Unavailable(f"The database {self.path} was made by another version of team-table (or by none): "
                              "start the hub once (`team-table up`) so it can bring the schema up to date.")

    def version(self) -> int:
        """A number that moves whenever any connection, in any process, commits (PRAGMA data_version on a
        connection of its own, so it sees this process's commits too). Microseconds; never waits for a lock."""
        with self._reader_lock:
            return self._reading().execute("PRAGMA data_version").fetchone()[0]

    def watch(self, callback: Callable[[], None]) -> bool:
        """With hear_others, call `callback` (on the event loop that calls this) when the file is written, by any
        process: inotify on its folder. False otherwise, or where that cannot be had: the fan-out then polls
        version() while anyone listens. (A network hub, which writes the file at every call, polls: the events
        of its own writes would cost more than the poll.)"""
        from team_table.store.file_changes import watch_file

        if not self.hear_others:
            return False
        if self._file_watch is not None:  # started already (the fan-out's, the jobs'): one more callback
            self._file_watch.callbacks.append(callback)
            return True
        self._file_watch = watch_file(self.path, callback, self.version)
        return self._file_watch is not None

    def probe(self, fresh: float = 5.0) -> str | None:
        """Can the database be written now? None if so, else why. A commit in the last `fresh` seconds counts."""
        if self.read_only:
            return "opened read-only"
        if self.unwritable is None and time.monotonic() - self.last_commit < fresh:
            return None
        try:
            with self.write() as conn:
                conn.execute("INSERT INTO job_lease (name, owner, until) VALUES ('probe', 'probe', 0)"
                             " ON CONFLICT(name) DO UPDATE SET until = job_lease.until + 1")
        except (Unavailable, Busy) as exc:
            return exc.message
        return None

    def checkpoint(self) -> None:
        """Fold the WAL back into the database file (on shutdown)."""
        if self.read_only:
            return
        with self._lock, self._mapped():
            if not self._patient:
                self._be_patient(True)
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
