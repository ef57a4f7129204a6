"""Build the hub's MCP server: the SDK's low-level `Server`, given the hub's tools/list and tools/call handlers
through its constructor (the hub serves tools only, so nothing else is served or advertised), its instructions,
and the middleware of bound connections."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler
from mcp.types import ListToolsResult

from team_table import __version__, waiting
from team_table.fanout import Fanout
from team_table.hub import Hub
from team_table.server import tools
from team_table.server.bound import bound_connections, declines_discover, granted
from team_table.server.connections import Connections
from team_table.server.identity import BindingSource, no_binding
from team_table.server.instructions import instructions
from team_table.server.tools import Runner, Seat, inline

if TYPE_CHECKING:
    from team_table.server.auth_failures import FailedAuth
    from team_table.server.metrics import Metrics
    from team_table.wake.waker import Waker

NAME = "team-table"
__all__ = ["NAME", "build_server", "declines_discover", "tool_names"]


async def list_tools(ctx: ServerRequestContext[Seat], params: Any) -> ListToolsResult:
    """tools/list: every tool for an unbound connection; for a bound one, those its roles permit."""
    return ListToolsResult(tools=list(tools.listing(await granted(ctx))))


def tool_names(hub: Hub, agent: str) -> frozenset[str]:
    """What a bound connection of `agent` lists now (to tell it when that changes)."""
    rows = hub.store.query("SELECT role FROM member WHERE name = ?", (agent,))
    if not rows:
        return frozenset()
    return tools.listed_for(hub.team.granted(hub.roles_of(agent, rows[0]["role"])))


def build_server(hub: Hub, fanout: Fanout, binding: BindingSource = no_binding, *, run: Runner = inline,
                 metrics: Metrics | None = None, failures: FailedAuth | None = None,
                 waker: Waker | None = None) -> Server[Seat]:
    """An MCP server for one connection kind of this process (stdio, a test client, the HTTP endpoints)."""

    takes = waiting.Takes(hub, run)  # shared by every connection of the server: one take per turn for all waits

    @asynccontextmanager
    async def lifespan(server: Server[Seat]) -> AsyncIterator[Seat]:
        # Entered once by the HTTP session manager, and once per stdio process, SSE stream or in-process client:
        # each entry has its own bound connections and pushes, so one ending leaves the others' alone.
        async with anyio.create_task_group() as pushes:
            seat = Seat(hub=hub, fanout=fanout, binding=binding, takes=takes, run=run, metrics=metrics,
                        failures=failures, waker=waker)
            seat.connections = Connections(hub, fanout, pushes, tool_names, run, waker)
            try:
                yield seat
            finally:
                seat.connections = None
                pushes.cancel_scope.cancel()

    bound = binding(None)
    server: Server[Seat] = Server(
        NAME, version=__version__, instructions=instructions(hub, bound.agent if bound else None),
        website_url="https://pypi.org/project/team-table/", lifespan=lifespan,
        on_list_tools=list_tools, on_call_tool=tools.call_tool, get_tool_input_schema=tools.input_schema,
        # What the SDK's MCPServer serves beside tools, kept: 2026-era subscriptions/listen, and requestState sealed.
        on_subscriptions_listen=ListenHandler(InMemorySubscriptionBus()))
    server.middleware.append(RequestStateBoundary(RequestStateSecurity.ephemeral(), default_audience=NAME))
    server.middleware.append(bound_connections)
    return server
