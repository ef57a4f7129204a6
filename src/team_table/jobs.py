"""The hub's jobs: presence (heartbeat), activity, answers past their time, questions' deadlines, workflows,
reservations' leases, notifications and auto-replies, built from team.yaml and run by jobs_loop: each looks when the
store changed or when what it waits for falls due, and an idle hub's jobs sleep.

Every hub process on a database runs them, but each job's work is done in one process at a time: it first takes the
job's lease in the database, which another process takes over once the holder stops renewing it. Looks are reads;
the lease is taken only when there is work, and renewed when half of it is left, so an idle hub writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from team_table import autoreply, overdue, presence, questions, reservation_leases
from team_table.clock import parse_iso
from team_table.config import Team
from team_table.errors import TeamTableError
from team_table.hub import Hub
from team_table.jobs_loop import Job, JobLoop
from team_table.store import run_from_loop

if TYPE_CHECKING:
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
POLL = 1.0  # seconds between looks at the store's version when it cannot tell of other processes' commits
SAFETY_POLL = 30.0  # ... and when it can (inotify, PostgreSQL's notifications): only a safety net


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


def held_until(hub: Hub, job: str) -> float | None:
    """When the lease of `job` ends (clock seconds), or None when nobody holds it."""
    rows = hub.store.query("SELECT until FROM job_lease WHERE name = ?", (job,))
    return float(rows[0][0]) if rows else None


def drop_leases(hub: Hub, owner: str) -> None:
    with hub.store.write() as conn:
        conn.execute("DELETE FROM job_lease WHERE owner = ?", (owner,))


class Jobs:
    """This process's jobs of the config in force, and the loop that runs their looks."""

    def __init__(self, hub: Hub, *, observe: Callable[[str, str], None] | None = None,
                 default_patterns: bool = False, engine: Engine | None = None,
                 observe_notify: Callable[[str], None] | None = None, environ: dict[str, str] | None = None) -> None:
        self.hub = hub
        self.engine = engine
        self.observe_notify = observe_notify or (lambda result: None)
        self.environ = environ or {}
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.observe = observe or (lambda job, result: None)
        self.default_patterns = default_patterns
        self.loop: JobLoop | None = None
        self._held: dict[str, float] = {}  # job -> until when this process holds its lease (hub clock)
        self._running: set[asyncio.Task] = set()  # the worker-thread parts of looks under way
        self._stopping = False

    @property
    def running(self) -> bool:
        return self.loop is not None and not self.loop.stopping

    def start(self) -> None:
        """Start the loop on the running event loop, with the jobs of the current config. It hears this process's
        commits through committed() (the runtime wires the store's on_commit to it) and other processes' through
        the store's watch; where the store cannot tell of them, it looks at its version every POLL seconds."""
        heard = self.hub.store.watch(self.committed_elsewhere) is not False
        self.loop = loop = JobLoop(self.hub.store, self.hub.clock, poll=SAFETY_POLL if heard else POLL)
        self.hub.activity.on_first = lambda: loop.poke(FLUSH)
        loop.start()
        self.rebuild()

    def committed(self) -> None:
        """Thread-safe, cheap: a commit in this process (the store's on_commit)."""
        if self.loop is not None:
            self.loop.committed()

    def committed_elsewhere(self) -> None:
        if self.loop is not None:
            self.loop.heard()

    async def stop(self) -> None:
        """No new looks; let the looks under way finish; write down the activity noted; give up the leases."""
        self._stopping = True
        if self.loop is not None:
            self.hub.activity.on_first = None
            with anyio.move_on_after(10):
                await self.loop.stop()
        try:
            await anyio.to_thread.run_sync(presence.flush, self.hub)
            await anyio.to_thread.run_sync(drop_leases, self.hub, self.owner)
        except TeamTableError as exc:  # a full or read-only disk: said once; the leases simply expire
            log.warning("stopping: could not write down the last activity or give up job leases: %s", exc.message)

    def rebuild(self, *_: object) -> None:
        """(Re)build the jobs from the config in force; called at start and after every reload (any thread)."""
        if self.loop is None or self._stopping:
            return
        self.loop.set_jobs_threadsafe([Job(name, gap, look, on_change=on_change)
                                       for name, (gap, look, on_change) in self.wanted().items()])

    def wanted(self) -> dict[str, tuple[float, Callable[[], Any], bool]]:
        """The jobs of the config in force: name -> (gap, look, whether a change to the store makes it look)."""
        team = self.hub.team
        beat = heartbeat_interval(team)
        wanted = {HEARTBEAT: (beat, self.heartbeat, True),
                  FLUSH: (max(1.0, beat / 3), self.flush, False),
                  OVERDUE: (OVERDUE_EVERY, self.overdue, True),
                  RESERVATIONS: (team.reservations.check_every_seconds, self.reservations, True),
                  QUESTIONS: (1.0, self.questions, True)}
        if self.engine is not None:
            wanted[WORKFLOWS] = (1.0, self.workflows, True)
        if team.notifications:
            wanted[NOTIFY] = (1.0, self.notify, True)
        for agent, spec in team.agents.items():
            if spec.enabled and spec.auto_reply is not None and spec.auto_reply.enabled:
                seconds = spec.auto_reply.interval_seconds
                wanted[f"auto-reply:{agent}"] = (seconds, partial(self.auto_reply, agent, seconds), False)
        return wanted

    def _now(self) -> float:
        return self.hub.clock.now().timestamp()

    async def _read(self, work: Callable[[], Any]) -> Any:
        """A look's read: on the event loop when it need not wait (SQLite's reader), else on a worker thread."""
        return await run_from_loop(self.hub.store, work)

    async def workflows(self) -> float | None:
        """New events for the engine, or a schedule trigger due: handled under the lease."""
        engine = self.engine
        if engine is None:
            return None  # (not a job without an engine: wanted() adds it only with one)
        pending, due = await self._read(lambda: (engine.pending(), engine.next_schedule()))
        if not pending and (due is None or due > self._now()):
            return due

        def work() -> float | None:
            engine.step()
            engine.scheduled()
            return self._now() if engine.pending() else engine.next_schedule()

        return await self._leased(WORKFLOWS, 1.0, work)

    async def overdue(self) -> float | None:
        """Answers past their time."""
        return await self._when_due(OVERDUE, OVERDUE_EVERY, overdue.next_due, overdue.sweep)

    async def questions(self) -> float | None:
        """Questions whose deadline passed get their default (or lapse)."""
        return await self._when_due(QUESTIONS, 1.0, questions.next_deadline, questions.expire_due)

    async def _when_due(self, job_id: str, seconds: float, next_due: Callable[[Hub], str | None],
                        act: Callable[[Hub], object]) -> float | None:
        """A job whose work falls due at a time the store tells (`next_due`, ISO 8601): one read while none is due;
        `act` under the lease when one is. Answers when it next falls due."""
        due = await self._read(lambda: next_due(self.hub))
        at = None if due is None else parse_iso(due).timestamp()
        if at is None or at > self._now():
            return at

        def work() -> float | None:
            act(self.hub)
            later = next_due(self.hub)
            return parse_iso(later).timestamp() if later else None

        return await self._leased(job_id, seconds, work)

    async def notify(self) -> float | None:
        """Digests to the notification targets; never in the way of an action (its own job, its own thread)."""
        def work() -> float | None:
            from team_table.notify import apprise_send, digests

            settings, team = self.hub.settings, self.hub.team
            base = (team.hub.public_url or (f"http://{settings.host}:{settings.port}" if settings.network else ""))
            done = digests.step(self.hub, apprise_send.send, base.rstrip("/"), self.environ)
            for outcome in done:
                self.observe_notify(outcome.result)
            pending = any(o.result in ("waiting", "failed") for o in done) or bool(self.hub.store.query(
                "SELECT 1 FROM notify_state WHERE next_try_at IS NOT NULL LIMIT 1"))
            return self._now() + 1.0 if pending else None

        return await self._leased(NOTIFY, 1.0, work)

    async def flush(self) -> float | None:
        """Every process writes down its own callers' activity: no lease, one small write at most."""
        if self.hub.activity.peek():
            await self._guarded(FLUSH, lambda: presence.flush(self.hub))
        return self._now() + 1.0 if self.hub.activity.peek() else None  # noted meanwhile, or put back

    async def reservations(self) -> float | None:
        if not await self._read(lambda: reservation_leases.any_held(self.hub)):
            return None
        seconds = self.hub.team.reservations.check_every_seconds
        return await self._leased(RESERVATIONS, seconds,
                                  lambda: (reservation_leases.sweep(self.hub), self._now() + seconds)[1])

    async def heartbeat(self) -> float | None:
        """Presence moves and stale claims: a read until the next one is due; the sweep under the lease then."""
        due = await self._read(lambda: presence.next_change(self.hub))
        if due is None or due > self._now():
            return due
        return await self._leased(HEARTBEAT, heartbeat_interval(self.hub.team),
                                  lambda: (presence.sweep(self.hub), presence.next_change(self.hub))[1])

    async def auto_reply(self, agent: str, seconds: float) -> float | None:
        def work() -> float:
            spec = self.hub.team.agents.get(agent)
            if spec is not None and spec.auto_reply is not None:
                autoreply.run(self.hub, agent, spec.auto_reply, default_patterns=self.default_patterns)
            return self._now() + seconds

        return await self._leased(f"auto-reply:{agent}", seconds, work)

    async def _leased(self, job_id: str, seconds: float, work: Callable[[], float | None]) -> float | None:
        """Do `work` if this process holds the job's lease; when to look again: what `work` says; when another
        process holds the lease, when that ends (it may have died); after an error, in `seconds`."""
        answer: list[float | None] = []

        def leased_work() -> str:
            if not self._hold(job_id, seconds):
                answer.append(held_until(self.hub, job_id))
                return "skipped"
            answer.append(work())
            return "ok"

        await self._guarded(job_id, leased_work)
        return answer[0] if answer else self._now() + seconds

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
        task = asyncio.ensure_future(anyio.to_thread.run_sync(work))
        self._running.add(task)
        try:
            result = await asyncio.shield(task)
            self.observe(job_id, result if isinstance(result, str) else "ok")
        except asyncio.CancelledError:
            if not task.done():
                await asyncio.wait([task])  # the thread finishes its transaction
        except TeamTableError as exc:
            log.warning("job %s could not run: %s", job_id, exc.message)
            self.observe(job_id, "error")
        except Exception:
            log.exception("job %s failed; it runs again at its next turn", job_id)
            self.observe(job_id, "error")
        finally:
            self._running.discard(task)
