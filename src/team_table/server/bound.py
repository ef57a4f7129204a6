"""What a connection bound to an agent gets, as the server's middleware: the handshake that lets Claude Code take
channel notes, pushes (channel notes, a changing tool list) and the bound instructions advertised in it, and its
pushes attached once it is set up. Also who a request's connection is bound to, for tools/list."""

from __future__ import annotations

from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import METHOD_NOT_FOUND
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from team_table import members
from team_table.errors import TeamTableError
from team_table.hub import Hub
from team_table.server import sdk_privates
from team_table.server.connections import CHANNEL
from team_table.server.identity import Binding
from team_table.server.instructions import instructions
from team_table.server.tools import Seat

HANDSHAKE = ("initialize", "server/discover")
CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
CLAUDE_CODE = "claude-code"  # the clientInfo name Claude Code gives


async def bound_connections(ctx: ServerRequestContext[Seat], call_next: CallNext) -> HandlerResult:
    """The middleware: what a connection bound to an agent is told in its handshake, and its pushes, attached at
    its first call after the handshake."""
    seat = ctx.lifespan_context
    if ctx.method == "server/discover" and _headers(ctx) is not None and _wants_channel(seat, ctx) \
            and declines_discover(seat.hub, ctx.params or {}):
        # Over HTTP each request stands alone: the client's initialize that follows opens a legacy session. (Over
        # stdio the first request fixes the connection's era, so server/stdio.py declines before the SDK sees it.)
        raise MCPError(code=METHOD_NOT_FOUND, message="Method not found", data="server/discover")
    result = await call_next(ctx)
    bound = await _binding(seat, ctx) if ctx.method in HANDSHAKE and isinstance(result, dict) else None
    if bound is not None and isinstance(result, dict):  # (a dict: what _binding was asked for)
        # Per connection, so not the server's initialization options (one per server, and over HTTP one server
        # answers bound and unbound clients alike): the handshake's answer says it.
        if _pushable(seat, ctx):
            capabilities = result.setdefault("capabilities", {})
            capabilities.setdefault("tools", {})["listChanged"] = True
            if ctx.method == "initialize" and _wants_channel(seat, ctx):  # never where it cannot be delivered
                capabilities.setdefault("experimental", {})[CHANNEL] = {}
        if "instructions" in result:  # bound by this request's token: say so (the server's text is unbound)
            result["instructions"] = instructions(seat.hub, bound.agent)
    if seat.connections is not None and ctx.method not in HANDSHAKE:
        key = _connection_key(ctx)
        if key is not None and not seat.connections.has(key) and (found := await _caller(ctx)) is not None:
            channel = _wants_channel(seat, ctx) and ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS
            seat.connections.attach(key, found[0].agent, ctx.session, _on_close(ctx), channel=channel)
    return result


def declines_discover(hub: Hub, params: Any) -> bool:
    """Answer this `server/discover` "method not found"? Yes for Claude Code (its clientInfo), on a connection bound
    to an agent that can be pushed to, while delivery.channels is on: Claude Code refuses channel notes on a
    2026-era connection, and told the method is not found it falls back to the 2025-11-25 handshake, which carries
    them. Every other client keeps the 2026 era."""
    meta = params.get("_meta") if isinstance(params, dict) else None
    info = meta.get(CLIENT_INFO) if isinstance(meta, dict) else None
    return hub.team.delivery.channels and isinstance(info, dict) and info.get("name") == CLAUDE_CODE


async def granted(ctx: ServerRequestContext[Seat]) -> frozenset[str] | None:
    """What the bound connection's agent may do (for its tool list); None when unbound, or its token is not good."""
    found = await _caller(ctx)
    return None if found is None else found[1].granted


def _headers(ctx: ServerRequestContext[Seat]) -> Any:
    return getattr(ctx.request, "headers", None)


async def _binding(seat: Seat, ctx: ServerRequestContext[Seat]) -> Binding | None:
    """Who the connection is bound to (a bearer token is looked up on a worker thread); None when unbound, or when
    the database cannot say now (the handshake still succeeds; every tool call checks again)."""
    headers = _headers(ctx)
    try:
        if headers is None:  # stdio, or in process: the binding is fixed, no database is read
            return seat.binding(None)
        return await seat.run(lambda: seat.binding(headers))
    except TeamTableError:
        return None


async def _caller(ctx: ServerRequestContext[Seat]) -> tuple[Binding, Any] | None:
    """The bound connection's binding and authenticated caller, or None (unbound, or its token is not good)."""
    seat = ctx.lifespan_context
    bound = await _binding(seat, ctx)
    if bound is None:
        return None
    try:
        return bound, await seat.run(lambda: members.authenticate(seat.hub, bound.agent, bound.token))
    except TeamTableError:
        return None


def _wants_channel(seat: Seat, ctx: ServerRequestContext[Seat]) -> bool:
    """A connection bound to an agent, which the hub can push into later, on a team that has channels on."""
    if not seat.hub.team.delivery.channels or not _pushable(seat, ctx):
        return False
    try:
        return seat.binding(_headers(ctx)) is not None
    except TeamTableError:  # the database cannot say now: no channel is promised
        return False


def _pushable(seat: Seat, ctx: ServerRequestContext[Seat]) -> bool:
    """Can the hub push into this connection later? Over stdio, yes; over HTTP, only into a handshake-era session
    this process keeps (not when served statelessly for replicas: there is no stream to push on)."""
    if _headers(ctx) is None:
        return True
    return not seat.hub.settings.stateless_http


def _connection_key(ctx: ServerRequestContext[Seat]) -> object | None:
    """What identifies the connection a message came on: a legacy HTTP session's id; the connection itself on
    stdio. None for the 2026 protocol over HTTP, which has no stream to push on outside a request."""
    headers = _headers(ctx)
    if headers is not None:
        return headers.get("mcp-session-id")
    return id(sdk_privates.connection_of(ctx.session))  # one per stdio process or in-process client


def _on_close(ctx: ServerRequestContext[Seat]) -> Any:
    """Register a callback for when the connection closes (the SDK's documented per-connection exit stack)."""
    stack = sdk_privates.connection_of(ctx.session).exit_stack
    return lambda callback: stack.callback(callback)
