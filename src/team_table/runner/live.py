"""One run in the hub's memory while it lives: what it holds, the last signs of it, why the hub stops it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from team_table.config import AgentSpec
from team_table.runner.processes import Running
from team_table.runner.runs import AgentState
from team_table.runner.work import Item


class Stop(StrEnum):
    """Why the hub ends a run itself, which says what follows."""

    STOP = "stop"  # shutdown, run: removed, a person asked: not a failure
    FAIL = "fail"  # stalled, out of time, lost its lease: a failure (backoff, then maybe a person)
    RESTART = "restart"  # its run: changed: started again at once with the new one


@dataclass(eq=False)
class Live:
    agent: str
    spec: AgentSpec
    run_id: int
    client: object  # presets.Command or a preset
    started_at: datetime
    fingerprint: frozenset[str]  # what waited when it started
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

    def last_sign(self) -> datetime:
        """The latest of its start, its last line of output and its last tool call."""
        return max(moment for moment in (self.started_at, self.last_output, self.last_tool) if moment is not None)

    def stop(self, reason: str, kind: Stop) -> None:
        if self.stop_kind is None:
            self.stop_reason, self.stop_kind = reason, kind
        if self.process is not None:
            self.process.stop(reason)
