"""One run in the hub's memory while it lives: what it holds, the last signs of it, why the hub stops it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from team_table.config import Team
from team_table.config.agents import AgentSpec
from team_table.runner import folders, processes, work
from team_table.runner.config import RunSpec
from team_table.runner.presets import Client, Context, Reading
from team_table.runner.processes import Running
from team_table.runner.runs import AgentState, Begun, Outcome
from team_table.runner.work import Item

TAIL = 20  # lines of output kept in memory per run, for the person asked when it keeps failing


class Stop(StrEnum):
    """Why the hub ends a run itself, which says what follows."""

    STOP = "stop"  # shutdown, run: removed, a person asked: not a failure
    FAIL = "fail"  # stalled, out of time, lost its lease: a failure (backoff, then maybe a person)
    RESTART = "restart"  # its run: changed: started again at once with the new one
    HOLD = "hold"  # a person stopped it: not started again until new work waits


def run_of(spec: AgentSpec) -> RunSpec:
    """The `run:` of an agent the runner starts (it starts only agents that have one)."""
    assert spec.run is not None, "only an agent with run: is started"
    return spec.run


@dataclass(eq=False)
class Live:
    agent: str
    spec: AgentSpec
    run_id: int
    client: Client
    started_at: datetime
    fingerprint: frozenset[str]  # what waited when it started
    resumed: str | None = None  # the client session this run resumes
    items: list[Item] = field(default_factory=list)  # the work it holds now
    process: Running | None = None
    state: AgentState = AgentState.STARTING
    session: str | None = None  # the client's session id, once it said
    shown: str = ""  # the last line worth showing
    shown_at: datetime | None = None
    written: str = ""  # the last line written to the database
    last_output: datetime | None = None
    last_tool: datetime | None = None  # of a tool call it made (on this hub, or said in its output)
    stop_reason: str | None = None
    stop_kind: Stop | None = None
    stall_escalated: bool = False
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL))

    @property
    def run(self) -> RunSpec:
        return run_of(self.spec)

    def last_sign(self) -> datetime:
        """The latest of its start, its last line of output and its last tool call."""
        return max(moment for moment in (self.started_at, self.last_output, self.last_tool) if moment is not None)

    def time_left(self, now: datetime) -> float:
        """Seconds until its max_seconds are up (below 0: it ran longer)."""
        return self.run.max_seconds - (now - self.started_at).total_seconds()

    def stall_left(self, now: datetime) -> float | None:
        """Seconds until it counts as stalled (below 0: it is), or None while no stall is watched for: it holds no
        work, it is being stopped, or a person was asked about its stall already."""
        stall = self.run.stall
        if not self.items or self.stop_kind is not None or (stall.action == "escalate" and self.stall_escalated):
            return None
        return stall.after_seconds - (now - self.last_sign()).total_seconds()

    def stop(self, reason: str, kind: Stop) -> None:
        if self.stop_kind is None:
            self.stop_reason, self.stop_kind = reason, kind
        if self.process is not None:
            self.process.stop(reason)

    def outcome(self, code: int | None, failure: str) -> tuple[Outcome, str]:
        """How the run ended, and why, from its exit code and what the hub asked of it."""
        if self.stop_kind in (Stop.STOP, Stop.RESTART, Stop.HOLD):
            return Outcome.STOPPED, self.stop_reason or "stopped"
        if self.stop_kind is Stop.FAIL:
            return Outcome.FAILED, self.stop_reason or "failed"
        if code == 0 and not failure:
            return Outcome.EXITED, "exited 0"
        return Outcome.FAILED, failure or processes.describe_exit(code)

    def note(self, stream: str, line: str, now: datetime) -> bool:
        """A line of its output: what it says (session, tool call, a line worth showing). True for its first sign."""
        reading = self.client.read(line) if stream == "out" else Reading(text=line)
        first = self.last_output is None and self.last_tool is None
        self.last_output = now
        if reading.session:
            self.session = reading.session
        if reading.tool:
            self.last_tool = now
        if reading.text and reading.text.strip():
            self.shown, self.shown_at = reading.text.strip()[:500], now
            self.tail.append(self.shown[:300])
        return first


def prepare(live: Live, begun: Begun, items: list[Item], *, team: Team, team_folder: Path, url: str,
            hub_env: Mapping[str, str]) -> processes.Launch:
    """Everything to start a run (on a worker thread: it may make a git worktree and render a template)."""
    spec, run, name = live.spec, live.run, live.agent
    folder = folders.working_folder(team_folder, team, name, run)
    files = folders.runs_folder(team_folder, team, name)
    processes.prune_outputs(files, team.runner.output.keep_runs - 1)
    home = folders.environment(hub_env, run, name, url, begun.token).get("HOME")  # the run's, as it gets it
    context = Context(name, url, begun.session, files, Path(home) if home else Path.home())
    argv = live.client.argv(run, context)
    text = work.prompt(run.prompt, name, spec.all_roles, items, run=begun.run_id,
                       resumed=begun.session is not None, hub_url=url)
    env = folders.environment(hub_env, run, name, url, begun.token, live.client.env(run, context))
    return processes.Launch(argv, env, folder, text, run.grace_seconds, files / f"run-{begun.run_id}.log",
                            team.runner.output.max_bytes)


def with_tail(tail: Iterable[str], reason: str) -> str:
    """`reason`, and the last lines of output, for the person asked."""
    lines = list(tail)[-10:]
    return (reason + ("\nLast output:\n" + "\n".join(lines) if lines else ""))[:3000]
