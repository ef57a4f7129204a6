"""A bounded wait for one's next messages, woken by the fan-out (no polling of the inbox).

The messages a wait returns are taken exactly as get_messages takes them: marked read in the same statement, so
of a get_messages and two waits of one agent racing, each message goes to exactly one. A wait that is cancelled,
or whose caller went away, takes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel

from team_table import messages, receipts
from team_table.event_kinds import K
from team_table.fanout import Fanout
from team_table.hub import Hub
from team_table.models import Caller

MIN_SECONDS, MAX_SECONDS = 1.0, 50.0  # clients give up on a tool call after about 60 s
PROGRESS_EVERY = 10.0
ARRIVALS = frozenset({K.MESSAGE, K.BROADCAST})
Run = Callable[[Callable[[], Any]], Awaitable[Any]]


def clamp(seconds: float) -> float:
    return min(MAX_SECONDS, max(MIN_SECONDS, seconds))


class Takes:
    """Takes of unread messages asked for in one turn of the event loop (the waits that one broadcast wakes), done
    together: one transaction, so one sync of the database for all of them instead of one each."""

    def __init__(self, hub: Hub, run: Run) -> None:
        self.hub, self.run = hub, run
        self._asked: dict[str, list[asyncio.Future]] = {}
        self._turn: asyncio.Task | None = None  # the take under way (kept: the loop holds tasks weakly)

    async def take(self, agent: str) -> tuple[list, int]:
        """A page of the agent's unread messages, marked read (each goes to one of the takes of an agent, never
        two), and how many more wait."""
        if not self._asked:  # the first of this turn: done once the others woken with it have asked too
            self._turn = asyncio.ensure_future(self._take_all())
        future = asyncio.get_running_loop().create_future()
        self._asked.setdefault(agent, []).append(future)
        return await future

    async def _take_all(self) -> None:
        await asyncio.sleep(0)  # one turn of the loop: the waits woken with the first one ask meanwhile
        asked, self._asked = self._asked, {}
        try:
            found = await self.run(lambda: _take_each(self.hub, list(asked)))
        except BaseException as exc:
            for futures in asked.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for agent, futures in asked.items():
            items, more = found.get(agent, ([], 0))
            for future in futures:
                if not future.done():
                    future.set_result((items, more))
                    items, more = [], 0  # the agent's other waits of this turn get nothing: each message comes once
            if items:  # nobody is left to answer (cancelled meanwhile): unread again
                await self.run(lambda agent=agent, items=items: messages.put_back(self.hub, agent,
                                                                                 [m.id for m in items]))


def _take_each(hub: Hub, agents: list[str]) -> dict[str, tuple[list, int]]:
    """A page of each agent's unread messages, taken as a wait takes them, all in one transaction (the takes join
    it)."""
    with hub.store.write():
        return {agent: messages.take_page(hub, agent, surfaced=receipts.Shown.WAIT) for agent in agents}


async def wait_for_messages(hub: Hub, fanout: Fanout, run: Run, caller: Caller, seconds: float, *,
                            progress: Callable[[float, float], Awaitable[None]] | None = None,
                            gone: Callable[[], Awaitable[bool]] | None = None,
                            takes: Takes | None = None) -> dict:
    """The caller's unread messages now, or as soon as one arrives, or none once `seconds` (clamped) pass.

    `progress(elapsed, total)` is called every 10 s while waiting; `gone()` says whether the caller went away
    (then nothing is taken, and the answer will not be read)."""
    seconds = clamp(seconds)
    agent = caller.name
    # Subscribed to arrivals only (then the inbox read: nothing slips between): other events never fill its buffer.
    sub, _ = await fanout.subscribe_from_now(agent, run, kinds=ARRIVALS)
    try:
        start = anyio.current_time()
        look, closed = True, False  # look at the inbox: at first, after each arrival, and once when closed
        while True:
            if look:
                if await run(lambda: messages.has_unread(hub, agent)):
                    if gone is not None and await gone():
                        return {"messages": [], "timed_out": True}
                    taken, more = await _take(hub, run, agent, takes)
                    if taken:  # else a get_messages of the same agent took them first: wait on
                        return {"messages": taken, "timed_out": False, **({"more": more} if more else {})}
                look = False
            left = seconds - (anyio.current_time() - start)
            if closed or left <= 0:
                return {"messages": [], "timed_out": True}
            with anyio.move_on_after(min(left, PROGRESS_EVERY)):
                while not look:
                    event = await sub.queue.get()
                    if event is None:  # closed (revoked, or the hub stopping): look once more, and end
                        look = closed = True
                    else:
                        look = True
            if not look:
                if gone is not None and await gone():
                    return {"messages": [], "timed_out": True}
                if progress is not None:
                    await progress(anyio.current_time() - start, seconds)
    finally:
        fanout.unsubscribe(sub)


async def _take(hub: Hub, run: Run, agent: str, takes: Takes | None) -> tuple[list, int]:
    """Take a page of the unread messages (and say how many more wait); if the wait is cancelled while they are
    taken, put them back unread."""
    with anyio.CancelScope(shield=True):
        taken, more = await (takes.take(agent) if takes is not None else
                             run(lambda: messages.take_page(hub, agent, surfaced=receipts.Shown.WAIT)))
    try:
        await anyio.lowlevel.checkpoint()
    except BaseException:
        with anyio.CancelScope(shield=True):
            await run(lambda: messages.put_back(hub, agent, [m.id for m in taken]))
        raise
    return taken, more
