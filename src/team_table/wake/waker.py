"""One process's waker: for each agent that has a way to be woken through this process (a Claude Code session's
socket, a monitor or a waiting hook connected to the hub, a channel, a push stream), new deliveries become one
wake, through the best of those ways (delivery.wake_order), claimed in the database first so that of every way
and every process exactly one tells the agent of each delivery.

Rules: a pointer, never a body; one wake for a burst (a short grace collects it); at most delivery.wakes_per_minute
per agent (what comes meanwhile is told in the next one); nothing while a wait of the agent's in this process is
about to take the messages itself; nothing at all when nothing waits. A way that fails is recorded and the next
way is tried; the sender never hears of it as an error.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio

from team_table import wakes
from team_table.delivery_policy import Way
from team_table.errors import TeamTableError
from team_table.event_kinds import K
from team_table.events import Event
from team_table.fanout import RETRY_SECONDS, Fanout
from team_table.hub import Hub

log = logging.getLogger("team_table.wake")

GRACE = 0.05  # seconds to collect a burst before waking (a wait in progress here is known, and skips it)
DELIVER_TIMEOUT = 5.0  # a way that takes longer than this has failed
WAKING = frozenset({K.MESSAGE, K.BROADCAST, K.REWAKE})
Run = Callable[[Callable[[], Any]], Awaitable[Any]]


@dataclass(eq=False)
class Route:
    """One way to wake one agent: `deliver(text)` hands the pointer over (raising if it cannot)."""

    way: Way
    deliver: Callable[[str], Awaitable[None]]
    label: str = ""


@dataclass
class _Agent:
    routes: list[Route] = field(default_factory=list)
    scope: anyio.CancelScope | None = None
    pending: bool = False


class Waker:
    """The ways to wake each agent through this process, and the listener that uses them."""

    def __init__(self, hub: Hub, fanout: Fanout, run: Run, tasks: anyio.abc.TaskGroup) -> None:
        self.hub, self.fanout, self.run, self.tasks = hub, fanout, run, tasks
        self._agents: dict[str, _Agent] = {}
        self._waits: Counter[str] = Counter()

    def ways(self, agent: str) -> list[str]:
        """The ways this process has to wake `agent`, best first."""
        found = self._agents.get(agent)
        return [r.way.value for r in self._ordered(found.routes)] if found else []

    def add(self, agent: str, route: Route) -> Callable[[], None]:
        """A new way to wake `agent`; returns the call that removes it. The first way starts listening for the
        agent's deliveries, and any that wait unpushed already are told at once."""
        entry = self._agents.setdefault(agent, _Agent())
        entry.routes.append(route)
        if entry.scope is None:
            entry.scope = anyio.CancelScope()
            self.tasks.start_soon(self._listen, agent, entry.scope)
        self._schedule(agent)

        def remove() -> None:
            if route in entry.routes:
                entry.routes.remove(route)
            if not entry.routes and self._agents.get(agent) is entry:
                del self._agents[agent]
                if entry.scope is not None:
                    entry.scope.cancel()

        return remove

    @contextmanager
    def waiting(self, agent: str) -> Iterator[None]:
        """A wait_for_messages of `agent` is in progress here: it takes what arrives, nothing needs waking."""
        self._waits[agent] += 1
        try:
            yield
        finally:
            self._waits[agent] -= 1
            if not self._waits[agent]:
                del self._waits[agent]

    async def _listen(self, agent: str, scope: anyio.CancelScope) -> None:
        sub = None
        try:
            with scope:
                while sub is None:
                    try:
                        sub, start = await self.fanout.subscribe_from_now(agent, self.run, kinds=WAKING)
                    except TeamTableError:  # the database is away: listen once it is back
                        await anyio.sleep(RETRY_SECONDS)
                while True:
                    event = await sub.queue.get()
                    if event is None:
                        if sub.closed and sub.closed.startswith("overflow"):  # fell behind: start afresh
                            self.fanout.unsubscribe(sub)
                            sub = self.fanout.subscribe(agent, kinds=WAKING)
                            self._schedule(agent)
                            continue
                        return  # revoked, or the process is stopping
                    if event.id > start and self._wakes(agent, event):
                        if event.kind == K.REWAKE:
                            self.tasks.start_soon(self._rewake, agent, event.data)
                        else:
                            self._schedule(agent)
        finally:
            if sub is not None:
                self.fanout.unsubscribe(sub)

    @staticmethod
    def _wakes(agent: str, event: Event) -> bool:
        return event.kind in WAKING and event.data.get("sender") != agent

    def _schedule(self, agent: str) -> None:
        entry = self._agents.get(agent)
        if entry is not None and not entry.pending:
            entry.pending = True
            self.tasks.start_soon(self._wake_later, agent, entry)

    async def _wake_later(self, agent: str, entry: _Agent) -> None:
        try:
            await anyio.sleep(GRACE)
            if self._waits.get(agent):
                return  # the wait takes them
            while (pause := await self.run(lambda: wakes.wait_before_next(self.hub, agent))) > 0:
                await anyio.sleep(min(pause, 1.0))  # what arrives meanwhile joins this wake
            entry.pending = False  # from here on, a new delivery schedules another wake
            await self._wake(agent, entry)
        except TeamTableError as exc:  # the database is away: the next delivery (or the overdue job) wakes again
            log.warning("waking %s failed: %s", agent, exc.code)
        except Exception:
            log.exception("waking %s failed", agent)
        finally:
            entry.pending = False

    async def _wake(self, agent: str, entry: _Agent) -> None:
        for route in self._ordered(entry.routes):
            taken = await self.run(lambda way=route.way: wakes.take(self.hub, agent, way))
            if taken is None:
                return  # nothing waits: read, surfaced or pushed already
            try:
                with anyio.fail_after(DELIVER_TIMEOUT):
                    await route.deliver(taken.text)
            except Exception as exc:  # this way is gone or refuses: the next one gets the wake
                why = _why(exc)
                log.info("waking %s by %s failed (%s); trying the next way", agent, route.way, why)
                await self.run(lambda way=route.way, t=taken, w=why: wakes.give_back(self.hub, agent, t, way, w))
                continue
            await self.run(lambda way=route.way, t=taken: wakes.sent(self.hub, agent, t, way))
            log.info("woke %s by %s (%d waiting)", agent, route.way, len(taken.ids))
            return

    async def _rewake(self, agent: str, data: dict) -> None:
        """An answer is overdue: tell the agent again, through the next way after the one that told it last."""
        try:
            await self._rewake_by_next_way(agent, data)
        except TeamTableError as exc:  # the database is away: the overdue job asks again
            log.warning("waking %s again failed: %s", agent, exc.code)
        except Exception:
            log.exception("waking %s again failed", agent)

    async def _rewake_by_next_way(self, agent: str, data: dict) -> None:
        entry = self._agents.get(agent)
        if entry is None:
            return
        routes = self._ordered(entry.routes)
        after = [r for r in routes if r.way.value != data.get("after")]
        taken = wakes.Taken(list(data.get("ids", [])), str(data.get("text", "")))
        for route in after or routes:
            try:
                with anyio.fail_after(DELIVER_TIMEOUT):
                    await route.deliver(taken.text)
            except Exception as exc:
                why = _why(exc)
                await self.run(lambda way=route.way, w=why: wakes.failed(self.hub, agent, taken, way, w))
                continue
            await self.run(lambda way=route.way: wakes.sent(self.hub, agent, taken, way))
            return

    def _ordered(self, routes: list[Route]) -> list[Route]:
        policy = self.hub.team.delivery
        usable = [r for r in routes if r.way in policy.wake_order]
        return sorted(usable, key=lambda r: policy.rank(r.way))


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
