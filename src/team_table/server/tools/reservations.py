"""Tools of path reservations: reserving before editing, releasing, who holds what, watching for a release, and
breaking another member's reservation (leads)."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from team_table import reservations
from team_table.server.tools.calls import call, who
from team_table.server.tools.params import Id, Name, Paths, Token
from team_table.server.tools.registry import DESTRUCTIVE, READ, WRITE, tool


@tool("reserve_paths", WRITE, needs=("reserve_paths",))
async def reserve_paths(
    ctx: Context, *, paths: Paths, agent_name: Name = "", token: Token = "", exclusive: bool = True,
    ttl_seconds: Annotated[int, Field(ge=1)] = 3600, reason: str = "", task_id: Id | None = None,
) -> CallToolResult:
    """Reserve paths before editing them (shared: to depend on them). All or nothing: refused `conflict`, naming
    the holders, if others hold an overlap. Renewed while you are active."""
    return await call(ctx, lambda h: reservations.reserve(h, who(h, ctx, agent_name, token), paths, exclusive,
                                                          ttl_seconds, reason, task_id))


@tool("release_paths", WRITE)
async def release_paths(
    ctx: Context, paths: list[str] | None = None, agent_name: Name = "", token: Token = ""
) -> CallToolResult:
    """Give back your reservations of these patterns, or all of them."""
    return await call(ctx, lambda h: reservations.release(h, who(h, ctx, agent_name, token), paths))


@tool("list_reservations", READ)
async def list_reservations(
    ctx: Context, agent_name: Name = "", token: Token = "", agent: str = "", path: str = ""
) -> CallToolResult:
    """Who holds which paths (overlapping path), why, for which task, until when."""
    return await call(ctx, lambda h: reservations.listing(h, agent, path, caller=who(h, ctx, agent_name, token)))


@tool("watch_paths", WRITE, needs=("reserve_paths",))
async def watch_paths(
    ctx: Context, *, paths: list[str], agent_name: Name = "", token: Token = "", exclusive: bool = True
) -> CallToolResult:
    """Get a message when others no longer hold these paths."""
    return await call(ctx, lambda h: reservations.watch(h, who(h, ctx, agent_name, token), paths, exclusive))


@tool("break_reservation", DESTRUCTIVE, needs=("break_reservations",))
async def break_reservation(
    ctx: Context, *, reservation_id: Id, reason: str, agent_name: Name = "", token: Token = "",
) -> CallToolResult:
    """End another member's reservation (leads): audited, and its holder is told why."""
    return await call(ctx, lambda h: reservations.break_one(h, who(h, ctx, agent_name, token), reservation_id,
                                                            reason))
