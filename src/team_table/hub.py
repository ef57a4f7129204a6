"""The hub's shared state for one process: its store, its current team config, its settings and clock."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta

from team_table.clock import Clock, SystemClock, iso
from team_table.config import Team
from team_table.models import Caller
from team_table.settings import Settings
from team_table.store import Store

log = logging.getLogger(__name__)


class Activity:
    """The last call of each agent in this process, kept in memory until the heartbeat job writes it down."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}
        self._lock = threading.Lock()

    def seen(self, agent: str, at: str) -> None:
        with self._lock:
            self._seen[agent] = at

    def peek(self) -> dict[str, str]:
        with self._lock:
            return dict(self._seen)

    def take(self) -> dict[str, str]:
        with self._lock:
            seen, self._seen = self._seen, {}
        return seen


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
        return replace(self)

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
        from team_table import roles

        return Caller(name="team-table", roles=("admin",), granted=frozenset(roles.ACTIONS))

    def operator(self) -> Caller:
        """The person with the database file, acting from the CLI: everything is permitted."""
        from team_table import roles

        return Caller(name="operator", roles=("admin",), granted=frozenset(roles.ACTIONS))


@contextmanager
def open_hub(settings: Settings, team: Team, clock: Clock | None = None, *, seat: bool = True) -> Iterator[Hub]:
    """Open the store for this process, seat the declared agents (unless only looking), close cleanly at the end."""
    from team_table import members  # members imports Hub from here

    store = Store.open(settings.db_path)
    hub = Hub(store=store, team=team, settings=settings, clock=clock or SystemClock())
    try:
        if seat:
            members.sync_declared(hub)
            prune_old_events(hub)
        yield hub
    finally:
        try:
            store.checkpoint()
        except sqlite3.OperationalError as exc:  # another process holds a reader: it checkpoints later
            log.debug("checkpoint skipped: %s", exc)
        store.close()


def prune_old_events(hub: Hub) -> int:
    """Drop push events past the age and count team.yaml keeps for replay."""
    from team_table import events

    settings = hub.team.hub
    cutoff = iso(hub.clock.now() - timedelta(seconds=settings.events_max_age_seconds))
    return events.prune(hub.store, cutoff, settings.events_max_count)
