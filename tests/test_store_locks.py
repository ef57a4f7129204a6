"""Writes side by side: what the store serializes (the event log's order, Tx.lock's key, a row being changed) and
what it does not (everything else), and the time limits that keep one stuck session from stopping the others.

On SQLite one writer runs at a time, so only the serializing half applies there; on PostgreSQL writes of every
replica run in parallel, and these tests hold one transaction open in a thread while another runs beside it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from psycopg import sql

import stores
from store_notes import NOTE
from team_table import events
from team_table.errors import Busy, Invalid
from team_table.store import Store, open_store

postgres_only = pytest.mark.postgres_only


@contextmanager
def store_at(tmp_path: Path) -> Iterator[Store]:
    store = open_store(stores.table_db(tmp_path))
    try:
        yield store
    finally:
        store.close()


class Held:
    """A write transaction held open in a thread until `release()`: what a slow (or frozen) writer looks like."""

    def __init__(self, store: Store, work: Callable[[Any], None]) -> None:
        self.inside, self.go, self.done = threading.Event(), threading.Event(), threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(store, work), daemon=True)
        self.thread.start()
        assert self.inside.wait(10), "the held transaction did not start"

    def _run(self, store: Store, work: Callable[[Any], None]) -> None:
        try:
            with store.write() as tx:
                work(tx)
                self.inside.set()
                assert self.go.wait(20)
        except BaseException as exc:  # seen by the test through .error
            self.error = exc
            self.inside.set()
        finally:
            self.done.set()

    def release(self) -> None:
        self.go.set()
        assert self.done.wait(20), "the held transaction did not end"
        if self.error is not None:
            raise self.error


def in_thread(work: Callable[[], Any]) -> tuple[threading.Event, list]:
    """Run `work` in a thread: an event set when it returns, and its result (or error) in the list."""
    finished, out = threading.Event(), []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:
            out.append(exc)
        finally:
            finished.set()

    threading.Thread(target=run, daemon=True).start()
    return finished, out


def note(store: Store, key: str) -> None:
    with store.write() as tx:
        tx.execute("INSERT INTO context_entry (key, value, set_by, updated_at) VALUES (?, 'v', 'test', 'now')", (key,))


@postgres_only
def test_writes_to_different_rows_run_side_by_side_while_another_transaction_is_open(tmp_path):
    with store_at(tmp_path) as store:
        held = Held(store, lambda tx: tx.execute(
            "INSERT INTO context_entry (key, value, set_by, updated_at) VALUES ('held', 'v', 'test', 'now')"))
        try:
            finished, out = in_thread(lambda: note(store, "beside"))
            assert finished.wait(3), "a write that touches nothing the open transaction holds had to wait for it"
            assert out == [None]
        finally:
            held.release()
        assert {r[0] for r in store.query("SELECT key FROM context_entry")} == {"held", "beside"}


@postgres_only
def test_event_ids_follow_commit_order_so_a_reader_never_skips_an_event_committed_late(tmp_path):
    with store_at(tmp_path) as store:
        start = events.last_id(store)
        early = Held(store, lambda tx: events.emit(tx, "now", NOTE, cast(Any, {"n": "first begun"})))
        try:
            finished, out = in_thread(lambda: _emit(store, "second begun"))
            assert finished.wait(3) and out == [None], out
            seen = events.tail(store, start)  # a reader between the two commits
            assert [e.data["n"] for e in seen] == ["second begun"]
        finally:
            early.release()
        rest = events.tail(store, seen[-1].id)  # it reads on after what it saw, and misses nothing
        assert [e.data["n"] for e in rest] == ["first begun"]
        assert rest[0].id > seen[-1].id, "an event committed later got a smaller id than one already read"


def _emit(store: Store, n: str) -> None:
    with store.write() as tx:
        events.emit(tx, "now", NOTE, cast(Any, {"n": n}))


@pytest.mark.parametrize("same_key", [True, False], ids=["same key", "other key"])
def test_a_transaction_lock_makes_transactions_on_one_key_take_turns_and_no_others(tmp_path, engine, same_key):
    if engine == "sqlite" and not same_key:
        pytest.skip("SQLite runs one writer at a time: transactions on other keys take turns too")
    with store_at(tmp_path) as store:
        held = Held(store, lambda tx: tx.lock("rate:alice"))
        order: list[str] = []
        try:
            def second() -> None:
                with store.write() as tx:
                    tx.lock("rate:alice" if same_key else "rate:bob")
                    order.append("second locked")

            finished, out = in_thread(second)
            if same_key:
                assert not finished.wait(0.5), "the second transaction took a key another one holds"
                order.append("first released")
            else:
                assert finished.wait(3), "a transaction on another key waited"
        finally:
            held.release()
        assert finished.wait(5) and out == [None], out
        assert order == (["first released", "second locked"] if same_key else ["second locked"])


@postgres_only
def test_a_call_waiting_on_a_row_another_session_holds_is_refused_busy_within_the_lock_timeout(tmp_path):
    from team_table.store.postgres import LOCK_TIMEOUT

    with store_at(tmp_path) as store:
        note(store, "contested")
        with psycopg.connect(stores.table_db(tmp_path), autocommit=True) as frozen:  # a replica frozen mid-write
            frozen.execute("BEGIN")
            frozen.execute("UPDATE context_entry SET value = 'frozen' WHERE key = 'contested'")
            began = time.monotonic()
            with pytest.raises(Busy), store.write() as tx:
                tx.execute("UPDATE context_entry SET value = 'mine' WHERE key = 'contested'")
            waited = time.monotonic() - began
            assert LOCK_TIMEOUT - 0.5 < waited < LOCK_TIMEOUT + 3, waited
            frozen.execute("ROLLBACK")
        note(store, "afterwards")  # the refused call left nothing behind; the store writes on


@postgres_only
def test_the_hubs_sessions_have_time_limits_keepalives_and_synchronous_commit_on(tmp_path, caplog):
    from team_table.store.postgres import IDLE_IN_TRANSACTION, LOCK_TIMEOUT, STATEMENT_TIMEOUT

    url = stores.table_db(tmp_path)
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(stores.SERVER, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER DATABASE {} SET synchronous_commit = off").format(sql.Identifier(name)))
    try:
        with caplog.at_level(logging.WARNING), store_at(tmp_path) as store:
            shown = {row[0]: row[1] for row in store.query(
                "SELECT name, setting FROM pg_settings WHERE name IN ('lock_timeout', 'statement_timeout',"
                " 'idle_in_transaction_session_timeout', 'synchronous_commit', 'tcp_keepalives_idle')")}
    finally:
        with psycopg.connect(stores.SERVER, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} RESET synchronous_commit").format(sql.Identifier(name)))
    ms = {"lock_timeout": LOCK_TIMEOUT, "statement_timeout": STATEMENT_TIMEOUT,
          "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION}
    assert shown == {**{name: str(int(seconds * 1000)) for name, seconds in ms.items()}, "synchronous_commit": "on",
                     "tcp_keepalives_idle": "10"}, shown
    assert any("synchronous_commit = off" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_text_with_a_nul_character_is_refused_as_invalid_by_either_store_and_nothing_is_written(tmp_path):
    with store_at(tmp_path) as store:
        with pytest.raises(Invalid):
            note(store, "bad\x00key")
        with pytest.raises(Invalid):
            store.query("SELECT * FROM context_entry WHERE key = ?", ("bad\x00key",))
        with pytest.raises(Invalid), store.write() as tx:
            tx.execute("INSERT INTO context_entry (key, value, set_by, updated_at) VALUES ('fine', 'v', 't', 'n')")
            events.emit(tx, "now", NOTE, cast(Any, {"n": "x"}), to="a\x00b")
        assert store.query("SELECT COUNT(*) FROM context_entry")[0][0] == 0
