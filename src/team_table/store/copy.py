"""Copying a SQLite hub's table into an empty PostgreSQL database (`team-table migrate`): all of it, or nothing.

The SQLite file is read in one read transaction, so every table is read as it was at one moment. The PostgreSQL
database is written in one transaction, under the hub's write lock, with COPY, table by table in foreign-key order
(postgres_schema.TABLES). Columns are matched by name: a column on one side only is an error, never dropped. Then
each identity continues after the highest id SQLite ever gave (its sqlite_sequence: the ids of pruned events or
purged messages are not given again), and each table's count is checked on both sides before the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from team_table.errors import Conflict, Invalid
from team_table.store.base import NUL, placeholders
from team_table.store.postgres import CONNECT_TIMEOUT, SCHEMA_LOCK, PgTx, PostgresStore
from team_table.store.postgres_schema import TABLES
from team_table.store.postgres_urls import shown
from team_table.store.sqlite import SqliteStore
from team_table.store.sqlite_file import only_user

BATCH = 5000  # rows read from SQLite at a time
OWN_TABLES = {"schema_migration"}  # each database keeps its own (and SQLite its sqlite_* tables)
LEGACY = "legacy_"  # team-table 0.2.1's tables, kept aside by SQLite's migration 2 and read by nothing: not copied
MAKE_ONE = "Migrate into an empty database, e.g. `createdb team_table_new`, and give its URL to --to."
SAME_VERSION = ("Both must have this team-table version's schema: migrate with the version whose hubs use the file, "
                "into a database no other version made.")


@dataclass(frozen=True)
class Plan:
    """One table to copy: its columns (by name, on both sides), how each value goes across, and its rows."""

    table: str
    columns: tuple[str, ...]
    convert: tuple[Callable[[Any], Any], ...]
    key: str  # the SQLite order the rows are read in, in batches
    rows: int  # in the snapshot
    identity: str | None
    issued: int  # the highest id SQLite ever gave the table (0: none, or no identity)


@dataclass(frozen=True)
class Copied:
    """What was copied: rows per table (counted on both sides), the SQLite tables that were not, and how many
    texts had their NUL characters replaced (only when asked to)."""

    counts: tuple[tuple[str, int], ...]
    left_behind: tuple[str, ...]
    replaced: int = 0

    @property
    def total(self) -> int:
        return sum(rows for _, rows in self.counts)


def open_target(url: str) -> PostgresStore:
    """The PostgreSQL database to copy into, migrated; refused when it holds tables team-table did not make (they
    are some other program's, and migrating would add the hub's tables beside them)."""
    others = sorted(_tables_at(url) - OWN_TABLES - {table for table, _ in TABLES})
    if others:
        raise Conflict(f"The database {shown(url)} holds tables that are not team-table's "
                       f"({', '.join(others[:5])}{', ...' if len(others) > 5 else ''}): nothing was changed. "
                       f"{MAKE_ONE}")
    return PostgresStore.open(url, pool_size=2)


def copy_table(source: SqliteStore, target: PostgresStore, *, now: float, replace_nul: bool = False) -> Copied:
    """Copy every table of the SQLite file into the empty, migrated PostgreSQL database, in one transaction.
    Refused while any other process has the file open for writing (a hub, stdio or network: what it wrote after
    the copy would be lost), or holds a job lease on it (`now`, seconds since the epoch). Text holding a NUL
    character (which PostgreSQL cannot store) is refused by its table and row, or with `replace_nul` copied with
    each NUL replaced by U+FFFD."""
    fixed = Fixed(replace_nul)
    with only_user(source.path), _snapshot(source):
        _refuse_running_hub(source, now)
        plans, left_behind = _plans(source, target)
        with target.write() as tx:
            tx.lock(SCHEMA_LOCK)  # a hub starting on the target meanwhile waits for the copy to commit
            tx.execute("SET LOCAL statement_timeout = 0")  # a large table is one long COPY
            tx.execute("SET LOCAL idle_in_transaction_session_timeout = 0")  # SQLite is read between tables
            _refuse_rows(tx, target.url)
            tx.execute(f"DELETE FROM workflow_state WHERE {SEEDED}")
            for plan in plans:
                _copy(source, tx, plan, fixed)
            for plan in plans:
                if plan.identity is not None:
                    tx.execute(f"SELECT setval(pg_get_serial_sequence(?, ?), GREATEST(COALESCE(MAX({plan.identity}),"
                               f" 0), ?) + 1, false) FROM {plan.table}", (plan.table, plan.identity, plan.issued))
            _check_counts(tx, plans)
    return Copied(tuple((plan.table, plan.rows) for plan in plans), left_behind, fixed.count)


@contextmanager
def _snapshot(source: SqliteStore) -> Iterator[None]:
    """One read transaction on the store's one connection: every read in it sees the file as of the first one."""
    source.query("BEGIN")
    try:
        yield
    finally:
        source.query("ROLLBACK")


