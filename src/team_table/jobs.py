"""The hub's jobs on APScheduler: presence (heartbeat), activity, auto-reply, workflows and reservations' leases,
built from team.yaml.

Every hub process on a database runs a scheduler, but each job runs in one process at a time: a run first
takes the job's lease in the database, which another process takes over once the holder stops renewing it.
A lease is renewed when half of it is left, so an idle hub does not write to hold it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio

from team_table import autoreply, overdue, presence, questions, reservation_leases
from team_table.clock import parse_iso
from team_table.config import Team
from team_table.errors import TeamTableError
from team_table.hub import Hub
from team_table.store import run_from_loop

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from team_table.workflow.engine import Engine

log = logging.getLogger("team_table.jobs")

HEARTBEAT = "heartbeat"
WORKFLOWS = "workflows"
FLUSH = "activity"
OVERDUE = "overdue"
OVERDUE_EVERY = 5.0  # seconds between looks for answers past their time
RESERVATIONS = "reservations"
QUESTIONS = "questions"  # deadlines of questions: the default applies
NOTIFY = "notify"  # digests to team.yaml's notification targets
MIN_LEASE = 15.0  # seconds; a job of a process that died is taken over by another within this long


def heartbeat_interval(team: Team) -> float:
    """Often enough to notice idle members promptly, never more than every 15 s."""
    return max(1.0, min(15.0, team.presence.idle_after_seconds / 4))


def take_lease(hub: Hub, job: str, owner: str, seconds: float) -> bool:
    """Hold `job` for `seconds` unless another live owner holds it. One conditional write: one winner."""
    now = hub.clock.now().timestamp()
    with hub.store.write() as conn:
        taken = conn.execute(
            "INSERT INTO job_lease (name, owner, until) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
            " owner = excluded.owner, until = excluded.until WHERE job_lease.owner = excluded.owner"
            " OR job_lease.until < ?",
            (job, owner, now + seconds, now),
        ).rowcount
    return taken == 1


def drop_leases(hub: Hub, owner: str) -> None:
    with hub.store.write() as conn:
        conn.execute("DELETE FROM job_lease WHERE owner = ?", (owner,))


class Jobs:
    """This process's scheduler and the jobs of the config in force."""

    def __init__(self, hub: Hub, *, observe: Callable[[str, str], None] | None = None,
                 default_patterns: bool = False, engine: Engine | None = None,
                 observe_notify: Callable[[str], None] | None = None, environ: dict[str, str] | None = None) -> None:
        self.hub = hub
        self.engine = engine
        self.observe_notify = observe_notify or (lambda result: None)
        self.environ = environ or {}
        self._quiet: dict[str, tuple[int, float | None]] = {}  # job -> (store version, when it is next due)
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.observe = observe or (lambda job, result: None)
        self.default_patterns = default_patterns
        self.scheduler: AsyncIOScheduler | None = None
        self._held: dict[str, float] = {}  # job -> until when this process holds its lease (hub clock)
        self._running: set[asyncio.Task] = set()  # the worker-thread parts of runs under way
        self._runs: set[asyncio.Task] = set()  # the runs the scheduler started, from their first step
        self._stopping = False
        self._seen_version: int | None = None  # the store's version when the engine last had nothing to do

    @property
    def running(self) -> bool:
        return self.scheduler is not None and self.scheduler.running

    def start(self) -> None:
        """Start the scheduler on the running event loop, with the jobs of the current config."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self.scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1,
                                                        "misfire_grace_time": 30})
        self.rebuild()
        self.scheduler.start()

    async def stop(self) -> None:
        """No new runs; let the runs under way finish; write down the activity noted; give up the leases.

        The scheduler is paused first and shut down only once its runs are over: APScheduler's asyncio executor
        cancels the runs it still holds when it shuts down, and logs each as an error (a run it had just started
        is cancelled before its first step)."""
        self._stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.pause()  # nothing new is started; a run created already takes its first step below
            await asyncio.sleep(0)
            with anyio.move_on_after(10):
                while self._runs or self._running:
                    await asyncio.gather(*self._runs, *self._running, return_exceptions=True)
            self.scheduler.shutdown(wait=False)
        try:
            await anyio.to_thread.run_sync(presence.flush, self.hub)
            await anyio.to_thread.run_sync(drop_leases, self.hub, self.owner)
        except TeamTableError as exc:  # a full or read-only disk: said once; the leases simply expire
            log.warning("stopping: could not write down the last activity or give up job leases: %s", exc.message)

    def rebuild(self, *_: object) -> None:
        """(Re)build the jobs from the config in force; called at start and after every reload."""
        if self.scheduler is None or self._stopping:
            return
        team = self.hub.team
        wanted = {HEARTBEAT: (heartbeat_interval(team), self.heartbeat, ()),
                  FLUSH: (max(1.0, heartbeat_interval(team) / 3), self.flush, ()),
                  OVERDUE: (OVERDUE_EVERY, self.overdue, ()),
                  RESERVATIONS: (team.reservations.check_every_seconds, self.reservations, ())}
        if self.engine is not None:
            wanted[WORKFLOWS] = (1.0, self.workflows, ())
        wanted[QUESTIONS] = (1.0, self.questions, ())
        if team.notifications:
            wanted[NOTIFY] = (1.0, self.notify, ())
        for agent, spec in team.agents.items():
            if spec.enabled and spec.auto_reply is not None and spec.auto_reply.enabled:
                wanted[f"auto-reply:{agent}"] = (spec.auto_reply.interval_seconds, self.auto_reply, (agent,))
        for job in self.scheduler.get_jobs():
            if job.id not in wanted:
                job.remove()
        for job_id, (seconds, func, args) in wanted.items():
            self.scheduler.add_job(self._started, "interval", seconds=seconds, args=[func, job_id, seconds, *args],
                                   id=job_id, replace_existing=True)

    async def _started(self, func: Callable[..., Awaitable[None]], *args: object) -> None:
        """One run of a job, known to stop() from its first step."""
        task = asyncio.current_task()
        if task is not None:
            self._runs.add(task)
        try:
            await func(*args)
        finally:
            self._runs.discard(task)

    async def workflows(self, job_id: str, seconds: float) -> None:
        engine = self.engine
        # Idle, this is one look at the store's version, on the event loop; with something new, two indexed
        # reads (on the event loop too, when they need not wait); the lease is taken only when there is something
        # to do.
        version = self.hub.store.version()
        if version == self._seen_version and not engine.has_schedules():
            return
        try:
            if not await run_from_loop(self.hub.store, lambda: engine.pending() or engine.has_schedules()):
                self._seen_version = version
                return
        except TeamTableError:  # the database is away (the store logged why): look again at the next turn
            return
        except asyncio.CancelledError:  # the hub is stopping while it looked: nothing was started
            return

        def work():
            engine.step()
            engine.scheduled()

        await self._run(job_id, seconds, work)

    async def overdue(self, job_id: str, seconds: float) -> None:
        """Answers past their time: one read when there are none; the steps under the job's lease when there are."""
        try:
            if not await anyio.to_thread.run_sync(overdue.any_due, self.hub):
                return
        except (TeamTableError, asyncio.CancelledError):
            return
        await self._run(job_id, seconds, lambda: overdue.sweep(self.hub))

    def _idle(self, job_id: str) -> bool:
        """Nothing new in the store since this job last found nothing to do, and nothing due by the clock: a look at
        the store's version on the event loop, no read."""
        seen, due = self._quiet.get(job_id, (None, None))
        now = self.hub.clock.now().timestamp()
        return seen == self.hub.store.version() and (due is None or now < due)

    async def questions(self, job_id: str, seconds: float) -> None:
        """Questions whose deadline passed get their default (or lapse)."""
        if self._idle(job_id):
            return
        version = self.hub.store.version()

        def work():
            questions.expire_due(self.hub)
            due = questions.next_deadline(self.hub)
            self._quiet[job_id] = (version, parse_iso(due).timestamp() if due else None)

        await self._run(job_id, seconds, work)

    async def notify(self, job_id: str, seconds: float) -> None:
        """Digests to the notification targets; never in the way of an action (its own job, its own thread)."""
        if self._idle(job_id):
            return
        version = self.hub.store.version()

        def work():
            from team_table.notify import apprise_send, digests

            settings, team = self.hub.settings, self.hub.team
            base = (team.hub.public_url or (f"http://{settings.host}:{settings.port}" if settings.network else ""))
            done = digests.step(self.hub, apprise_send.send, base.rstrip("/"), self.environ)
            for outcome in done:
                self.observe_notify(outcome.result)
            pending = any(o.result in ("waiting", "failed") for o in done) or bool(self.hub.store.query(
                "SELECT 1 FROM notify_state WHERE next_try_at IS NOT NULL LIMIT 1"))
            self._quiet[job_id] = (version, None) if not pending else (-1, None)

        await self._run(job_id, seconds, work)

    async def flush(self, job_id: str, seconds: float) -> None:
        """Every process writes down its own callers' activity: no lease, one small write at most."""
        if not self.hub.activity.peek():
            return
        await self._guarded(job_id, lambda: presence.flush(self.hub))

    async def reservations(self, job_id: str, seconds: float) -> None:
        await self._run(job_id, seconds, lambda: reservation_leases.sweep(self.hub))

    async def heartbeat(self, job_id: str, seconds: float) -> None:
        await self._run(job_id, seconds, lambda: presence.sweep(self.hub))

    async def auto_reply(self, job_id: str, seconds: float, agent: str) -> None:
        def work():
            spec = self.hub.team.agents.get(agent)
            if spec is None or spec.auto_reply is None:
                return None
            return autoreply.run(self.hub, agent, spec.auto_reply, default_patterns=self.default_patterns)

        await self._run(job_id, seconds, work)

    async def _run(self, job_id: str, seconds: float, work: Callable[[], object]) -> None:
        """Run one job once, if this process holds its lease."""
        def leased_work():
            if not self._hold(job_id, seconds):
                return "skipped"
            work()
            return "ok"

        await self._guarded(job_id, leased_work)

    def _hold(self, job_id: str, seconds: float) -> bool:
        lease = max(MIN_LEASE, seconds * 3)
        now = self.hub.clock.now().timestamp()
        if self._held.get(job_id, 0.0) - now > lease / 2:
            return True  # held, with more than half of it left: no write needed
        if take_lease(self.hub, job_id, self.owner, lease):
            self._held[job_id] = now + lease
            return True
        self._held.pop(job_id, None)
        return False

    async def _guarded(self, job_id: str, work: Callable[[], object]) -> None:
        """Run `work` on a worker thread; a failure is logged and counted, never fatal. A stopping hub waits for
        it to finish rather than cancelling it halfway."""
        if self._stopping:
            return
        task = asyncio.ensure_future(anyio.to_thread.run_sync(work))
        self._running.add(task)
        try:
            result = await asyncio.shield(task)
            self.observe(job_id, result if isinstance(result, str) else "ok")
        except asyncio.CancelledError:
            if not task.done():
                await asyncio.wait([task])  # the thread finishes its transaction; the scheduler is stopping
        except TeamTableError as exc:
            log.warning("job %s could not run: %s", job_id, exc.message)
            self.observe(job_id, "error")
        except Exception:
            log.exception("job %s failed; it runs again at its next turn", job_id)
            self.observe(job_id, "error")
        finally:
            self._running.discard(task)
