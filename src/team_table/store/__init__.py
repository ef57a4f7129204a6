"""Where the table is kept: one store interface (base.Store), SQLite behind it by default."""

from __future__ import annotations

from pathlib import Path

from team_table.store.base import Dialect, Store, Tx, placeholders
from team_table.store.sqlite import SqliteStore

__all__ = ["Dialect", "Store", "Tx", "open_store", "placeholders"]


def open_store(path: Path, *, synchronous: str = "full", read_only: bool = False) -> Store:
    """Open the table's database (migrated, unless read-only)."""
    return SqliteStore.open(path, synchronous=synchronous, read_only=read_only)
