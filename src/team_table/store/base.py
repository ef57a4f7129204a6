"""The seam between the domain and a database engine: what every store offers, and where dialects differ.

Domain modules own their SQL and write it once, in the subset both engines speak: `?` placeholders,
`INSERT ... ON CONFLICT`, `RETURNING`, `IS DISTINCT FROM`. The few places where the engines differ are
named in `Dialect`, written once per engine, and used by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol
from weakref import WeakKeyDictionary

import anyio

from team_table.errors import Invalid


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...  # read-only (as sqlite3's and psycopg's cursors have it)

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """One write transaction: statements run in it commit together, or not at all."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any: ...

    def lock(self, key: str) -> None:
        """Serialize this transaction with every other one that locks `key`, until it ends (for a resource with no
        row to lock: an agent's rate count, a schedule, the config). SQLite runs one writer at a time anyway."""

    def append(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run this INSERT last, at commit, in commit order with every other transaction's appended rows (the
        event log: readers that read past an id never miss a row committed later with a smaller one), and tell
        the other processes on the database, once it commits, that there are new events."""


@dataclass(frozen=True)
class Dialect:
    """The SQL fragments that differ between engines, one value per engine."""

    name: str
    greatest: str  # the larger of two values: '{greatest}(a, b)'
    unread_index: str  # a hint that reads a member's unread deliveries from their partial index
    skip_locked: str  # appended to a SELECT that picks one row of several that others may be picking too
    for_update: str  # appended to a SELECT of rows the transaction then changes on what it read


class Store(Protocol):
    """A database every hub process on it shares. Rows read by key (`row["name"]`) or by position."""

    dialect: Dialect
    on_commit: Callable[[], None] | None
    url: str  # where it is, for logs and messages (never with a password)
    parallel: int  # how many calls of this process may use it at once (worker threads worth having)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    def write(self) -> AbstractContextManager[Tx]: ...

    def rehearse(self) -> AbstractContextManager[Tx]: ...

    def migrate(self) -> list[str]: ...

    def version(self) -> int:
        """A number that changes whenever any process commits a change (cheap to read)."""
        ...

    def watch(self, callback: Callable[[], None]) -> bool | None:
        """Call `callback`, from any thread, when another process commits events (stores that cannot tell never
        call it: their version() is polled). SQLite says whether it can (True, False); PostgreSQL always can, by
        its listener thread, and says nothing (None)."""
        ...

    def probe(self) -> str | None:
        """None when the database can be written now, else why not."""
        ...

    def without_waiting(self) -> AbstractContextManager[None]:
        """This thread (the event loop) may not wait: a statement that would wait raises WouldWait first."""
        ...

    def checkpoint(self) -> None: ...

    def close(self) -> None: ...


class WouldWait(BaseException):
    """Raised by a store, in work done where it may not wait, before it would wait (for a lock, a pooled connection,
    a server): nothing was written, and the same work can be done again where waiting is fine. A BaseException, so
    that no `except Exception` of the work takes it for the work's own failure."""


async def run_from_loop(store: Store, work: Callable[[], Any]) -> Any:
    """Database work asked for on the event loop: done right here when the store can do it without waiting (it
    saves handing the work to a thread and back, the larger part of a short call's cost), else on a worker thread."""
    try:
        with store.without_waiting():
            return work()
    except WouldWait:
        return await anyio.to_thread.run_sync(work, limiter=threads_of(store))


_threads: WeakKeyDictionary[Any, anyio.CapacityLimiter] = WeakKeyDictionary()


def threads_of(store: Store) -> anyio.CapacityLimiter:
    """The worker threads for a store's work that could not be done on the event loop, whoever asks (the calls,
    the push fan-out, the jobs' looks): as many as the store can use at once, one for SQLite's connection, the pool's
    size for PostgreSQL. More would only queue on its locks, each a thread with its stack and its malloc arena (under
    16 agents a hub had grown to 14 threads)."""
    limiter = _threads.get(store)
    if limiter is None:
        limiter = _threads[store] = anyio.CapacityLimiter(store.parallel)
    return limiter


NUL = "\x00"


def refuse_nul(params: Sequence[Any] | dict) -> None:
    """Text with a NUL character is refused by both engines alike (PostgreSQL's text cannot hold one): the one
    rule, for every statement, before anything is read or written."""
    for value in params.values() if isinstance(params, dict) else params:
        if isinstance(value, str) and NUL in value:
            raise Invalid("Text with a NUL character (\\x00) cannot be stored; remove it and try again. Nothing was "
                          "changed.")


def placeholders(values: Sequence[Any]) -> str:
    """'?, ?, ?' for an IN list of these values (at least one)."""
    return ", ".join("?" * len(values)) if values else "NULL"
