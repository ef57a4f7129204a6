"""Connections bound to an agent, and what the hub pushes into them:

- `notifications/tools/list_changed` when what the agent may call changes (a team.yaml reload, a grant);
- Claude Code channel notes (`notifications/claude/channel`, a research preview), when the connection negotiated
  the 2025-11-25 handshake and was offered the channel: the connection becomes one of the agent's ways to be
  woken (wake/waker.py), so a delivery is told once, by the best way the agent has, and never by two.

A connection is one stdio process or one legacy HTTP session (kept alive by its GET stream). The 2026 protocol
has no stream outside a request, so a 2026-era HTTP connection gets no pushes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio
from mcp.types import Notification

from team_table.delivery_policy import Way
from team_table.errors import TeamTableError
from team_table.event_kinds import K
from team_table.events import Event
from team_table.fanout import RETRY_SECONDS, Fanout
from team_table.hub import Hub

if TYPE_CHECKING:
    from team_table.wake.waker import Waker

log = logging.getLogger("team_table.push")

CHANNEL = "claude/channel"
PUSHED = frozenset({K.CONFIG_RELOADED, K.ROLES_CHANGED})  # the events that may change a tool list


class ChannelNotification(Notification[dict[str, Any], Literal["notifications/claude/channel"]]):
    method: Literal["notifications/claude/channel"] = "notifications/claude/channel"


@dataclass(eq=False)
class Bound:
    """One connection bound to an agent, and what it was last told it may call."""

    agent: str
    session: Any  # mcp ServerSession (its connection-scoped channel outlives the request it came with)
    listed: frozenset[str] = field(default_factory=frozenset)


class Connections:
    """The bound connections of one server, each with a listener on the agent's events."""

    def __init__(self, hub: Hub, fanout: Fanout, tasks: anyio.abc.TaskGroup,
                 tool_names: Callable[[Hub, str], frozenset[str]],
                 run: Callable[[Callable[[], Any]], Awaitable[Any]], waker: Waker | None = None) -> None:
        self.hub, self.fanout, self.tasks, self.tool_names, self.run = hub, fanout, tasks, tool_names, run
        self.waker = waker
        self._by_key: dict[object, Bound] = {}

    def has(self, key: object) -> bool:
        return key in self._by_key

    def attach(self, key: object, agent: str, session: Any, on_close: Callable[[Callable[[], None]], None], *,
               channel: bool = False) -> Bound:
        """The connection `key` is bound to `agent`: start listening for it (once), and with `channel` let it be
        a way to wake the agent."""
        found = self._by_key.get(key)
        if found is not None:
            return found
        bound = self._by_key[key] = Bound(agent, session, self.tool_names(self.hub, agent))
        scope = anyio.CancelScope()
        self.tasks.start_soon(self._listen, bound, scope)
        remove_way = self.waker.add(agent, channel_way(session)) if channel and self.waker else None

        def closed() -> None:
            scope.cancel()
            self._by_key.pop(key, None)
            if remove_way is not None:
                remove_way()

        on_close(closed)
        return bound

    async def _listen(self, bound: Bound, scope: anyio.CancelScope) -> None:
        sub = None
        try:
            with scope:
                while sub is None:
                    try:
                        sub, start = await self.fanout.subscribe_from_now(bound.agent, self.run, kinds=PUSHED)
                    except TeamTableError:  # the database is away: listen once it is back (pushes are best effort)
                        await anyio.sleep(RETRY_SECONDS)
                while True:
                    event = await sub.queue.get()
                    if event is None:
                        if sub.closed and sub.closed.startswith("overflow"):  # fell behind: start afresh
                            self.fanout.unsubscribe(sub)
                            sub = self.fanout.subscribe(bound.agent, kinds=PUSHED)
                            continue
                        return  # revoked, or the hub is stopping
                    if event.id > start:  # nothing from before it was bound
                        await self._push(bound, event)
        finally:
            if sub is not None:
                self.fanout.unsubscribe(sub)

    async def _push(self, bound: Bound, event: Event) -> None:
        try:
            now = self.tool_names(self.hub, bound.agent)
            if now != bound.listed:
                bound.listed = now
                await bound.session.send_tool_list_changed()
        except Exception:  # a push is best effort: the next tools/list says the same
            log.debug("a tool list change for %s was not sent", bound.agent, exc_info=True)


def channel_way(session: Any):
    """A connection that took the claude/channel capability, as a way to wake its agent: the pointer becomes a
    `<channel source="team-table" kind="wake">` block in the model's context, which starts a turn."""
    from team_table.wake.waker import Route

    async def deliver(text: str) -> None:
        await session.send_notification(ChannelNotification(params={"content": text, "meta": {"kind": "wake"}}))

    return Route(Way.CHANNEL, deliver, label="channel")
