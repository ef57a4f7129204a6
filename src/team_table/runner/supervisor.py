"""The supervisor: in a network hub, starts the agents with `run:` when work waits for them and looks after their
runs. It is woken by the fan-out (every event on the table, as a dashboard hears them), by its runs, by reloads and
by its own deadlines (backoff, stall, wall time, lease renewal), with a slow safety sweep besides; it never polls.

Each decision reads the database once for all agents (runner/work.py); a start is one transaction (runner/runs.py)
that checks the caps and takes the agent's lease, so that of several replicas one runs each agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from team_table import events, presence
from team_table.clock import iso, parse_iso
from team_table.config.agents import AgentSpec
from team_table.errors import TeamTableError
from team_table.event_kinds import K
from team_table.fanout import Fanout
from team_table.hub import Hub
from team_table.names import HUB_SENDER
from team_table.runner import folders, leases, processes, runs, work
from team_table.runner.live import Live, Rerun, Stop, prepare, with_tail
from team_table.runner.presets import client_for
from team_table.runner.runs import AgentState, Outcome

log = logging.getLogger("team_table.runner")

LINE_EVERY = 2.0  # seconds between writes of a run's last line to the database
STARTING_LOOK, STARTING_FOR = 1.0, 60.0  # a starting run's first call is looked for every second, its first minute


class Supervisor:
    """The runs of one hub process."""

    def __init__(self, hub: Hub, fanout: Fanout, url: str, *, listening: anyio.Event | None = None) -> None:
        self.hub, self.fanout, self.url, self.listening = hub, fanout, url, listening
        self.owner = leases.Owner.here()
        self.env = dict(hub.settings.environ)
        self.team_folder = (hub.settings.config_path or Path.cwd() / "team.yaml").parent
        self.live: dict[str, Live] = {}
        self.next_try: dict[str, float] = {}  # agent -> monotonic time before which it is not started
        self.holding: set[str] = set()  # agents whose lease this process keeps between runs (backing off)
        self.reruns: dict[str, Rerun] = {}
        self.noted: dict[str, str | None] = {}  # agent -> the last "why it did not start" written
        self.tails: dict[str, deque[str]] = {}
        self.removed: set[str] = set()  # agents removed from team.yaml whose worktree may go
        self.closing = False
        self._wake = anyio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: anyio.abc.TaskGroup | None = None
        self._renewed, self._leased = 0.0, False  # when it last renewed its leases; whether it ever took one
        self._flushed: dict[str, float] = {}
        self._ended_one = anyio.Event()  # set whenever a run ends
        self._reloaded = anyio.Event()  # set when a new team.yaml applies

    def wake(self) -> None:
        self._wake.set()

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
                    await self._flush_lines()
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
        due = [now + 3600.0, *(moment for moment in self.next_try.values() if moment > now)]
        if self.live or self.holding:
            due.append(self._renewed + leases.RENEW_EVERY)
        for live in self.live.values():
            run = live.spec.run
            if live.state is AgentState.STARTING and (wall - live.started_at).total_seconds() < STARTING_FOR:
                due.append(now + STARTING_LOOK)  # a first call that changes nothing wakes no one
            if live.shown != live.written:
                due.append(self._flushed.get(live.agent, 0.0) + LINE_EVERY)
            if live.stop_kind is not None:
                continue  # being stopped: its end wakes the loop
            due.append(now + (run.max_seconds - (wall - live.started_at).total_seconds()))
            if live.items and not (run.stall.action == "escalate" and live.stall_escalated):
                due.append(now + (run.stall.after_seconds - (wall - live.last_sign()).total_seconds()))
        return max(now, min(due))

    async def _look(self) -> None:
        agents = self.agents()
        for name, live in list(self.live.items()):
            spec = agents.get(name)
            if spec is None:
                live.stop("its run: was removed from team.yaml (or the agent was removed or disabled)", Stop.STOP)
            elif spec.run.launch_part() != live.spec.run.launch_part():
                live.stop("its run: changed in team.yaml; started again with the new one", Stop.RESTART)
            else:
                live.spec = spec
        for name in [n for n in self.holding if n not in agents]:
            await self._let_go(name)
        for name in [n for n in self.removed if n not in self.live]:
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
            if name in self.live:
                await self._check(self.live[name], waits[name], calls.get(name), asked.get(name))
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
        run, now = live.spec.run, self.hub.clock.now()
        if (now - live.started_at).total_seconds() > run.max_seconds:
            live.stop(f"ran longer than its max_seconds ({run.max_seconds:g} s)", Stop.FAIL)
        quiet = (now - live.last_sign()).total_seconds()
        if live.items and quiet > run.stall.after_seconds and live.stop_kind is None:
            why = (f"stalled: it holds work ({', '.join(i.key for i in live.items)}) but made no tool call and "
                   f"printed nothing for {quiet:.0f} s")
            if run.stall.action == "restart":
                live.stop(why, Stop.FAIL)
            elif not live.stall_escalated:
                live.stall_escalated = True
                await self._run(lambda: runs.escalate(self.hub, self.owner, live.agent, runs.STALLED,
                                                      self._with_tail(live.agent, f"{live.agent}'s run {why}")))

    async def _consider(self, name: str, spec: AgentSpec, items: list[work.Item], asked: str | None,
                        blocked: str | None, held: tuple[str, float] | None) -> None:
        """An agent not running here: start it if work waits (or always, or asked), unless something holds it."""
        run = spec.run
        if asked == "stop" and (held is None or held[0] == self.owner.id):
            await self._run(lambda: runs.request(self.hub, name, None, HUB_SENDER))
            asked = None
        want = asked == "start" or run.start == "always" or (run.start == "on_work" and bool(items))
        if not want:
            if name in self.holding and self.next_try.get(name, 0.0) <= time.monotonic():
                await self._let_go(name)  # its backoff is over and nothing waits any more
            return
        if self.next_try.get(name, 0.0) > time.monotonic() or self.closing:
            return
        if asked != "start":
            if blocked is not None:
                return  # a person was asked; resolving the escalation lets it start again
            rerun, fingerprint = self.reruns.get(name), work.fingerprint(items)
            if rerun is not None and rerun.fingerprint != fingerprint:
                del self.reruns[name]
            elif rerun is not None and run.start == "on_work" and rerun.count > run.restart.max_reruns:
                if not rerun.escalated:
                    rerun.escalated = True
                    why = (f"{name}'s runs ended {rerun.count} times in a row with the same work still waiting "
                           f"({', '.join(sorted(fingerprint))}); the hub waits for new work before starting it again")
                    await self._run(lambda: runs.escalate(self.hub, self.owner, name, runs.RERUNS,
                                                          self._with_tail(name, why)))
                return
        await self._start(name, spec, items, asked)

    async def _start(self, name: str, spec: AgentSpec, items: list[work.Item], asked: str | None) -> None:
        client = client_for(spec.run)
        begun = await self._run(lambda: runs.begin(self.hub, self.owner, name, items, client.name))
        if isinstance(begun, str):
            if begun != self.noted.get(name):
                self.noted[name] = begun
                log.info("%s waits: %s", name, begun)
            if "another hub" in begun:
                self.next_try[name] = time.monotonic() + leases.RENEW_EVERY
            return
        self._end_left(begun.left)
        self.noted.pop(name, None)
        self.next_try.pop(name, None)
        self.holding.discard(name)
        if asked == "start":
            await self._run(lambda: runs.request(self.hub, name, None, HUB_SENDER))
        live = Live(name, spec, begun.run_id, client, self.hub.clock.now(), work.fingerprint(items),
                    resumed=begun.session)
        self.live[name], self.tails[name] = live, live.tail
        self._renewed, self._leased = time.monotonic(), True  # begin took the lease just now
        log.info("starting %s (run %d): %s", name, begun.run_id, ", ".join(i.key for i in items) or spec.run.start)
        self._tasks.start_soon(self._drive, live, begun, items)

    async def _drive(self, live: Live, begun: runs.Begun, items: list[work.Item]) -> None:
        code, failure = None, ""
        try:
            team, folder, env = self.hub.team, self.team_folder, self.env
            launch = await self._run(lambda: prepare(live, begun, items, team=team, team_folder=folder,
                                                     url=self.url, hub_env=env))
            live.process = await processes.start(launch)
            if live.stop_kind is not None:
                live.process.stop(live.stop_reason or "")
            pid, pgid, since = live.process.pid, live.process.pgid, live.process.group_start
            await self._run(lambda: runs.started(self.hub, live.run_id, pid, pgid, since, str(launch.output)))
            code = await processes.follow(live.process, launch.prompt, partial(self._on_line, live))
        except TeamTableError as exc:
            failure = exc.message
        except OSError as exc:
            failure = f"could not be started: {exc.strerror or exc}"
        except Exception as exc:
            log.exception("running %s failed", live.agent)
            failure = f"could not be run: {type(exc).__name__}"
        finally:
            with anyio.CancelScope(shield=True):
                if live.process is not None and live.process.process.returncode is None:
                    live.process.kill()  # cancelled outright: the hub is going down hard
                await self._ended(live, code, failure)

    def _on_line(self, live: Live, stream: str, line: str) -> None:
        if live.note(stream, line, self.hub.clock.now()):
            self.wake()  # its first sign of life: it is no longer starting

    async def _flush_lines(self) -> None:
        now = time.monotonic()
        for live in list(self.live.values()):
            if live.shown != live.written and now - self._flushed.get(live.agent, 0.0) >= LINE_EVERY:
                line, at, session = live.shown, iso(live.shown_at or self.hub.clock.now()), live.session
                await self._run(runs.note_output, self.hub, live.run_id, line, at, session)
                live.written, self._flushed[live.agent] = line, now

    async def _ended(self, live: Live, code: int | None, failure: str) -> None:
        name, run = live.agent, live.spec.run
        session = (live.client.name, live.session) if live.client.name and live.session else None
        outcome, why = live.outcome(code, failure)
        if session is None and live.resumed and outcome is Outcome.FAILED:
            session = (live.client.name, None)  # its resume failed before a session began: the next run starts anew
        end = partial(runs.end, self.hub, self.owner, name, live.run_id, outcome, code, why, last_line=live.shown,
                      session=session)
        try:
            if outcome is Outcome.FAILED:
                await self._failed(live, end, why)
            elif outcome is Outcome.EXITED:
                await self._run(lambda: end(state=AgentState.EXITED, detail=why, keep_lease=False))
                previous = self.reruns.get(name)
                same = previous is not None and previous.fingerprint == live.fingerprint
                self.reruns[name] = Rerun(live.fingerprint, previous.count + 1 if same else 1,
                                          previous.escalated if same else False)
                if run.start == "always":
                    self.next_try[name] = time.monotonic() + run.restart.backoff_seconds
            else:
                await self._run(lambda: end(state=AgentState.EXITED, detail=why, keep_lease=False))
                if live.stop_kind is Stop.HOLD:
                    self.reruns[name] = Rerun(live.fingerprint, 1 << 30, escalated=True)
        except TeamTableError as exc:
            log.warning("the end of %s's run %d could not be recorded: %s", name, live.run_id, exc.message)
        finally:
            self.live.pop(name, None)
            log.info("%s's run %d ended: %s", name, live.run_id, why)
            self._ended_one.set()
            self.wake()

    async def _failed(self, live: Live, end: partial, why: str) -> None:
        name, restart = live.agent, live.spec.run.restart
        failures = await self._run(runs.recent_failures, self.hub, name, restart.window_seconds) + 1
        if failures >= restart.max_failures:
            detail = f"failed {failures} times within {restart.window_seconds:g} s: the hub stopped trying"
            await self._run(lambda: end(state=AgentState.FAILED, detail=detail, keep_lease=False))
            reason = (f"{name}'s runs failed {failures} times within {restart.window_seconds:g} s (last: {why}); "
                      "the hub stopped starting it until this is resolved")
            await self._run(lambda: runs.escalate(self.hub, self.owner, name, runs.GAVE_UP,
                                                  self._with_tail(name, reason)))
            self.holding.discard(name)
            return
        delay = min(restart.max_backoff_seconds, restart.backoff_seconds * 2 ** (failures - 1))
        await self._run(lambda: end(state=AgentState.BACKING_OFF, detail=f"{why}; next try in {delay:g} s",
                                    keep_lease=True))
        self.next_try[name] = time.monotonic() + delay
        self.holding.add(name)

    def _with_tail(self, agent: str, reason: str) -> str:
        return with_tail(self.tails.get(agent, ()), reason)

    async def _renew(self) -> None:
        if not (self.live or self.holding) or time.monotonic() - self._renewed < leases.RENEW_EVERY:
            return
        held = await self._run(lambda: leases.renew(self.hub, self.owner.id))
        self._renewed = time.monotonic()
        for name, live in self.live.items():
            if name not in held:
                live.stop("another hub took it over (this one could not renew its lease in time)", Stop.STOP)
        for name in self.holding - held:
            self.holding.discard(name)
            self.next_try.pop(name, None)

    async def _let_go(self, name: str) -> None:
        """Give up the lease kept for a backoff: nothing waits for the agent any more (or it left team.yaml)."""
        self.holding.discard(name)
        self.next_try.pop(name, None)
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
                self._tasks.start_soon(processes.end_group, pgid, 10.0)

    async def stop_all(self, why: str) -> None:
        """Stop every run gracefully (SIGTERM, then SIGKILL after its grace), record it, give up the leases."""
        self.closing = True
        for live in list(self.live.values()):
            live.stop(why, Stop.STOP)
        self.wake()
        with anyio.move_on_after(max((live.spec.run.grace_seconds for live in self.live.values()), default=0.0) + 10):
            while self.live:
                self._ended_one = anyio.Event()
                await self._ended_one.wait()
        try:  # only when it took a lease: a hub that ran nothing writes nothing as it stops
            if self._leased:
                await self._run(lambda: leases.release_all(self.hub, self.owner.id))
                self._leased = False
        except TeamTableError as exc:
            log.warning("stopping: could not give up the agents' leases (they expire): %s", exc.message)
