"""Tools of membership: joining and leaving the table, who is at it, being alive, and catching up on return."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from team_table import catchup, members
from team_table.errors import Forbidden
from team_table.server.tools.calls import call, seat_of, who
from team_table.server.tools.params import Name, Token
from team_table.server.tools.registry import READ, WRITE, tool


@tool("register", WRITE, identity="name", unbound_only=True)
async def register(
    ctx: Context, name: Name = "", role: str = "agent",
    capabilities: Annotated[str | list[str], Field(description='e.g. ["python", "review"] (a JSON array, as a '
                                                               "list or as text)")] = "[]",
    token: Token = "",
) -> CallToolResult:
    """Join the team table once, before anything else. Returns your token: pass it to every other tool.

    Re-registering a name that is at the table needs its current token and issues a new one (the old one
    stops working)."""
    def work(h):
        bound = seat_of(ctx).binding(ctx.headers)
        if bound is not None:  # hidden from its tool list, and refused: its answer would carry the token
            raise Forbidden(f"This connection is bound to {bound.agent or 'an agent'}: register is for connections "
                            "that are not. Call the other tools without name or token; a new token comes from the "
                            f"operator (`team-table token {bound.agent or 'NAME'}`).")
        return members.register(h, name, role, capabilities, token)
    return await call(ctx, work)


@tool("deregister", WRITE, identity="name")
async def deregister(ctx: Context, name: Name = "", token: Token = "") -> CallToolResult:
    """Leave the table: your token stops working (you may register again later)."""
    return await call(ctx, lambda h: members.deregister(h, who(h, ctx, name, token)))


@tool("list_members", READ)
async def list_members(
    ctx: Context, agent_name: Name = "", token: Token = "", include_inactive: bool = False
) -> CallToolResult:
    """Who is at the table: roles, capabilities, presence (active, idle, offline), last seen."""
    return await call(ctx, lambda h: members.listing(h, include_inactive, caller=who(h, ctx, agent_name, token)))


@tool("heartbeat", WRITE, identity="name")
async def heartbeat(ctx: Context, name: Name = "", token: Token = "") -> CallToolResult:
    """Tell the table you are still working."""
    return await call(ctx, lambda h: members.heartbeat(h, who(h, ctx, name, token)))


@tool("catch_up", WRITE)
async def catch_up(ctx: Context, agent_name: Name = "", token: Token = "") -> CallToolResult:
    """Back to work? One short summary: unread messages by thread, your tasks, reviews waiting for you, what
    changed since your last catch_up, escalations, who is active."""
    return await call(ctx, lambda h: catchup.catch_up(h, who(h, ctx, agent_name, token)))