def _refuse_running_hub(source: SqliteStore, now: float) -> None:
    """A running hub holds a job lease (its heartbeat job, within 15 s of starting); what it writes after the
    snapshot would not be copied."""
    rows = source.query("SELECT name, until FROM job_lease WHERE until > ? ORDER BY until DESC LIMIT 1", (now,))
    if rows:
        until = datetime.fromtimestamp(rows[0]["until"], UTC).isoformat(timespec="seconds")
        raise Conflict(f"A hub is running on {source.url}: it holds the {rows[0]['name']} job until {until}. Stop "
                       "every hub on the file first (what they write after the copy would be lost), then migrate "
                       "again; a hub that was killed lets its jobs go by then. Nothing was copied.")


def _plans(source: SqliteStore, target: PostgresStore) -> tuple[list[Plan], tuple[str, ...]]:
    """What to copy, checked against both schemas: every table of TABLES, with the same columns on both sides."""
    made = {row["name"]: row["sql"] for row in source.query("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
    issued = {row["name"]: row["seq"] for row in source.query("SELECT name, seq FROM sqlite_sequence")} \
        if "sqlite_sequence" in made else {}
    types: dict[str, dict[str, str]] = {}
    for row in target.query("SELECT table_name, column_name, data_type FROM information_schema.columns"
                            " WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"):
        types.setdefault(row["table_name"], {})[row["column_name"]] = row["data_type"]
    listed = {table for table, _ in TABLES}
    unknown = sorted(t for t in set(made) - listed - OWN_TABLES if not t.startswith((LEGACY, "sqlite_")))
    if unknown:
        raise Invalid(f"The SQLite file {source.url} has tables migrate does not know ({', '.join(unknown)}): "
                      "nothing was copied. Use the team-table version that made the file.")
    plans = []
    for table, identity in TABLES:
        if table not in made or table not in types:
            side = "the SQLite file" if table not in made else "the PostgreSQL database"
            raise Invalid(f"The table {table} is missing from {side}: nothing was copied. {SAME_VERSION}")
        columns = [row["name"] for row in source.query(f"PRAGMA table_info({table})")]
        _same_columns(table, columns, list(types[table]))
        plans.append(Plan(
            table=table, columns=tuple(columns), convert=tuple(CONVERT.get(types[table][c], _as_is) for c in columns),
            key=_read_order(source, table, made[table]),
            rows=source.query(f"SELECT COUNT(*) FROM {table}")[0][0], identity=identity,
            issued=issued.get(table, 0) if identity else 0))
    return plans, tuple(sorted(t for t in made if t.startswith(LEGACY)))


def _same_columns(table: str, sqlite: list[str], postgres: list[str]) -> None:
    for missing, side in ((set(sqlite) - set(postgres), "PostgreSQL"), (set(postgres) - set(sqlite), "SQLite")):
        if missing:
            raise Invalid(f"The column {table}.{sorted(missing)[0]} is missing on the {side} side: nothing was copied. "
                          f"{SAME_VERSION}")


def _read_order(source: SqliteStore, table: str, sql: str) -> str:
    """The rowid (never NULL, even where an old primary key may be), or the primary key of a WITHOUT ROWID table."""
    if "WITHOUT ROWID" not in sql.upper():
        return "rowid"
    key = sorted((row["pk"], row["name"]) for row in source.query(f"PRAGMA table_info({table})") if row["pk"])
    return ", ".join(_quoted(name) for _, name in key)


# A new database holds one row: the workflow engine's place, at the start (the source's own replaces it).
SEEDED = "key = 'events' AND value = '0'"
NOT_SEEDED = f" WHERE NOT ({SEEDED})"


def _refuse_rows(tx: PgTx, url: str) -> None:
    """The target holds nothing yet (counted inside the copy's transaction, under the write lock)."""
    counts = tx.execute(" UNION ALL ".join(f"SELECT '{table}', COUNT(*) FROM {table}" + (NOT_SEEDED if table ==
                                           "workflow_state" else "") for table, _ in TABLES))
    held = [f"{count} in {table}" for table, count in counts.fetchall() if count]
    if held:
        raise Conflict(f"The database {url} already holds a table ({held[0].replace(' in ', ' rows in ', 1)}"
                       f"{''.join(', ' + h for h in held[1:])}): nothing was copied. "
                       f"{MAKE_ONE}")


@dataclass
class Fixed:
    """Whether NUL characters are replaced, and in how many texts they were."""

    replace: bool
    count: int = 0

    def text(self, value: str) -> str:
        if self.replace and NUL in value:
            self.count += 1
            return value.replace(NUL, "\ufffd")
        return value


def _copy(source: SqliteStore, tx: PgTx, plan: Plan, fixed: Fixed) -> None:
    import psycopg

    names = ", ".join(_quoted(c) for c in plan.columns)
    try:
        # COPY is on the transaction's own connection (PgTx offers statements only).
        with tx._conn.cursor() as cursor, cursor.copy(f"COPY {plan.table} ({names}) FROM STDIN") as copy:
            for key, row in _rows(source, plan):
                copy.write_row(_converted(plan, key, row, fixed))
    except (psycopg.errors.IntegrityError, psycopg.errors.DataError) as exc:
        why = str(exc).strip().splitlines()[0]
        raise Invalid(f"The table {plan.table} cannot go into PostgreSQL as it is in the SQLite file ({why}): nothing "
                      "was copied. Fix or remove the rows it names in the SQLite file, then migrate again.") from None


def _rows(source: SqliteStore, plan: Plan) -> Iterator[tuple[tuple, tuple]]:
    """The table's rows (each with its key) in batches, each batch after the last key of the one before (no OFFSET
    scans)."""
    width = plan.key.count(",") + 1
    select = f"SELECT {plan.key}, {', '.join(_quoted(c) for c in plan.columns)} FROM {plan.table}"
    after: tuple = ()
    while True:
        where = f" WHERE ({plan.key}) > ({placeholders(after)})" if after else ""
        batch = source.query(f"{select}{where} ORDER BY {plan.key} LIMIT {BATCH}", after)
        for row in batch:
            yield tuple(row)[:width], tuple(row)[width:]
        if len(batch) < BATCH:
            return
        after = tuple(batch[-1])[:width]


def _converted(plan: Plan, key: tuple, row: tuple, fixed: Fixed) -> tuple:
    values = []
    for column, convert, value in zip(plan.columns, plan.convert, row, strict=True):
        if isinstance(value, str):
            value = fixed.text(value)
        try:
            values.append(None if value is None else convert(value))
        except ValueError as exc:
            where = f"{plan.table} {plan.key} {', '.join(map(str, key))}"
            way_out = (" Run migrate again with --replace-nul to copy it with each NUL replaced by U+FFFD, or fix"
                       " the row in the SQLite file." if "NUL" in str(exc)
                       else " Fix the row in the SQLite file, then migrate again.")
            raise Invalid(f"The row {where} cannot go into PostgreSQL: its {column} {exc}. Nothing was copied."
                          f"{way_out}") from None
    return tuple(values)


def _check_counts(tx: PgTx, plans: list[Plan]) -> None:
    counts = dict(tx.execute(" UNION ALL ".join(f"SELECT '{p.table}', COUNT(*) FROM {p.table}" for p in plans))
                  .fetchall())
    for plan in plans:
        if counts[plan.table] != plan.rows:
            raise Conflict(f"The table {plan.table} has {plan.rows} rows in the SQLite file but {counts[plan.table]} "
                           "were written to PostgreSQL: nothing was copied (the transaction was rolled back).")


def _tables_at(url: str) -> set[str]:
    """The tables of the target's schema; none when it cannot be reached (opening it then says why)."""
    try:
        import psycopg
    except ImportError:
        return set()
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT) as conn:
            return {row[0] for row in conn.execute("SELECT table_name FROM information_schema.tables"
                                                   " WHERE table_schema = current_schema()")}
    except psycopg.OperationalError:
        return set()


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# How a SQLite value goes into a PostgreSQL column of each type; SQLite keeps booleans as integers, timestamps as
# text (the PostgreSQL schema too). A value that does not fit raises ValueError: nothing is guessed.
def _integer(value: Any) -> int:
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return int(value)
    raise ValueError(f"is {value!r}, not a whole number")


def _real(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    raise ValueError(f"is {value!r}, not a number")


def _boolean(value: Any) -> bool:
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    raise ValueError(f"is {value!r}, not 0 or 1")


def _text(value: Any) -> str:
    if isinstance(value, str) and "\x00" not in value:
        return value
    if isinstance(value, int | float):
        return str(value)
    raise ValueError("holds a NUL character, which PostgreSQL text cannot" if isinstance(value, str)
                     else f"is binary ({len(value)} bytes), not text")


def _as_is(value: Any) -> Any:
    return value


CONVERT: dict[str, Callable[[Any], Any]] = {
    "bigint": _integer, "integer": _integer, "smallint": _integer, "double precision": _real, "real": _real,
    "boolean": _boolean, "text": _text,
}
