"""The hub's shared state for one process: its store, its current team config, its settings and clock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from team_table import roles
from team_table.clock import Clock, SystemClock, iso
from team_table.config import Team
from team_table.models import Caller
from team_table.names import HUB_SENDER, OPERATOR
from team_table.settings import Settings
from team_table.store import Store


class Activity:
    """The last call of each agent in this process, kept in memory until the heartbeat job writes it down."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()
        self.on_first: Callable[[], None] | None = None  # called (on any thread) when a note is first kept

    def seen(self, agent: str, at: str) -> None:
        with self._lock:
            first = not self._seen
            self._seen[agent] = at
        if first and self.on_first is not None:
            self.on_first()

    def peek(self) -> dict[str, str]:
        with self._lock:
            return dict(self._seen)

    def take(self) -> dict[str, str]:
        with self._lock:
            seen, self._seen = self._seen, {}
        return seen

    def put_back(self, seen: dict[str, str]) -> None:
        """Notes that could not be written down: kept (newer ones win) for the next try."""
        with self._lock:
            for agent, at in seen.items():
                if at > self._seen.get(agent, ""):
                    self._seen[agent] = at


@dataclass
class Hub:
    """Everything a domain call needs. `team` is replaced whole on reload; read it once per call."""

    store: Store
    team: Team
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    activity: Activity = field(default_factory=Activity)

    def pinned(self) -> Hub:
        """This hub with its current config fixed, for one call that a reload must not change midway."""
        pinned = object.__new__(Hub)  # a shallow copy, a third of dataclasses.replace's cost (once per call)
        pinned.__dict__.update(self.__dict__)
        return pinned

    def now(self) -> str:
        return iso(self.clock.now())

    def roles_of(self, name: str, stored_role: str) -> tuple[str, ...]:
        """A member's roles: those team.yaml declares for it, else the one the database holds."""
        declared = self.team.agents.get(name)
        return declared.all_roles if declared else (stored_role,)

    def caller(self, name: str, member_roles: tuple[str, ...]) -> Caller:
        """An authenticated caller; its call counts as activity (noted in memory, written by the heartbeat job)."""
        self.activity.seen(name, self.now())
        return Caller(name=name, roles=member_roles, granted=self.team.granted(member_roles))

    def itself(self) -> Caller:
        """The hub acting on its own (workflows): every permission, no rate limit, named team-table."""
        return Caller(name=HUB_SENDER, roles=("admin",), granted=frozenset(roles.ACTIONS))

    def operator(self) -> Caller:
        """The person with the database file, acting from the CLI: everything is permitted."""
        return Caller(name=OPERATOR, roles=("admin",), granted=frozenset(roles.ACTIONS))
