"""When the hub's jobs look for work: after the store changed, and when something they wait for falls due; an idle
hub's jobs are never woken otherwise.

Each job is a look (`look()`: find out whether there is work, do it) that answers when it next needs a look on the
clock alone (a question's deadline, an answer's due time, a member's next presence change, an interval), or None
when only a change to the store can give it work. One timer sleeps until the earliest of those times. A change
wakes it sooner: a commit in this process (`committed()`, from the store's on_commit), one another process made
(`heard()`, from the store's watch: inotify on a SQLite file, PostgreSQL's notifications) or, where the store cannot
tell, a look at its version every `poll` seconds.

A job looks at most once per `gap` seconds, however often the store changes; a change during a look makes it look
once more after it. So a job looks within `gap` of a change (within `poll` of another process's commit where the
store cannot hear it) and within `gap` of its due time, as the interval jobs of before did, and not at all when
nothing changes and nothing is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from team_table.clock import Clock
from team_table.errors import TeamTableError
from team_table.store import Store

log = logging.getLogger("team_table.jobs")

NOW = float("-inf")  # a due time that has always passed: look at once


@dataclass(eq=False)
class Job:
    """One job of the loop: its look, how far apart its looks are, and what woke it."""

    name: str
    gap: float  # seconds; at least this long between the starts of two looks
    look: Callable[[], Awaitable[float | None]]  # does the work; returns when to look again (clock seconds) or None
    on_change: bool = True  # a change to the store makes it look (else only its due time and pokes do)
    due: float | None = NOW  # clock seconds: it looks then whatever changed (None: only on a change)
    seen: tuple[int, int] | None = None  # the store's version when its last look began
    began: float = float("-inf")  # loop time its last look began
    poked: bool = False  # told it has work (see JobLoop.poke)
    task: asyncio.Task | None = field(default=None, repr=False)


class JobLoop:
    """Runs the looks of a set of jobs on the event loop: see the module's docstring."""

    def __init__(self, store: Store, clock: Clock, *, poll: float) -> None:
        self.store, self.clock, self.poll = store, clock, poll
        self.jobs: dict[str, Job] = {}
        self.stopping = False
        self._commits = 0  # moves with every commit of this process (a store whose version misses some)
        self._armed = False  # a change must wake the loop (set only while a job waits for one)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start on the running event loop."""
        self.attach()
        self._task = asyncio.ensure_future(self._run())

    def attach(self) -> None:
        """Belong to the running event loop (start() does it; alone, for turning the loop by hand with turn())."""
        self._loop, self._thread = asyncio.get_running_loop(), threading.get_ident()

    def set_jobs(self, jobs: list[Job]) -> None:
        """The jobs of the config in force (on the event loop): a job kept keeps its state, and every job looks
        once more at its next turn (what it waits for may have changed with the config)."""
        kept = {}
        now = self._loop.time() if self._loop is not None else 0.0
        for job in jobs:
            old = self.jobs.get(job.name)
            if old is not None:
                job.began, job.task, job.poked = old.began, old.task, old.poked
            else:
                job.began = now  # a new job's first look comes one gap after it is added, as an interval job's did
            kept[job.name] = job
        self.jobs = kept
        self._signal()

    def set_jobs_threadsafe(self, jobs: list[Job]) -> None:
        if self._loop is None or threading.get_ident() == self._thread:
            self.set_jobs(jobs)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.set_jobs, jobs)

    def committed(self) -> None:
        """Thread-safe: a commit in this process (called for every one: costs an addition while nobody waits)."""
        self._commits += 1
        if self._armed:
            self._armed = False
            self._signal()

    def heard(self) -> None:
        """Thread-safe: another process may have committed (the loop compares the store's version)."""
        if self._armed:
            self._armed = False
            self._signal()

    def poke(self, name: str) -> None:
        """Thread-safe: the job `name` has work now (e.g. activity to write down), within its gap."""
        job = self.jobs.get(name)
        if job is not None:
            job.poked = True
            self._signal()

    def _signal(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._thread:
            self._wake.set()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        """No look is started any more; the looks under way finish (a job's write is never cut halfway)."""
        self.stopping = True
        self._signal()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        looks = [job.task for job in self.jobs.values() if job.task is not None]
        if looks:
            await asyncio.gather(*looks, return_exceptions=True)

    def _version(self) -> tuple[int, int]:
        try:
            return self.store.version(), self._commits
        except Exception:  # the database is away: a version of its own, so every job looks (and fails soft)
            return -1, self._commits

    async def _run(self) -> None:
        while not self.stopping:
            self._wake.clear()
            self._armed = True  # from here on a change sets _wake, so none is missed before the wait below
            try:
                delay = self.turn()
            except Exception:  # a bug: the loop goes on (the jobs are the hub's own upkeep)
                log.exception("the jobs' loop failed a turn; turning again in 1 s")
                delay = 1.0
            if delay is not None and delay <= 0:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    def turn(self) -> float | None:
        """Start the looks that are wanted and ready; how long to sleep before the next turn (None: until woken)."""
        version = self._version()
        assert self._loop is not None, "attach() first"  # turns run on the event loop attach() belongs to
        now, mono = self.clock.now().timestamp(), self._loop.time()
        delay: float | None = self.poll
        waits_for_change = False
        for job in list(self.jobs.values()):
            if job.task is not None:
                continue  # looking now: its end wakes the loop
            changed = job.on_change and job.seen != version
            if changed or job.poked or (job.due is not None and job.due <= now):
                ready = job.began + job.gap
                if mono >= ready:
                    self._begin(job, version, mono)
                    continue
                wait = ready - mono
            elif job.due is not None:
                wait = max(job.due - now, job.began + job.gap - mono)
            else:
                wait = None
            waits_for_change = waits_for_change or (job.on_change and not changed)
            if wait is not None:
                delay = wait if delay is None else min(delay, wait)
        if not waits_for_change:
            self._armed = False  # every job looks at its next turn anyway: commits meanwhile cost nothing
        return delay

    def _begin(self, job: Job, version: tuple[int, int], mono: float) -> None:
        job.seen, job.began, job.poked = version, mono, False
        job.task = asyncio.ensure_future(self._look(job))

    async def _look(self, job: Job) -> None:
        try:
            job.due = await job.look()
        except TeamTableError as exc:  # its read failed (the database is away): looked at again after its gap
            log.warning("job %s could not look for work (again in %.0f s): %s", job.name, job.gap, exc.message)
            job.due = self.clock.now().timestamp() + job.gap
        except Exception:
            log.exception("job %s failed; it looks again in %.0f s", job.name, job.gap)
            job.due = self.clock.now().timestamp() + job.gap
        finally:
            this = asyncio.current_task()
            for holder in (job, self.jobs.get(job.name)):  # the job, and the one that replaced it at a reload
                if holder is not None and holder.task is this:
                    holder.task = None
            self._wake.set()
