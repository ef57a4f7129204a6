"""The runs this hub process drives, each from its start to its end: prepared, started and followed as a process
(processes.py), its output noted and its last line written at most every LINE_EVERY seconds, and its end recorded
with what follows (restarts.py: when the agent starts again, or that a person is asked)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path

import anyio
import anyio.abc
from anyio.to_thread import run_sync

from team_table.clock import iso
from team_table.config.agents import AgentSpec
from team_table.errors import TeamTableError
from team_table.hub import Hub
from team_table.runner import leases, processes, runs, work
from team_table.runner.live import Live, Stop, prepare, with_tail
from team_table.runner.presets import Client
from team_table.runner.restarts import Restarts, backoff
from team_table.runner.runs import AgentState, Outcome

log = logging.getLogger("team_table.runner")

LINE_EVERY = 2.0  # seconds between writes of a run's last line to the database


class RunsHere:
    """The live runs of one hub process, and what it keeps of each agent's runs between them."""

    def __init__(self, hub: Hub, owner: leases.Owner, url: str, team_folder: Path, wake: Callable[[], None]) -> None:
        self.hub, self.owner, self.url, self.team_folder, self.wake = hub, owner, url, team_folder, wake
        self.env = dict(hub.settings.environ)
        self.live: dict[str, Live] = {}
        self.restarts = Restarts()
        self.tails: dict[str, deque[str]] = {}
        self._flushed: dict[str, float] = {}
        self._ended_one = anyio.Event()  # set whenever a run ends

    def start(self, tasks: anyio.abc.TaskGroup, name: str, spec: AgentSpec, begun: runs.Begun, client: Client,
              items: list[work.Item]) -> None:
        """Drive the run `begun` recorded, in `tasks`, until it ends."""
        live = Live(name, spec, begun.run_id, client, self.hub.clock.now(), work.fingerprint(items),
                    resumed=begun.session)
        self.live[name], self.tails[name] = live, live.tail
        tasks.start_soon(self._drive, live, begun, items)

    async def _drive(self, live: Live, begun: runs.Begun, items: list[work.Item]) -> None:
        code, failure = None, ""
        try:
            team, folder, env = self.hub.team, self.team_folder, self.env
            launch = await run_sync(lambda: prepare(live, begun, items, team=team, team_folder=folder,
                                                    url=self.url, hub_env=env))
            live.process = await processes.start(launch)
            if live.stop_kind is not None:
                live.process.stop(live.stop_reason or "")
            pid, pgid, since = live.process.pid, live.process.pgid, live.process.group_start
            await run_sync(lambda: runs.started(self.hub, live.run_id, pid, pgid, since, str(launch.output)))
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

    async def flush_lines(self) -> None:
        """Write the last line of each run whose line changed, at most every LINE_EVERY seconds."""
        now = time.monotonic()
        for live in list(self.live.values()):
            if live.shown != live.written and now - self._flushed.get(live.agent, 0.0) >= LINE_EVERY:
                line, at, session = live.shown, iso(live.shown_at or self.hub.clock.now()), live.session
                await run_sync(runs.note_output, self.hub, live.run_id, line, at, session)
                live.written, self._flushed[live.agent] = line, now

    def flush_due(self, live: Live) -> float | None:
        """When `live`'s new last line is to be written (monotonic), if it has one."""
        return self._flushed.get(live.agent, 0.0) + LINE_EVERY if live.shown != live.written else None

    async def _ended(self, live: Live, code: int | None, failure: str) -> None:
        name, run, client = live.agent, live.run, live.client.name
        session = (client, live.session) if client and live.session else None
        outcome, why = live.outcome(code, failure)
        if session is None and client and live.resumed and outcome is Outcome.FAILED:
            session = (client, None)  # its resume failed before a session began: the next run starts anew
        end = partial(runs.end, self.hub, self.owner, name, live.run_id, outcome, code, why, last_line=live.shown,
                      session=session)
        try:
            if outcome is Outcome.FAILED:
                await self._failed(live, end, why)
            elif outcome is Outcome.EXITED:
                await run_sync(lambda: end(state=AgentState.EXITED, detail=why, keep_lease=False))
                self.restarts.exited(name, live.fingerprint, run, time.monotonic())
            else:
                await run_sync(lambda: end(state=AgentState.EXITED, detail=why, keep_lease=False))
                if live.stop_kind is Stop.HOLD:
                    self.restarts.held(name, live.fingerprint)
        except TeamTableError as exc:
            log.warning("the end of %s's run %d could not be recorded: %s", name, live.run_id, exc.message)
        finally:
            self.live.pop(name, None)
            log.info("%s's run %d ended: %s", name, live.run_id, why)
            self._ended_one.set()
            self.wake()

    async def _failed(self, live: Live, end: partial, why: str) -> None:
        name, restart = live.agent, live.run.restart
        failures = await run_sync(runs.recent_failures, self.hub, name, restart.window_seconds) + 1
        delay = backoff(restart, failures)
        if delay is None:
            detail = f"failed {failures} times within {restart.window_seconds:g} s: the hub stopped trying"
            await run_sync(lambda: end(state=AgentState.FAILED, detail=detail, keep_lease=False))
            reason = (f"{name}'s runs failed {failures} times within {restart.window_seconds:g} s (last: {why}); "
                      "the hub stopped starting it until this is resolved")
            await run_sync(lambda: runs.escalate(self.hub, self.owner, name, runs.GAVE_UP,
                                                 self.with_tail(name, reason)))
            self.restarts.gave_up(name)
            return
        await run_sync(lambda: end(state=AgentState.BACKING_OFF, detail=f"{why}; next try in {delay:g} s",
                                   keep_lease=True))
        self.restarts.back_off(name, time.monotonic() + delay)

    def with_tail(self, agent: str, reason: str) -> str:
        """`reason`, and the last lines of the agent's last run here, for the person asked."""
        return with_tail(self.tails.get(agent, ()), reason)

    async def stop_all(self, why: str) -> None:
        """Stop every run (SIGTERM, then SIGKILL after its grace) and wait for their ends, 10 s past the longest
        grace at most."""
        for live in list(self.live.values()):
            live.stop(why, Stop.STOP)
        self.wake()
        with anyio.move_on_after(max((live.run.grace_seconds for live in self.live.values()), default=0.0) + 10):
            while self.live:
                self._ended_one = anyio.Event()
                await self._ended_one.wait()
