"""The supervisor: in a network hub, starts the agents with `run:` when work waits for them and looks after their
runs. It is woken by the fan-out (every event on the table, as a dashboard hears them), by its runs, by reloads and
by its own deadlines (backoff, stall, wall time, lease renewal), with a slow safety sweep besides; it never polls.

Each decision reads the database once for all agents (runner/work.py); a start is one transaction (runner/runs.py)
that checks the caps and takes the agent's lease, so that of several replicas one runs each agent. A run, once
started, is driven to its end by runs_here.py (`self.here`); when an agent starts again is restarts.py's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from team_table import events, presence
from team_table.clock import parse_iso
from team_table.config.agents import AgentSpec
from team_table.errors import TeamTableError
from team_table.event_kinds import K
from team_table.fanout import Fanout
from team_table.hub import Hub
from team_table.names import HUB_SENDER
from team_table.runner import folders, leases, processes, runs, work
from team_table.runner.live import Live, Stop, run_of
from team_table.runner.presets import client_for
from team_table.runner.runs import AgentState
from team_table.runner.runs_here import RunsHere

log = logging.getLogger("team_table.runner")

STARTING_LOOK, STARTING_FOR = 1.0, 60.0  # a starting run's first call is looked for every second, its first minute


class Supervisor:
    """The runs of one hub process."""

    def __init__(self, hub: Hub, fanout: Fanout, url: str, *, listening: anyio.Event | None = None) -> None:
        self.hub, self.fanout, self.url, self.listening = hub, fanout, url, listening
        self.owner = leases.Owner.here()
        self.team_folder = (hub.settings.config_path or Path.cwd() / "team.yaml").parent
        self.here = RunsHere(hub, self.owner, url, self.team_folder, self.wake)
        self.noted: dict[str, str | None] = {}  # agent -> the last "why it did not start" written
        self.removed: set[str] = set()  # agents removed from team.yaml whose worktree may go
        self.closing = False
        self._wake = anyio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._renewed, self._leased = 0.0, False  # when it last renewed its leases; whether it ever took one
        self._reloaded = anyio.Event()  # set when a new team.yaml applies

    def wake(self) -> None:
        self._wake.set()

    def _group(self) -> anyio.abc.TaskGroup:
        """The task group of serve(), where runs and cleanups go (everything that starts one runs inside serve)."""
        assert self._tasks is not None, "serve() is not running"
        return self._tasks

    def reloaded(self, change: Any) -> None:
        """Runtime.on_reload hook (a worker thread): a new team.yaml applies at the next look; the worktrees of
        agents removed from it go once their runs have ended (if they hold no uncommitted work)."""
        self.removed.update(change.agents_removed)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: (self.wake(), self._reloaded.set()))

    def agents(self) -> dict[str, AgentSpec]:
        return {name: spec for name, spec in self.hub.team.agents.items() if spec.run is not None and spec.enabled}

    async def _run(self, work_fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(work_fn, *args)

    async def serve(self) -> None:
        """Supervise until cancelled (call stop_all first for a graceful end)."""
        self._loop = asyncio.get_running_loop()
        if self.listening is not None:
            await self.listening.wait()
        async with anyio.create_task_group() as tasks:
            self._tasks = tasks
            await self._take_over()
            next_sweep = time.monotonic() + self.hub.team.runner.sweep_seconds
            listening = anyio.CancelScope()
            tasks.start_soon(self._listen, listening)
            while not self.closing:
                now = time.monotonic()
                if now >= next_sweep:
                    await self._take_over()
                    next_sweep = now + self.hub.team.runner.sweep_seconds
                try:
                    await self._renew()
                    await self._look()
                    await self.here.flush_lines()
                except TeamTableError as exc:  # the database is away: look again at the next wake or sweep
                    log.warning("the supervisor could not look at the table: %s", exc.message)
                with anyio.move_on_after(max(0.0, min(self._deadline(), next_sweep) - time.monotonic())):
                    await self._wake.wait()
                self._wake = anyio.Event()
            listening.cancel()  # the runs left end on their own (stop_all stopped them): the task group waits for them

    async def _listen(self, scope: anyio.CancelScope) -> None:
        """Wake the loop on every event on the table but this process's own announcements."""
        with scope:
            while not self.closing:
                if not self.agents():  # nothing to listen for until a reload adds runs
                    self._reloaded = anyio.Event()
                    await self._reloaded.wait()
                    continue
                sub = self.fanout.subscribe(HUB_SENDER, everything=True)
                try:
                    self.fanout.start_at(await self._run(events.last_id, self.hub.store))
                    while (event := await sub.queue.get()) is not None:
                        if event.kind != K.AGENT_RUN or event.data.get("owner") != self.owner.id:
                            self.wake()
                finally:
                    self.fanout.unsubscribe(sub)
                self.wake()  # closed (fell behind, or the hub stops): look once, and listen again
                await anyio.sleep(0.5)

    def _deadline(self) -> float:
        """The monotonic time of the next thing to do without being woken."""
        now, wall = time.monotonic(), self.hub.clock.now()
        due = [now + 3600.0, *self.here.restarts.due(now)]
        if self.here.live or self.here.restarts.holding:
            due.append(self._renewed + leases.RENEW_EVERY)
        for live in self.here.live.values():
            if live.state is AgentState.STARTING and (wall - live.started_at).total_seconds() < STARTING_FOR:
                due.append(now + STARTING_LOOK)  # a first call that changes nothing wakes no one
            if (flush := self.here.flush_due(live)) is not None:
                due.append(flush)
            if live.stop_kind is not None:
                continue  # being stopped: its end wakes the loop
            due.append(now + live.time_left(wall))
            if (stall := live.stall_left(wall)) is not None:
                due.append(now + stall)
        return max(now, min(due))

    async def _look(self) -> None:
        agents = self.agents()
        for name, live in list(self.here.live.items()):
            spec = agents.get(name)
            if spec is None:
                live.stop("its run: was removed from team.yaml (or the agent was removed or disabled)", Stop.STOP)
            elif run_of(spec).launch_part() != live.run.launch_part():
                live.stop("its run: changed in team.yaml; started again with the new one", Stop.RESTART)
            else:
                live.spec = spec
        for name in [n for n in self.here.restarts.holding if n not in agents]:
            await self._let_go(name)
        for name in [n for n in self.removed if n not in self.here.live]:
            self.removed.discard(name)
            folder = folders.base(self.team_folder, self.hub.team) / "worktrees" / folders.slug(name)
            await self._run(folders.remove_worktree_if_clean, folder)
        if not agents:
            return
        names = sorted(agents)

        def read():
            return (work.waiting(self.hub, agents), runs.requests(self.hub), runs.blocked(self.hub, names),
                    presence.last_calls(self.hub, names), leases.holders(self.hub))

        waits, asked, blocked, calls, held = await self._run(read)
        for name, spec in agents.items():
            if name in self.here.live:
                await self._check(self.here.live[name], waits[name], calls.get(name), asked.get(name))
            else:
                await self._consider(name, spec, waits[name], asked.get(name), blocked.get(name), held.get(name))

    async def _check(self, live: Live, items: list[work.Item], last_call: str | None, asked: str | None) -> None:
        """A live run: its state, its stall, its wall time, a person's stop."""
        live.items = work.own(items)
        if last_call is not None and (moment := parse_iso(last_call)) > live.started_at:
            live.last_tool = max(live.last_tool or moment, moment)
        if asked == "stop":
            live.fingerprint = work.fingerprint(items)  # what waits now: it starts again only for something new
            live.stop("a person asked (team-table agents stop)", Stop.HOLD)
            await self._run(lambda: runs.request(self.hub, live.agent, None, HUB_SENDER))
        if live.state is not AgentState.STARTING or live.last_output or live.last_tool:
            state = AgentState.WORKING if live.items else AgentState.IDLE
            if state is not live.state:
                live.state = state
                detail = ", ".join(item.key for item in live.items) or None
                await self._run(lambda: runs.set_state(self.hub, self.owner, live.agent, state, detail,
                                                       run_id=live.run_id))
        run, now = live.run, self.hub.clock.now()
        if live.time_left(now) < 0:
            live.stop(f"ran longer than its max_seconds ({run.max_seconds:g} s)", Stop.FAIL)
        if (stall := live.stall_left(now)) is not None and stall < 0:
            why = (f"stalled: it holds work ({', '.join(i.key for i in live.items)}) but made no tool call and "
                   f"printed nothing for {(now - live.last_sign()).total_seconds():.0f} s")
            if run.stall.action == "restart":
                live.stop(why, Stop.FAIL)
            else:
                live.stall_escalated = True
                await self._run(lambda: runs.escalate(self.hub, self.owner, live.agent, runs.STALLED,
                                                      self.here.with_tail(live.agent, f"{live.agent}'s run {why}")))

    async def _consider(self, name: str, spec: AgentSpec, items: list[work.Item], asked: str | None,
                        blocked: str | None, held: tuple[str, float] | None) -> None:
        """An agent not running here: start it if work waits (or always, or asked), unless something holds it."""
        run = run_of(spec)
        if asked == "stop" and (held is None or held[0] == self.owner.id):
            await self._run(lambda: runs.request(self.hub, name, None, HUB_SENDER))
            asked = None
        want = asked == "start" or run.start == "always" or (run.start == "on_work" and bool(items))
        if not want:
            if self.here.restarts.backoff_over(name, time.monotonic()):
                await self._let_go(name)  # its backoff is over and nothing waits any more
            return
        if self.here.restarts.waits(name, time.monotonic()) or self.closing:
            return
        if asked != "start":
            if blocked is not None:
                return  # a person was asked; resolving the escalation lets it start again
            fingerprint = work.fingerprint(items)
            if (rerun := self.here.restarts.past_bound(name, fingerprint, run)) is not None:
                if not rerun.escalated:
                    rerun.escalated = True
                    why = (f"{name}'s runs ended {rerun.count} times in a row with the same work still waiting "
                           f"({', '.join(sorted(fingerprint))}); the hub waits for new work before starting it again")
                    await self._run(lambda: runs.escalate(self.hub, self.owner, name, runs.RERUNS,
                                                          self.here.with_tail(name, why)))
                return
        await self._start(name, spec, items, asked)

    async def _start(self, name: str, spec: AgentSpec, items: list[work.Item], asked: str | None) -> None:
        client = client_for(run_of(spec))
        begun = await self._run(lambda: runs.begin(self.hub, self.owner, name, items, client.name))
        if isinstance(begun, str):
            if begun != self.noted.get(name):
                self.noted[name] = begun
                log.info("%s waits: %s", name, begun)
            if "another hub" in begun:
                self.here.restarts.try_at(name, time.monotonic() + leases.RENEW_EVERY)
            return
        self._end_left(begun.left)
        self.noted.pop(name, None)
        self.here.restarts.started(name)
        if asked == "start":
            await self._run(lambda: runs.request(self.hub, name, None, HUB_SENDER))
        self._renewed, self._leased = time.monotonic(), True  # begin took the lease just now
        log.info("starting %s (run %d): %s", name, begun.run_id, ", ".join(i.key for i in items) or run_of(spec).start)
        self.here.start(self._group(), name, spec, begun, client, items)

    async def _renew(self) -> None:
        if not (self.here.live or self.here.restarts.holding) or time.monotonic() - self._renewed < leases.RENEW_EVERY:
            return
        held = await self._run(lambda: leases.renew(self.hub, self.owner.id))
        self._renewed = time.monotonic()
        for name, live in self.here.live.items():
            if name not in held:
                live.stop("another hub took it over (this one could not renew its lease in time)", Stop.STOP)
        for name in self.here.restarts.holding - held:
            self.here.restarts.let_go(name)

    async def _let_go(self, name: str) -> None:
        """Give up the lease kept for a backoff: nothing waits for the agent any more (or it left team.yaml)."""
        self.here.restarts.let_go(name)
        await self._run(lambda: runs.set_state(self.hub, self.owner, name, AgentState.FAILED,
                                               "its last run failed; nothing waits for it now", release=True))

    async def _take_over(self) -> None:
        """Close the runs a hub that went away left open (revoking their tokens); end their processes here."""
        try:
            left = await self._run(lambda: runs.take_over_left(self.hub, self.owner))
        except TeamTableError as exc:
            log.warning("could not look for runs left by a hub that went away: %s", exc.message)
            return
        self._end_left(left)

    def _end_left(self, rows: list[Any]) -> None:
        """End the processes of runs a hub of this machine left behind (their group, if it is still the same)."""
        for row in rows:
            pgid = row["pgid"]
            if pgid and row["proc_start"] and processes.process_start(pgid) == row["proc_start"]:
                log.warning("ending what is left of %s's run %d (process group %d), left by a hub that went away",
                            row["agent"], row["id"], pgid)
                self._group().start_soon(processes.end_group, pgid, 10.0)

    async def stop_all(self, why: str) -> None:
        """Stop every run gracefully (SIGTERM, then SIGKILL after its grace), record it, give up the leases."""
        self.closing = True
        await self.here.stop_all(why)
        try:  # only when it took a lease: a hub that ran nothing writes nothing as it stops
            if self._leased:
                await self._run(lambda: leases.release_all(self.hub, self.owner.id))
                self._leased = False
        except TeamTableError as exc:
            log.warning("stopping: could not give up the agents' leases (they expire): %s", exc.message)
