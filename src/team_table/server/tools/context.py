"""Tools of the shared context board: setting a key for everyone, and reading one or all."""

from __future__ import annotations

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from team_table import context
from team_table.server.tools.calls import call, who
from team_table.server.tools.params import Name, Token
from team_table.server.tools.registry import READ, WRITE, tool


@tool("share_context", WRITE, needs=("write_context", "write_others_context"))
async def share_context(
    ctx: Context, *, agent_name: Name = "", token: Token = "", key: str, value: str
) -> CallToolResult:
    """Set a key on the shared board for everyone to read. Keys 'yourname/...' are yours alone."""
    return await call(ctx, lambda h: context.share(h, who(h, ctx, agent_name, token), key, value))


@tool("get_shared_context", READ)
async def get_shared_context(
    ctx: Context, agent_name: Name = "", token: Token = "", key: str = ""
) -> CallToolResult:
    """Read one shared key, or every entry when key is left out."""
    return await call(ctx, lambda h: context.read(h, who(h, ctx, agent_name, token), key))
