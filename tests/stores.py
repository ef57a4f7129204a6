"""Which database engine a test runs on, and a fresh database of that engine for it.

Every test runs on SQLite; with TEAM_TABLE_TEST_POSTGRES set to a PostgreSQL server's URL (a role that may
create databases, e.g. postgresql://postgres@127.0.0.1:5432/postgres), every test runs on PostgreSQL too, each
on a database of its own (copied from a migrated template, then dropped). `.ci/run` starts such a server.
Tests of SQLite's own file (its disk, its locks, its WAL) are marked `sqlite_only`.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import LiteralString, cast
from urllib.parse import urlsplit, urlunsplit

from psycopg import sql

SERVER = os.environ.get("TEAM_TABLE_TEST_POSTGRES", "").strip()
ENGINES = ["sqlite", *(["postgresql"] if SERVER else [])]
TEMPLATE = f"tt_template_{os.getpid()}"

_engine = "sqlite"
_made: dict[Path, str] = {}
_names = itertools.count(1)
_template_ready = False
_free: list[str] = []  # databases of earlier tests, emptied, ready for the next
_reusable: set[str] = set()  # the databases made from the template (emptied and reused, dropped at the end)


def use(engine: str) -> None:
    global _engine
    _engine = engine


def engine() -> str:
    return _engine


def on_postgres() -> bool:
    return _engine == "postgresql"


def _url(database: str) -> str:
    parts = urlsplit(SERVER)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _admin():
    import psycopg

    return psycopg.connect(SERVER, autocommit=True)


def _template() -> None:
    """A database migrated once, that each test's database is copied from (much faster than migrating)."""
    global _template_ready
    if _template_ready:
        return
    from team_table.store.postgres import PostgresStore

    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEMPLATE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(TEMPLATE)))
    PostgresStore.open(_url(TEMPLATE), pool_size=1).close()
    _template_ready = True


def table_db(folder: Path) -> str:
    """The database of the test's table kept in `folder`: a SQLite file there, or a PostgreSQL database for it
    (the same one each time it is asked for the same folder)."""
    folder = Path(folder)
    if not on_postgres():
        return str(folder / "db" / "team.db")
    if folder not in _made:
        if _free:
            _made[folder] = _free.pop()
        else:
            _template()
            name = f"tt_{os.getpid()}_{next(_names)}"
            with _admin() as conn:
                conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                              sql.Identifier(TEMPLATE)))
            _made[folder] = _url(name)
            _reusable.add(_made[folder])
    return _made[folder]


def empty_db(folder: Path) -> str:
    """A new PostgreSQL database with nothing in it, not even the schema (as a first replica finds it)."""
    name = f"tt_{os.getpid()}_{next(_names)}"
    with _admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    _made[Path(folder)] = _url(name)
    return _made[Path(folder)]


def drop_made() -> None:
    """After a test: its databases emptied for the next test (copying a database takes 0.4 s; emptying one, a
    few milliseconds) to what a new one holds (the workflow engine's place at 0), or dropped if they were not
    made from the template."""
    if not _made:
        return
    from team_table.store.postgres_schema import TABLES

    with _admin() as admin:
        for url in _made.values():
            name = urlsplit(url).path.lstrip("/")
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s"
                          " AND pid <> pg_backend_pid()", (name,))
            if url not in _reusable:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                continue
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:  # DELETE: far quicker than TRUNCATE on tiny tables
                conn.execute(cast(LiteralString, "; ".join([  # the schema's own table names, no input
                    *(f"DELETE FROM {table}" for table, _ in reversed(TABLES)),
                    *(f"ALTER TABLE {table} ALTER COLUMN {column} RESTART" for table, column in TABLES if column),
                    "INSERT INTO workflow_state (key, value) VALUES ('events', '0')"])))
            _free.append(url)
    _made.clear()


def drop_all() -> None:
    """At the end of the run: every database this run made, and the template."""
    names = [urlsplit(url).path.lstrip("/") for url in _reusable] + ([TEMPLATE] if _template_ready else [])
    if names:
        with _admin() as conn:
            for name in names:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
