"""The jobs' loop: a job looks one gap after the start, then when the store changed (in this process or another)
or when what it waits for falls due, and at no other time; at most once per its gap. Through a running hub: a
deadline written by another process is applied when it passes, with nothing else happening on the table."""

from __future__ import annotations

import asyncio

import anyio
import pytest

import stores
from team_table.event_kinds import K
from team_table.jobs_loop import Job, JobLoop
from team_table.runtime import open_table as open_hub_table
from team_table.runtime import running
from team_table.settings import resolve

from conftest import EMPTY_TEAM, ManualClock

pytestmark = pytest.mark.anyio


class Looks:
    """Jobs that record their looks and answer a due time the test sets."""

    def __init__(self) -> None:
        self.looked: list[str] = []
        self.due: dict[str, float | None] = {}

    def job(self, name: str, gap: float = 0.0, *, on_change: bool = True) -> Job:
        async def look() -> float | None:
            self.looked.append(name)
            return self.due.get(name)

        return Job(name, gap, look, on_change=on_change)

    async def of(self, loop: JobLoop) -> list[str]:
        """What the loop's next turn starts (its looks awaited)."""
        self.looked.clear()
        before = {job.task for job in loop.jobs.values()}
        loop.turn()
        started = [job.task for job in loop.jobs.values() if job.task is not None and job.task not in before]
        await asyncio.gather(*started)
        return sorted(self.looked)


def write_elsewhere(tmp_path) -> None:
    """A commit by another connection: the loop learns of it only from the store's version."""
    settings = resolve({"db": stores.table_db(tmp_path)}, {}, EMPTY_TEAM, None)
    with open_hub_table(settings, EMPTY_TEAM, seat=False) as other, other.store.write() as conn:
        conn.execute("INSERT INTO job_lease (name, owner, until) VALUES ('elsewhere', 'x', 0) ON CONFLICT(name)"
                     " DO UPDATE SET until = job_lease.until + 1")


@pytest.mark.sqlite_only  # PostgreSQL's version moves with the notification of another's events, a moment later:
# the running-hub test below covers that engine
async def test_a_job_looks_once_then_only_after_a_change_or_at_its_due_time(table, tmp_path):
    clock, looks = ManualClock(), Looks()
    loop = JobLoop(table.hub.store, clock, poll=3600)
    loop.attach()
    loop.set_jobs([looks.job("store"), looks.job("timed", on_change=False)])
    looks.due = {"store": clock.now().timestamp() + 100}
    assert await looks.of(loop) == ["store", "timed"]  # the first look of each (a gap of 0 after the start)
    assert await looks.of(loop) == []  # nothing changed, nothing due
    assert loop.turn() == pytest.approx(100, abs=1)  # asleep until the due time (no poll: the store hears others)
    await anyio.to_thread.run_sync(write_elsewhere, tmp_path)
    assert await looks.of(loop) == ["store"]  # another connection's commit, seen in the store's version
    loop.committed()
    assert await looks.of(loop) == ["store"]  # a commit of this process, even one the version does not show
    clock.advance(100)
    looks.due = {}  # this time it answers: nothing more until a change
    assert await looks.of(loop) == ["store"]  # its due time
    assert await looks.of(loop) == []
    loop.poke("timed")
    assert await looks.of(loop) == ["timed"]  # told it has work (activity noted)


async def test_changes_within_a_jobs_gap_make_it_look_once_when_the_gap_is_over(table):
    clock, looks = ManualClock(), Looks()
    loop = JobLoop(table.hub.store, clock, poll=3600)
    loop.attach()
    loop.set_jobs([looks.job("slow", gap=60)])
    assert await looks.of(loop) == []  # its first look comes one gap after the start, as an interval job's did
    for _ in range(3):
        loop.committed()
        assert await looks.of(loop) == []
    slept = loop.turn()
    assert slept is not None and 55 < slept <= 60  # it sleeps out its gap, then looks once for all three


async def test_a_job_replaced_by_a_reload_while_it_looks_looks_again_after(table):
    clock, looks, release = ManualClock(), Looks(), asyncio.Event()
    loop = JobLoop(table.hub.store, clock, poll=3600)
    loop.attach()

    async def slow() -> None:
        await release.wait()

    loop.set_jobs([Job("job", 0.0, slow)])
    loop.turn()
    [under_way] = [job.task for job in loop.jobs.values()]
    loop.set_jobs([looks.job("job")])  # a reload while it looks: the new job waits for that look to end
    assert await looks.of(loop) == []
    release.set()
    assert under_way is not None  # the look set_jobs started
    await under_way
    assert await looks.of(loop) == ["job"]


async def test_a_store_that_cannot_hear_others_is_looked_at_every_poll(table):
    clock, looks = ManualClock(), Looks()
    loop = JobLoop(table.hub.store, clock, poll=1.0)
    loop.attach()
    loop.set_jobs([looks.job("store")])
    await looks.of(loop)
    assert loop.turn() == pytest.approx(1.0)


@pytest.mark.parametrize("transport", ["stdio", "streamable-http"])
async def test_a_deadline_asked_in_another_process_is_applied_when_it_passes_with_nothing_else_happening(
        table, tmp_path, transport):
    """The running hub hears the question from another process (inotify on a stdio hub's SQLite file, the poll of
    a network hub's, PostgreSQL's notifications), sleeps until its deadline, and applies the default then."""
    alice = await table.join("alice", role="coder")
    await table.join("boss")
    table.grant("boss", "person")  # the person the question goes to
    settings = resolve({"db": stores.table_db(tmp_path), "transport": transport}, {}, EMPTY_TEAM, None)
    async with running(settings, EMPTY_TEAM) as rt:
        assert rt.jobs.running
        answered = rt.fanout.subscribe("alice", kinds=frozenset({K.QUESTION_ANSWERED}))
        with anyio.fail_after(20):
            asked = await alice.ok("ask", question="Deploy?", kind="yes_no", timeout_seconds=1, default="no")
            event = await answered.queue.get()
    assert event.kind == K.QUESTION_ANSWERED
    [row] = table.hub.store.query("SELECT status, answer, answered_at, deadline FROM question WHERE id = ?",
                                  (asked["id"],))
    assert (row["status"], row["answer"]) == ("defaulted", "no")
    assert row["answered_at"] >= row["deadline"]  # applied when it passed, not before
