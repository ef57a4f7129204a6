"""Work that cannot be done on the event loop goes to worker threads, never more at once than the store can use:
one for SQLite's connection. Under 16 agents a hub had grown to 14 idle threads, each with its stack and its malloc
arena, because the waker and the jobs' looks took threads of their own."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import pytest

from team_table.store import run_from_loop
from team_table.store.sqlite import SqliteStore

pytestmark = [pytest.mark.anyio, pytest.mark.one_engine]  # SQLite's one connection: the bound is 1


async def test_work_that_must_wait_takes_at_most_as_many_threads_as_the_store_can_use(tmp_path: Path):
    store = SqliteStore.open(tmp_path / "team.db")
    inside, peak, lock = [0], [0], threading.Lock()
    held, release = threading.Event(), threading.Event()

    def holder() -> None:  # another thread of the process holds the connection: writes on the loop must wait
        with store.write():
            held.set()
            release.wait(10)

    def work() -> None:
        on_a_thread = threading.current_thread() is not threading.main_thread()
        if on_a_thread:
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
        try:
            with store.write() as tx:
                tx.execute("INSERT INTO job_lease (name, owner, until) VALUES ('probe', 'probe', 0)"
                           " ON CONFLICT(name) DO UPDATE SET until = job_lease.until + 1")
        finally:
            if on_a_thread:
                with lock:
                    inside[0] -= 1

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        await anyio.to_thread.run_sync(held.wait, 10)
        async with anyio.create_task_group() as tasks:
            for _ in range(8):
                tasks.start_soon(run_from_loop, store, work)
            await anyio.sleep(0.3)  # every one of them has asked for a thread by now
            release.set()
    finally:
        release.set()
        thread.join(10)
    assert peak[0] == store.parallel == 1, peak
    assert store.query("SELECT until FROM job_lease WHERE name = 'probe'")[0][0] == 7  # all eight wrote once
    store.close()
