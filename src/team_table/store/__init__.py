"""Where the table is kept: one store interface (base.Store), SQLite by default, PostgreSQL for a database server
shared by several hub processes (a `postgresql://` URL)."""

from __future__ import annotations

from pathlib import Path

from team_table.store.base import Dialect, Store, Tx, WouldWait, placeholders, run_from_loop
from team_table.store.postgres_urls import is_url
from team_table.store.sqlite import SqliteStore

__all__ = ["Dialect", "Store", "Tx", "WouldWait", "is_url", "open_store", "placeholders", "run_from_loop"]


def open_store(where: Path | str, *, synchronous: str = "full", read_only: bool = False, pool_size: int = 10,
               hear_others: bool = False) -> Store:
    """Open the table's database (migrated, unless read-only): a SQLite file, or a PostgreSQL URL. `hear_others`:
    a SQLite file's writes by other processes wake this one (inotify), for processes that share the file and
    mostly wait (stdio hubs); others poll while someone listens."""
    if is_url(where):
        from team_table.store.postgres import PostgresStore

        return PostgresStore.open(str(where), pool_size=pool_size, read_only=read_only)
    store = SqliteStore.open(Path(where), synchronous=synchronous, read_only=read_only)
    store.hear_others = hear_others
    return store
