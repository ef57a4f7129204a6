"""The plumbing of a tool call: the seat every call of a server reaches (the hub, the connection's binding, how to
run work), the tools/call handler (an unknown tool or argument, or a wrong type, answers a refusal like every other),
the authenticated caller, and one domain call mapped to its answer and counted in the metrics."""

from __future__ import annotations

import difflib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp.server.context import ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.types import CallToolRequestParams, CallToolResult
from pydantic import ValidationError

from team_table import waiting
from team_table.errors import Invalid, NotFound, TeamTableError, Unauthorized
from team_table.fanout import Fanout
from team_table.hub import Hub
from team_table.models import Caller
from team_table.server.auth_failures import route_of
from team_table.server.boundary import INTERNAL, answer, bad_arguments, refusal
from team_table.server.identity import BindingSource, resolve
from team_table.server.tools import registry

if TYPE_CHECKING:  # the network hub's; a stdio server never loads them
    from team_table.server.auth_failures import FailedAuth
    from team_table.server.connections import Connections
    from team_table.server.metrics import Metrics
    from team_table.wake.waker import Waker

log = logging.getLogger("team_table.tools")

# Runs a sync callable off or on the event loop: inline for stdio, a worker thread for network clients.
Runner = Callable[[Callable[[], Any]], Awaitable[Any]]


async def inline(work: Callable[[], Any]) -> Any:
    return work()


@dataclass
class Seat:
    """What every tool call of one server reaches: the hub, who the connection is bound to, how to run work."""

    hub: Hub
    fanout: Fanout
    binding: BindingSource
    takes: waiting.Takes  # the waits' takes of messages, grouped per turn of the event loop: one per server
    run: Runner = inline
    metrics: Metrics | None = None
    failures: FailedAuth | None = None  # network hubs: failed authentications are throttled per address
    connections: Connections | None = None  # the bound ones, and their pushes (while the server runs)
    waker: Waker | None = None  # the process's ways to wake agents (none in a bare test server)


async def call_tool(ctx: ServerRequestContext[Seat], params: CallToolRequestParams) -> CallToolResult:
    """tools/call: run the named tool with a Context, as the SDK's MCPServer would; what its schema refuses (an
    unknown tool or parameter, a wrong type) answers a JSON refusal like every refusal the tools give."""
    name, arguments = params.name, params.arguments or {}
    found = registry.by_name().get(name)
    if found is None:
        return refusal(NotFound(f"There is no tool {name!r}; list the tools to see what the hub offers."))
    known = registry.parameters(name)
    if not known.keys() >= arguments.keys():
        return refusal(Invalid(_unknown_arguments(name, sorted(set(arguments) - set(known)), list(known))))
    try:
        return await found.run(arguments, Context(request_context=ctx, input_params=params), convert_result=True)
    except UnexpectedToolError as exc:  # a crash outside the tool's own boundary (boundary.attempt has the rest)
        log.error("tool %s failed unexpectedly", name, exc_info=exc.__cause__ or exc)
        return refusal(TeamTableError(INTERNAL))
    except ToolError as exc:
        if isinstance(exc.__cause__, ValidationError):
            return bad_arguments(name, exc.__cause__)
        log.error("tool %s failed: %s", name, exc)
        return refusal(TeamTableError(INTERNAL))


def _unknown_arguments(tool: str, unknown: list[str], known: list[str]) -> str:
    parts = []
    for arg in unknown:
        near = difflib.get_close_matches(arg, known, n=1)
        parts.append(f"{arg!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
    return (f"{tool} has no parameter {', '.join(parts)}; nothing was changed. Its parameters are: "
            f"{', '.join(known)}.")


def seat_of(ctx: Context[Any, Any]) -> Seat:
    """The hub's seat: what the server's lifespan yields (the tools' bare `Context` leaves its type open)."""
    return ctx.request_context.lifespan_context


def tool_name(ctx: Context) -> str:
    """The tool this call runs (call_tool found it under the name the request gives)."""
    params = ctx.request_context.params
    assert params is not None  # a tools/call request: it has params, the name among them
    return params["name"]


async def call(ctx: Context, work: Callable[[Hub], Any]) -> CallToolResult:
    """Run one tool's domain call on the seat's runner, against one config for the whole call, and answer it."""
    seat = seat_of(ctx)
    tool = tool_name(ctx)
    start = time.perf_counter()
    pinned = seat.hub.pinned()  # the whole call sees one config, even if a reload swaps it meanwhile
    result, outcome = await seat.run(lambda: answer(tool, lambda: work(pinned)))
    observe(seat, tool, outcome, start)
    return result


def observe(seat: Seat, tool: str, outcome: str, start: float) -> None:
    if seat.metrics is not None:
        seat.metrics.observe_tool(tool, outcome, time.perf_counter() - start)


def who(hub: Hub, ctx: Context, name: str, token: str) -> Caller:
    """The authenticated caller. Over HTTP a failed authentication is counted (in /metrics, and against the client's
    address, as a bad bearer token is), and an address past the limit is told to wait; a valid token is never held
    up."""
    seat = seat_of(ctx)
    try:
        return resolve(hub, seat.binding(ctx.headers), name, token)
    except Unauthorized as exc:
        request = ctx.request_context.request
        address = getattr(request, "client", None)
        if seat.failures is None or request is None or address is None:
            raise
        raise seat.failures.refused(route_of(request.url.path), address.host, exc) from None
