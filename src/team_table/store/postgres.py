"""The PostgreSQL store: several hub processes, on several machines, on one database server.

- A pool of connections (psycopg 3 and psycopg_pool), checked before use, prepared statements off so that
  PgBouncer in transaction mode works. Reads and writes run in parallel, in every replica: the domain makes its
  contested changes safe on their own (conditional updates, `FOR UPDATE [SKIP LOCKED]` where a row is chosen,
  `Tx.lock` for a resource that has no row to lock), as READ COMMITTED lets it.
- The event log is the one thing kept in commit order: a transaction's events (`Tx.append`) are written last,
  in the same message to the server as its COMMIT, under a short advisory lock; so event ids follow commit
  order and a reader reading `id > cursor` never skips a row committed late. The server runs that tail without
  waiting on the client: a hub that freezes can never hold the lock.
- Every session has time limits (lock_timeout, statement_timeout, idle_in_transaction_session_timeout) and TCP
  keepalives: a replica that freezes or loses its network inside a transaction holds its locks for at most
  IDLE_IN_TRANSACTION, and a call waiting on one is refused `busy` after LOCK_TIMEOUT. synchronous_commit is
  kept on for the hub's sessions (a database set to `off` would lose acknowledged writes).
- A transaction that wrote events notifies (`NOTIFY team_table`, delivered at commit); each process listens
  on a connection of its own and wakes its fan-out at once. A dropped notification only delays an event: the
  listening thread also reads the newest event id once a second, and `version()` only reads what it found (it
  is asked on the event loop, which must never wait on the database server).
- Errors about the server (down, restarting, unreachable, pool exhausted) become one `unavailable` refusal;
  a lock or statement that timed out, a deadlock, `busy`. Nothing is half-written: a transaction commits whole
  or not at all. The pool retries a lost connection for RECONNECT seconds, then gives it up; the next call
  connects afresh, so a hub writes again within about a second of the server coming back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from team_table.errors import Busy, Unavailable
from team_table.store.base import Dialect, WouldWait, refuse_nul
from team_table.store.postgres_rows import rows_of, translate
from team_table.store.postgres_schema import MIGRATIONS
from team_table.store.postgres_urls import shown

log = logging.getLogger(__name__)

POSTGRES = Dialect(name="postgresql", greatest="GREATEST", unread_index="", skip_locked=" FOR UPDATE SKIP LOCKED",
                   for_update=" FOR UPDATE")
EVENT_LOG = 0x7465616D  # the advisory lock a transaction holds from appending its events to its commit ('team')
CHANNEL = "team_table"
CONNECT_TIMEOUT = 10
POOL_WAIT = 5.0  # seconds a call waits for a pooled connection before it is refused `unavailable`
RECONNECT = 2.0  # seconds the pool retries a lost connection before giving it up (a later call connects afresh)
LOCK_TIMEOUT = 5.0  # seconds a statement waits for a lock (another replica's) before the call is refused `busy`
STATEMENT_TIMEOUT = 30.0  # seconds any one statement may run
IDLE_IN_TRANSACTION = 15.0  # seconds a session may sit in a transaction waiting for its hub (which froze, or lost
#                             its network) before the server ends it and frees its locks; a workflow step that
#                             starts the template process inside its transaction takes up to 10 s
SCHEMA_LOCK = "schema"  # Tx.lock key of whatever changes the schema or fills a new database (migrate)
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
SESSION = (f"SET lock_timeout = '{LOCK_TIMEOUT:g}s'; SET statement_timeout = '{STATEMENT_TIMEOUT:g}s';"
           f" SET idle_in_transaction_session_timeout = '{IDLE_IN_TRANSACTION:g}s';"
           " SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3")


class PgTx:
    """One write transaction on one pooled connection."""

    __slots__ = ("_conn", "tail")

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.tail: list[tuple[str, Sequence[Any]]] = []  # statements to run at commit, in commit order

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        refuse_nul(params)
        return self._conn.execute(translate(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        rows = list(rows)
        for row in rows:
            refuse_nul(row)
        cursor = self._conn.cursor()
        cursor.executemany(translate(sql), rows)
        return cursor

    def lock(self, key: str) -> None:
        self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (key,))

    def append(self, sql: str, params: Sequence[Any] = ()) -> None:
        refuse_nul(params)
        self.tail.append((sql, tuple(params)))

    def commit(self, psycopg: Any) -> None:
        """COMMIT; with appended statements, in one message that the server runs whole without waiting on this
        process: the event-log lock, the statements, the notification, the commit."""
        if not self.tail:
            self._conn.execute("COMMIT")
            return
        sql = "; ".join(["SELECT pg_advisory_xact_lock(%s)", *(translate(s) for s, _ in self.tail),
                         "SELECT pg_notify(%s, '')", "COMMIT"])
        params = [EVENT_LOG, *(value for _, values in self.tail for value in values), CHANNEL]
        psycopg.ClientCursor(self._conn).execute(sql, params)


class PostgresStore:
    """A PostgreSQL database shared by every hub process (replica) on it."""

    dialect = POSTGRES

    def __init__(self, url: str, *, pool_size: int = 10, read_only: bool = False) -> None:
        import psycopg
        from psycopg_pool import ConnectionPool

        self._psycopg = psycopg
        self.conninfo = url
        self.url = shown(url)
        self.read_only = read_only
        self.parallel = pool_size  # how many calls may use the database at once in this process
        self.on_commit: Callable[[], None] | None = None
        self.unwritable: str | None = None
        self.last_commit = 0.0
        self._local = threading.local()
        self._watchers: list[Callable[[], None]] = []
        self._notified = 0
        self._newest = 0
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None
        self._warned_async = False
        options = "-c default_transaction_read_only=on" if read_only else None
        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, open=False, name="team-table", timeout=POOL_WAIT,
            check=ConnectionPool.check_connection, configure=self._configure, reconnect_timeout=RECONNECT,
            kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": rows_of,
                    "connect_timeout": CONNECT_TIMEOUT, "application_name": application_name(), **KEEPALIVES,
                    **({"options": options} if options else {})})

    def _configure(self, conn: Any) -> None:
        """Each new connection: its time limits and keepalives, and synchronous_commit on (a database set to `off`
        acknowledges writes a crash of the server may lose: said once, and overridden for the hub's sessions)."""
        conn.execute(SESSION)
        if conn.execute("SELECT current_setting('synchronous_commit')").fetchone()[0] == "off":
            conn.execute("SET synchronous_commit = on")
            if not self._warned_async:
                self._warned_async = True
                log.warning("the database %s has synchronous_commit = off, which can lose acknowledged writes if "
                            "its server crashes: the hub sets it on for its own sessions", self.url)

    @classmethod
    def open(cls, url: str, *, pool_size: int = 10, read_only: bool = False) -> PostgresStore:
        try:
            store = cls(url, pool_size=pool_size, read_only=read_only)
        except ImportError:
            raise Unavailable("A PostgreSQL database needs the PostgreSQL driver: install team-table[postgresql] "
                              "(psycopg and psycopg-pool).") from None
        try:
            store._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except Exception as exc:
            store._pool.close()
            raise Unavailable(f"Cannot reach the PostgreSQL database {store.url} ({_first_line(exc)}): check that "
                              "the server runs, the URL, and the password (PGPASSWORD or ~/.pgpass).") from None
        try:
            if read_only:
                store._check_current()
            else:
                store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=0.05)  # it ends by itself within a second (a daemon thread)
        self._pool.close()

    @contextmanager
    def _mapped(self) -> Iterator[None]:
        """The server's troubles (down, restarting, unreachable, no connection free) become one refusal; a wait for
        a lock that timed out, a deadlock or a statement cut short, another (the call may simply be tried again)."""
        from psycopg_pool import PoolTimeout

        errors = self._psycopg.errors
        try:
            yield
        except (errors.LockNotAvailable, errors.DeadlockDetected, errors.SerializationFailure,
                errors.QueryCanceled) as exc:
            log.warning("a call gave up on the database %s: %s", self.url, _first_line(exc))
            raise Busy("The hub's database is busy right now (another call holds what this one needs); nothing was "
                       "changed. Try the call again.") from None
        except (self._psycopg.OperationalError, errors.IdleInTransactionSessionTimeout, PoolTimeout) as exc:
            why = _first_line(exc)
            self.unwritable = why
            log.error("the database %s cannot be used: %s", self.url, why)
            raise Unavailable(f"The hub's database server cannot be used right now ({why}); nothing was changed. "
                              "Try again shortly: the hub reconnects by itself.") from None

    @contextmanager
    def without_waiting(self) -> Iterator[None]:
        """Every statement waits on the server (and maybe for a pooled connection): none is done on the event loop."""
        raise WouldWait
        yield

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        current = getattr(self._local, "tx", None)
        if current is not None:  # inside this thread's write: read what it wrote
            return current.execute(sql, params).fetchall()
        refuse_nul(params)
        with self._mapped(), self._pool.connection() as conn:
            # (psycopg asks for a LiteralString; this is the domain's own SQL, values always go as parameters)
            return conn.execute(translate(sql), tuple(params)).fetchall()  # pyright: ignore[reportArgumentType]

    @contextmanager
    def write(self) -> Iterator[PgTx]:
        """One write transaction (READ COMMITTED), run beside every other one. A write opened inside another on
        the same thread joins it."""
        current = getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        with self._mapped(), self._pool.connection() as conn, self._transaction(conn) as tx:
            yield tx
            tx.commit(self._psycopg)
        self.last_commit = time.monotonic()
        self.unwritable = None
        if self.on_commit is not None:
            self.on_commit()

    @contextmanager
    def rehearse(self) -> Iterator[PgTx]:
        """A write transaction that is always rolled back (dry runs)."""
        with self._mapped(), self._pool.connection() as conn, self._transaction(conn) as tx:
            yield tx

    @contextmanager
    def _transaction(self, conn: Any) -> Iterator[PgTx]:
        """BEGIN, this thread's transaction while the block runs, and ROLLBACK unless the block committed."""
        conn.execute("BEGIN")
        tx = PgTx(conn)
        self._local.tx = tx
        try:
            yield tx
        finally:
            self._local.tx = None
            if conn.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE:
                with suppress(self._psycopg.Error):  # the connection broke: the pool discards it
                    conn.execute("ROLLBACK")

    def migrate(self) -> list[str]:
        """Apply every migration not yet recorded, under the schema's lock: replicas starting together apply each
        one once."""
        applied: list[str] = []
        with self.write() as conn:
            conn.lock(SCHEMA_LOCK)
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migration ("
                         " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
            done = {row[0] for row in conn.execute("SELECT version FROM schema_migration")}
            for migration in MIGRATIONS:
                if migration.version in done:
                    continue
                for statement in migration.sql.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute("INSERT INTO schema_migration (version, name, applied_at) VALUES"
                             " (?, ?, to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
                             " || '+00:00')", (migration.version, migration.name))
                applied.append(migration.name)
        if applied:
            log.info("database %s upgraded: %s", self.url, ", ".join(applied))
        return applied

    def _check_current(self) -> None:
        try:
            rows = self.query("SELECT MAX(version) FROM schema_migration")
        except self._psycopg.errors.UndefinedTable:
            rows = [(None,)]
        if rows[0][0] != MIGRATIONS[-1].version:
            raise Unavailable(f"The database {self.url} was made by another version of team-table (or by none): "
                              "start the hub once (`team-table up`) so it can bring the schema up to date.")

    def is_empty(self) -> bool:
        """No member, message, task or event yet (a target for `team-table migrate`)."""
        return not any(self.query(f"SELECT 1 FROM {table} LIMIT 1")
                       for table in ("member", "message", "task", "event", "audit"))

    # -- changes made by other processes ------------------------------------------------------------------

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the listener's thread) whenever another process commits new events."""
        self._watchers.append(callback)
        self._listening()

    def _listening(self) -> None:
        if self._listener is None:
            self._listener = threading.Thread(target=self._listen, name="team-table-listen", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        from psycopg.conninfo import make_conninfo

        psycopg = self._psycopg
        while not self._stop.is_set():
            try:
                conninfo = make_conninfo(self.conninfo, connect_timeout=CONNECT_TIMEOUT,
                                         application_name=application_name(), **KEEPALIVES)
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        # Once a second (and first of all: what was committed while nobody listened), whatever
                        # the notifications said: a dropped note delays an event, never loses it.
                        newest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM event").fetchone()
                        self._newest = newest[0] if newest is not None else 0  # (an aggregate: always one row)
                        self._changed()
                        for _note in conn.notifies(timeout=1.0):  # each commit's note wakes the listeners at once
                            self._notified += 1
                            self._changed()
                            if self._stop.is_set():
                                break
            except psycopg.Error as exc:
                if not self._stop.is_set():
                    log.warning("listening for changes on %s failed (%s); again in 1 s", self.url, _first_line(exc))
                    self._stop.wait(1.0)

    def _changed(self) -> None:
        for callback in list(self._watchers):
            callback()

    def version(self) -> int:
        """Moves when a notification arrives, and when the newest event id moved (read once a second by the
        listening thread, started here if nothing watches yet). Never waits on the server."""
        self._listening()
        return self._notified + self._newest

    def probe(self, fresh: float = 5.0) -> str | None:
        """Can the database be written now? None if so, else why."""
        if self.read_only:
            return "opened read-only"
        if self.unwritable is None and time.monotonic() - self.last_commit < fresh:
            return None
        try:
            with self.write() as conn:  # a transaction id and its commit record: written, but no row to wait on
                conn.execute("SELECT pg_current_xact_id()")
        except (Unavailable, Busy) as exc:
            return exc.message
        return None

    def checkpoint(self) -> None:
        """Nothing to fold back: the server keeps its own log."""


def application_name() -> str:
    """How the server lists this process's sessions (pg_stat_activity): which replica holds what."""
    return f"team-table {os.getpid()}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
